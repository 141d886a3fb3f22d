package semaphore_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// testTimeout bounds every wait in these tests: a broken primitive fails
// the test instead of hanging it.
const testTimeout = 20 * time.Second

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// segName returns a segment name unique to this test and process, and
// removes the segment (and a condition's lock) when the test ends.
func segName(t testing.TB, suffix ...string) string {
	n := fmt.Sprintf("test-%d-%s", os.Getpid(), unsafeChars.ReplaceAllString(t.Name(), "_"))
	for _, s := range suffix {
		n += "-" + s
	}
	t.Cleanup(func() {
		_ = shm.Unlink(n)
		_ = shm.Unlink(n + ".lock")
	})
	return n
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// start runs the registered child fn; the test kills it if it is still
// running at the end.
func start(t testing.TB, fn string, args ...any) *process.Process {
	t.Helper()
	p, err := process.Start(fn, &process.Options{Args: args})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = p.Kill()
		p.JoinTimeout(testTimeout)
	})
	return p
}

// join waits for p and returns its exit code.
func join(t testing.TB, p *process.Process) int {
	t.Helper()
	require.NoError(t, p.Join(ctxTimeout(t, testTimeout)), "child %s did not exit", p.Name())
	code, done := p.ExitCode()
	require.True(t, done)
	return code
}

// counter is a few words of raw shared memory that tests and children
// count in.
type counter struct {
	r *shm.Region
}

func newCounter(t testing.TB, name string) *counter {
	r, err := shm.CreateObject(name, shm.KindRaw, 1, 64*8, nil)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return &counter{r}
}

func openCounter(name string) (*counter, error) {
	r, err := shm.OpenObject(name, shm.KindRaw, 1, 64*8)
	if err != nil {
		return nil, err
	}
	return &counter{r}, nil
}

// word returns word i (0..63).
func (c *counter) word(i int) *uint64 { return shm.Uint64(c.r.Bytes(), 8*i) }

func (c *counter) load(i int) uint64 { return atomic.LoadUint64(c.word(i)) }

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for pause := 50 * time.Microsecond; !cond(); pause = min(2*pause, 5*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pause)
	}
}

// locker opens a lock of the given kind by name, for children.
func openLocker(kind, name string) (sync.Locker, func() error, error) {
	switch kind {
	case "lock":
		l, err := semaphore.OpenLock(name)
		if err != nil {
			return nil, nil, err
		}
		return l, l.Close, nil
	case "rlock":
		l, err := semaphore.OpenRLock(name)
		if err != nil {
			return nil, nil, err
		}
		return l, l.Close, nil
	case "sem":
		s, err := semaphore.OpenSemaphore(name)
		if err != nil {
			return nil, nil, err
		}
		return semLocker{s}, s.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown lock kind %q", kind)
}

// semLocker uses a Semaphore(1) as a sync.Locker.
type semLocker struct{ s *semaphore.Semaphore }

func (l semLocker) Lock() {
	if err := l.s.Acquire(context.Background()); err != nil {
		panic(err)
	}
}

func (l semLocker) Unlock() {
	if err := l.s.Release(); err != nil {
		panic(err)
	}
}

// increment adds 1 to *w the racy way (a load and a store), so that only
// mutual exclusion keeps the count exact.
func increment(w *uint64) {
	atomic.StoreUint64(w, atomic.LoadUint64(w)+1)
}

// countLoop runs goroutines goroutines, each incrementing word 0 of the
// counter iters times under l.
func countLoop(l sync.Locker, c *counter, goroutines, iters int) {
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range iters {
				l.Lock()
				increment(c.word(0))
				l.Unlock()
			}
		}()
	}
	wg.Wait()
}

func init() {
	process.Register("count", childCount)
	process.Register("count-sleepy", childCountSleepy)
	process.Register("hold", childHold)
	process.Register("lock-try", childLockTry)
	process.Register("lock-release", childLockRelease)
	process.Register("lock-wait", childLockWait)
}

// childCount: args kind, lock name, counter name, goroutines, iterations.
// It adds 1 to counter word 2 (ready), then waits for counter word 1 (the
// start gun) to become non-zero.
func childCount(a *process.Args) error { return runCounter(a, countLoop) }

// childCountSleepy is childCount with spinning off and the periodic check
// an hour away (see TestLockNoLostWakeups).
func childCountSleepy(a *process.Args) error {
	semaphore.SetSpin(0, 0)
	semaphore.SetCheckInterval(time.Hour)
	return runCounter(a, sleepyLoop)
}

