package pipe_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
)

// Processes die: a peer SIGKILLed in the middle of a message.

const killedMessage = 32 << 20 // far larger than the socket buffers

func init() {
	// pipe-killed-writer says "started", then sends one message of
	// killedMessage bytes, which blocks once the socket buffer is full:
	// the parent kills it there.
	process.Register("pipe-killed-writer", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		a.File(0).Close()
		if err := c.SendBytes([]byte("started")); err != nil {
			return err
		}
		return c.SendBytes(pattern(killedMessage, 5))
	})
	// pipe-killed-reader says "started" and then reads nothing, until the
	// parent kills it.
	process.Register("pipe-killed-reader", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		a.File(0).Close()
		if err := c.SendBytes([]byte("started")); err != nil {
			return err
		}
		select {}
	})
}

// startKillable starts child with the far end of a duplex pipe and waits
// for its "started".
func startKillable(t *testing.T, child string) (*pipe.Conn, *process.Process) {
	t.Helper()
	a, b, err := pipe.Pipe(true)
	must(t, err)
	t.Cleanup(func() { a.Close() })
	f, err := b.File()
	must(t, err)
	p, err := process.Start(child, &process.Options{Files: []*os.File{f}})
	must(t, err)
	t.Cleanup(func() { p.Kill(); p.JoinTimeout(10 * time.Second) })
	f.Close()
	b.Close()
	m, err := a.RecvBytes(0)
	must(t, err)
	if string(m) != "started" {
		t.Fatalf("child said %q", m)
	}
	return a, p
}

// TestPeerKilledMidMessage: the writer is SIGKILLed with part of a 32 MiB
// message sent. The survivor's receive ends with io.ErrUnexpectedEOF —
// never a hang, never a short message passed off as whole — and so does
// every later one; the connection still closes cleanly.
func TestPeerKilledMidMessage(t *testing.T) {
	a, p := startKillable(t, "pipe-killed-writer")
	// The message has begun once its first bytes are readable.
	ok, err := a.Poll(10 * time.Second)
	must(t, err)
	if !ok {
		t.Fatal("the child sent nothing of its message within 10 s")
	}
	must(t, p.Signal(syscall.SIGKILL))
	if !p.JoinTimeout(10 * time.Second) {
		t.Fatal("the killed child has not exited after 10 s")
	}
	if code, _ := p.ExitCode(); code != -int(syscall.SIGKILL) {
		t.Fatalf("child exit code %d, want -%d", code, syscall.SIGKILL)
	}
	m, err := a.RecvBytes(0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("receive after the writer died mid-message: %d bytes, %v; want io.ErrUnexpectedEOF", len(m), err)
	}
	if m != nil {
		t.Fatalf("a cut message was returned (%d bytes)", len(m))
	}
	if want := fmt.Sprintf("of %d bytes", killedMessage); !strings.Contains(err.Error(), want) {
		t.Errorf("the error does not give the message's size (%q): %v", want, err)
	}
	// The stream cannot be resynchronised after a cut message: receiving
	// stays failed, with the same error (documented at RecvBytes).
	if _, err := a.RecvBytes(0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("next receive: %v, want io.ErrUnexpectedEOF again", err)
	}
	must(t, a.Close())
}

// TestReaderKilledMidSend: the reader is SIGKILLed while this process is
// blocked sending it a 32 MiB message. The send returns an error (the
// peer is gone, EPIPE or ECONNRESET) instead of blocking for good or
// killing this process with SIGPIPE.
func TestReaderKilledMidSend(t *testing.T) {
	a, p := startKillable(t, "pipe-killed-reader")
	done := make(chan error, 1)
	go func() { done <- a.SendBytes(pattern(killedMessage, 7)) }()
	// The send blocks once the socket buffers are full; kill the reader
	// whether or not it has got there (the result must be the same).
	must(t, p.Signal(syscall.SIGKILL))
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a 32 MiB send to a killed reader succeeded")
		}
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("send to a killed reader: %v, want EPIPE or ECONNRESET", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a send to a killed reader still blocks after 20 s")
	}
	must(t, a.Close())
}
