//go:build linux

package manager

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mproc/mproc/pipe"
)

// wirePair returns two connected wireConns (a socketpair), closed at the
// end of the test.
func wirePair(t *testing.T, maxMsg int64) (*wireConn, *wireConn) {
	t.Helper()
	cfg := pipe.DefaultConfig()
	cfg.ReadBufferSize = 0
	a, b, err := cfg.Pipe(true)
	if err != nil {
		t.Fatal(err)
	}
	wa, err := newWireConn(a, maxMsg)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := newWireConn(b, maxMsg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wa.close(); wb.close() })
	return wa, wb
}

// payload returns n bytes that differ from message to message.
func payload(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// TestWireConnMessages sends messages of every size class (empty, within
// the read buffer, across it, larger than the held-write batch, several
// MiB), batched with add and one at a time with send, and checks each
// arrives whole and in order; then again with every receive going through
// the netpoller (as when too many threads block in reads).
func TestWireConnMessages(t *testing.T) {
	sizes := []int{0, 1, 100, wireReadBuffer - 4, wireReadBuffer, wireReadBuffer + 1, maxHeldWrite + 1, 3 << 20}
	run := func(t *testing.T) {
		a, b := wirePair(t, 8<<20)
		errc := make(chan error, 1)
		go func() {
			for i, n := range sizes {
				if err := a.add(payload(n, i)); err != nil {
					errc <- err
					return
				}
			}
			if err := a.flush(); err != nil {
				errc <- err
				return
			}
			for i, n := range sizes {
				if err := a.send(payload(n, 100+i)); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for round, seed := range []int{0, 100} {
			for i, n := range sizes {
				got, err := b.recv()
				if err != nil {
					t.Fatalf("round %d message %d (%d bytes): %v", round, i, n, err)
				}
				if !bytes.Equal(got, payload(n, seed+i)) {
					t.Fatalf("round %d message %d: got %d bytes, not the %d sent", round, i, len(got), n)
				}
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if b.buffered() {
			t.Error("bytes left in the read buffer")
		}
	}
	t.Run("direct", run)
	t.Run("netpoller", func(t *testing.T) {
		old := maxDirectReaders
		maxDirectReaders = 0
		defer func() { maxDirectReaders = old }()
		run(t)
	})
}

// TestWireConnIdle checks a receive that waits longer than directWait (it
// moves to the netpoller) still gets its message, and that the next one
// goes back to a direct read.
func TestWireConnIdle(t *testing.T) {
	a, b := wirePair(t, 1<<20)
	go func() {
		for i := range 2 {
			time.Sleep(3 * directWait) // the receive must outlast directWait
			a.send(payload(10, i))
		}
	}()
	for i := range 2 {
		got, err := b.recv()
		if err != nil || !bytes.Equal(got, payload(10, i)) {
			t.Fatalf("message %d after an idle wait: %v %v", i, got, err)
		}
	}
}

// TestWireConnDeadline checks that a deadline ends a receive with
// os.ErrDeadlineExceeded, near the deadline, for deadlines shorter and
// longer than directWait, and that the connection works afterwards.
func TestWireConnDeadline(t *testing.T) {
	a, b := wirePair(t, 1<<20)
	for _, d := range []time.Duration{5 * time.Millisecond, 3 * directWait} {
		start := time.Now()
		b.setDeadline(start.Add(d))
		_, err := b.recv()
		took := time.Since(start)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("deadline %v: %v", d, err)
		}
		if took < d || took > d+directWait+time.Second {
			t.Errorf("deadline %v: the receive returned after %v", d, took)
		}
	}
	b.setDeadline(time.Time{})
	if err := a.send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	got, err := b.recv()
	if err != nil || string(got) != "after" {
		t.Fatalf("receive after deadlines: %q %v", got, err)
	}
	b.setDeadline(time.Now().Add(-time.Second))
	if err := b.send([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) && err != nil {
		t.Fatalf("send past the deadline: %v", err)
	}
}

// TestWireConnClose closes a connection while a receive blocks in it, in a
// direct read and in the netpoller: the receive returns net.ErrClosed at
// once, and later calls fail the same way.
func TestWireConnClose(t *testing.T) {
	for _, wait := range []time.Duration{0, 3 * directWait} {
		t.Run(fmt.Sprint(wait), func(t *testing.T) {
			_, b := wirePair(t, 1<<20)
			errc := make(chan error, 1)
			go func() {
				_, err := b.recv()
				errc <- err
			}()
			time.Sleep(wait) // let the receive block (and, for 60 ms, move to the netpoller)
			start := time.Now()
			b.close()
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked receive after close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("close did not end the blocked receive")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the receive took %v to end", d)
			}
			b.close() // idempotent
			if _, err := b.recv(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("receive after close: %v", err)
			}
			if err := b.send(nil); !errors.Is(err, net.ErrClosed) {
				t.Errorf("send after close: %v", err)
			}
		})
	}
}

// TestWireConnBadFrames checks the end of the stream between and inside
// messages, and a frame longer than the limit.
func TestWireConnBadFrames(t *testing.T) {
	a, b := wirePair(t, 1000)
	a.send([]byte("whole"))
	a.write([]byte{0, 0, 0, 10, 'x'}, nil) // 10 bytes announced, 1 sent
	a.close()
	if got, err := b.recv(); err != nil || string(got) != "whole" {
		t.Fatalf("first message: %q %v", got, err)
	}
	if _, err := b.recv(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut message: %v", err)
	}

	a, b = wirePair(t, 1000)
	a.close()
	if _, err := b.recv(); err != io.EOF {
		t.Fatalf("end of stream between messages: %v", err)
	}

	a, b = wirePair(t, 1000)
	go a.send(make([]byte, 2000))
	if _, err := b.recv(); !errors.Is(err, errMessageTooLarge) {
		t.Fatalf("long message: %v", err)
	}
	a, b = wirePair(t, 1000)
	a.write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0}, nil) // long form, 4 GiB
	if _, err := b.recv(); !errors.Is(err, errMessageTooLarge) {
		t.Fatalf("long-form length: %v", err)
	}
	a, b = wirePair(t, 1000)
	a.write([]byte{0xff, 0xff, 0xff, 0xf0}, nil)
	if _, err := b.recv(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("negative length: %v", err)
	}
}