// runCounter is the body of childCount and childCountSleepy: open the lock
// and the counter, report ready, wait for the start, run loop.
func runCounter(a *process.Args, loop func(l sync.Locker, c *counter, goroutines, iters int)) error {
	l, closeFn, err := openLocker(a.String(0), a.String(1))
	if err != nil {
		return err
	}
	defer closeFn()
	c, err := openCounter(a.String(2))
	if err != nil {
		return err
	}
	atomic.AddUint64(c.word(2), 1) // ready
	for atomic.LoadUint64(c.word(1)) == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	loop(l, c, a.Int(3), a.Int(4))
	return nil
}

// sleepyLoop is countLoop with a yield inside every fourth critical
// section, so that the other goroutines of the process find the lock held
// and, with spinning off, sleep.
func sleepyLoop(l sync.Locker, c *counter, goroutines, iters int) {
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iters {
				l.Lock()
				increment(c.word(0))
				if i%4 == 0 {
					runtime.Gosched()
				}
				l.Unlock()
			}
		}()
	}
	wg.Wait()
}

// childHold: args kind, lock name, depth, counter name. It acquires the
// lock depth times (an RLock re-entrantly), counts itself in counter word
// 0, and blocks until killed.
func childHold(a *process.Args) error {
	c, err := openCounter(a.String(3))
	if err != nil {
		return err
	}
	switch a.String(0) {
	case "lock":
		l, err := semaphore.OpenLock(a.String(1))
		if err != nil {
			return err
		}
		l.Lock()
	case "rlock":
		l, err := semaphore.OpenRLock(a.String(1))
		if err != nil {
			return err
		}
		for range a.Int(2) {
			l.Lock()
		}
		if l.Depth() != a.Int(2) {
			return fmt.Errorf("depth %d, want %d", l.Depth(), a.Int(2))
		}
	case "sem":
		s, err := semaphore.OpenSemaphore(a.String(1))
		if err != nil {
			return err
		}
		if err := s.Acquire(context.Background()); err != nil {
			return err
		}
	}
	atomic.AddUint64(c.word(0), 1)
	time.Sleep(time.Hour)
	return nil
}

// childLockTry: args kind, name. Exit 0 if TryLock failed, 3 if it
// succeeded.
func childLockTry(a *process.Args) error {
	var ok bool
	switch a.String(0) {
	case "lock":
		l, err := semaphore.OpenLock(a.String(1))
		if err != nil {
			return err
		}
		ok = l.TryLock()
	case "rlock":
		l, err := semaphore.OpenRLock(a.String(1))
		if err != nil {
			return err
		}
		ok = l.TryLock()
	}
	if ok {
		os.Exit(3)
	}
	return nil
}

// childLockRelease: args kind, name. Exit 0 if the release succeeded, 4 if
// it reported ErrNotLocked, 5 for ErrNotOwner.
func childLockRelease(a *process.Args) error {
	var err error
	switch a.String(0) {
	case "lock":
		l, e := semaphore.OpenLock(a.String(1))
		if e != nil {
			return e
		}
		err = l.Release()
	case "rlock":
		l, e := semaphore.OpenRLock(a.String(1))
		if e != nil {
			return e
		}
		err = l.Release()
	}
	switch err {
	case semaphore.ErrNotLocked:
		os.Exit(4)
	case semaphore.ErrNotOwner:
		os.Exit(5)
	}
	return err
}

// childLockWait: args kind, name, counter name. It adds 1 to counter word
// 0, locks (blocking), records in word 2 whether the lock was taken over
// (1) or not (2), and exits.
func childLockWait(a *process.Args) error {
	c, err := openCounter(a.String(2))
	if err != nil {
		return err
	}
	atomic.AddUint64(c.word(0), 1)
	var died bool
	switch a.String(0) {
	case "lock":
		l, err := semaphore.OpenLock(a.String(1))
		if err != nil {
			return err
		}
		l.Lock()
		died = l.OwnerDied()
		l.Unlock()
	case "rlock":
		l, err := semaphore.OpenRLock(a.String(1))
		if err != nil {
			return err
		}
		l.Lock()
		died = l.OwnerDied()
		l.Unlock()
	}
	v := uint64(2)
	if died {
		v = 1
	}
	atomic.StoreUint64(c.word(2), v)
	return nil
}

// registerOnce registers a child that attaches by handle (argument 0) and
// exits with f's result.
func registerOnce(name string, f func(h shm.Handle) int) {
	process.Register(name, func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		os.Exit(f(h))
		return nil
	})
}

// errExit makes a child exit with code c (process.Args functions return an
// error for 1 only).
func errExit(c int) error {
	os.Exit(c)
	return nil
}
