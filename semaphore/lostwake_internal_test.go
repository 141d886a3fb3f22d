package semaphore

import (
	"context"
	"errors"
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestLostCancelWakeBounded: a cancellation wakes sleepers with a futex
// wake from context.AfterFunc, which is lost if it lands between the
// sleeper's last look at ctx and its futex wait. The hook cancels ctx in
// exactly that window and waits until the wake is done; the sleep must
// still end within a check interval, whatever ctx's deadline: here a far
// one (an hour), and a huge one (math.MaxInt64, which futex.DeadlineIn
// saturates) — before, only a sleep without a deadline was bounded.
func TestLostCancelWakeBounded(t *testing.T) {
	name := "semi-lostwake-" + strconv.Itoa(os.Getpid())
	e, err := NewEvent(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Unlink(); e.Close() })
	for _, d := range []time.Duration{time.Hour, math.MaxInt64} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		testHookSleep = func(s *sleeper) {
			testHookSleep = nil
			cancel()
			<-s.woken // the cancellation wake is over: lost for this sleep
		}
		done := make(chan bool, 1)
		go func() { done <- e.Wait(ctx) }()
		select {
		case set := <-done:
			if set {
				t.Fatalf("timeout %v: Wait reported the flag set", d)
			}
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Fatalf("timeout %v: ctx.Err() = %v", d, ctx.Err())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timeout %v: Wait still sleeps 10 s after its context was cancelled", d)
		}
		testHookSleep = nil
		cancel()
	}
}
