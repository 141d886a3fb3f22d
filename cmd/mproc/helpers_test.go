//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An objectSpec asks a child to make one object: Make names a maker in
// makers, Name the segment.
type objectSpec struct {
	Name string
	Make string
}

// makers make the objects of the tests, in whatever process runs them.
// Each returns what must stay open for the object to stay mapped.
var makers = map[string]func(name string) (io.Closer, error){
	// An arena holding two raw objects and a block whose allocator failed
	// to initialise it (so it stays incomplete).
	"arena": func(name string) (io.Closer, error) {
		a, err := shm.NewArena(name, 4096, &shm.ArenaOptions{Entries: 8})
		if err != nil {
			return nil, err
		}
		for _, text := range []string{"first", "second"} {
			if _, err := a.Alloc(shm.KindRaw, 1, 64, func(b []byte) error { copy(b, text); return nil }); err != nil {
				return nil, err
			}
		}
		if _, err := a.Alloc(shm.KindRaw, 1, 64, func([]byte) error { return io.ErrUnexpectedEOF }); err == nil {
			return nil, fmt.Errorf("a failed init allocated a complete block")
		}
		return a, nil
	},
	"raw": func(name string) (io.Closer, error) {
		return shm.CreateObject(name, shm.KindRaw, 1, 100, &shm.CreateOptions{Init: func(p []byte) error {
			copy(p, "hello, shared world")
			return nil
		}})
	},
}

func init() {
	// Makes the objects of args[0] ([]objectSpec), writes "ok" to fd 3,
	// then waits until fd 4 reaches EOF (or the parent kills it).
	process.Register("cmdtest-make", func(a *process.Args) error {
		var specs []objectSpec
		if err := a.Decode(0, &specs); err != nil {
			return err
		}
		for _, s := range specs {
			mk, ok := makers[s.Make]
			if !ok {
				return fmt.Errorf("no maker %q", s.Make)
			}
			if _, err := mk(s.Name); err != nil {
				return fmt.Errorf("%s %s: %w", s.Make, s.Name, err)
			}
		}
		if _, err := a.File(0).Write([]byte("ok")); err != nil {
			return err
		}
		var b [1]byte
		_, _ = a.File(1).Read(b[:])
		return nil
	})
}

// child is a process holding objects.
type child struct {
	p       *process.Process
	release *os.File
}

// startMaker starts a child that makes specs and holds them; it returns
// once they all exist.
func startMaker(t *testing.T, specs ...objectSpec) *child {
	t.Helper()
	ready, readyW, err := os.Pipe()
	require.NoError(t, err)
	holdR, hold, err := os.Pipe()
	require.NoError(t, err)
	var stderr safeBuffer
	p, err := process.Start("cmdtest-make", &process.Options{
		Args: []any{specs}, Files: []*os.File{readyW, holdR}, Stderr: &stderr,
	})
	require.NoError(t, err)
	readyW.Close()
	holdR.Close()
	var b [2]byte
	_, err = io.ReadFull(ready, b[:])
	ready.Close()
	if err != nil {
		_ = p.Join(t.Context())
		t.Fatalf("child did not make its objects: %s", stderr.String())
	}
	c := &child{p: p, release: hold}
	t.Cleanup(func() { hold.Close(); _ = p.Kill(); _ = p.Join(t.Context()) })
	return c
}

// kill SIGKILLs the child and waits for it: its objects stay behind.
func (c *child) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.p.Kill())
	_ = c.p.Join(t.Context())
	code, done := c.p.ExitCode()
	require.True(t, done)
	require.Equal(t, -9, code)
}

// make makes an object in this process and closes it with the test.
func makeHere(t *testing.T, kind, name string) {
	t.Helper()
	c, err := makers[kind](name)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
}

// jsonOf decodes out as JSON into a value of type T.
func jsonOf[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	return v
}

func init() {
	makers["lock-held"] = func(name string) (io.Closer, error) {
		l, err := semaphore.NewLock(name)
		if err != nil {
			return nil, err
		}
		l.Lock()
		return l, nil
	}
	makers["rlock-held-twice"] = func(name string) (io.Closer, error) {
		l, err := semaphore.NewRLock(name)
		if err != nil {
			return nil, err
		}
		l.Lock()
		l.Lock()
		return l, nil
	}
	makers["bounded-2-of-3"] = func(name string) (io.Closer, error) {
		s, err := semaphore.NewBoundedSemaphore(name, 3)
		if err != nil {
			return nil, err
		}
		if !s.TryAcquire() {
			return nil, fmt.Errorf("no permit")
		}
		return s, nil
	}
	makers["event-set"] = func(name string) (io.Closer, error) {
		e, err := semaphore.NewEvent(name)
		if err != nil {
			return nil, err
		}
		e.Set()
		return e, nil
	}
	// A barrier of 3 parties with one waiting in it.
	makers["barrier-1-of-3"] = func(name string) (io.Closer, error) {
		b, err := semaphore.NewBarrier(name, 3)
		if err != nil {
			return nil, err
		}
		go func() { _, _ = b.Wait(context.Background()) }()
		return b, waitUntil(func() bool { return b.NWaiting() == 1 })
	}
	// A condition (on a Lock of its own) with one goroutine waiting.
	makers["condition-waited"] = func(name string) (io.Closer, error) {
		l, err := semaphore.NewLock(name + ".lock")
		if err != nil {
			return nil, err
		}
		c, err := semaphore.NewCondition(name, l)
		if err != nil {
			return nil, err
		}
		go func() {
			c.Lock()
			_, _ = c.Wait(context.Background())
		}()
		r, err := shm.Attach(c.Handle(), 0)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return c, waitUntil(func() bool {
			st, err := semaphore.Inspect(r)
			return err == nil && len(st.Condition.Waiters) == 1 && st.Condition.Waiters[0].Sleeping
		})
	}
	// An arena holding a held lock, a set event and a raw object.
	makers["arena-of-primitives"] = func(name string) (io.Closer, error) {
		a, err := shm.NewArena(name, 4096, &shm.ArenaOptions{Entries: 8})
		if err != nil {
			return nil, err
		}
		l, err := semaphore.NewLockIn(a)
		if err != nil {
			return nil, err
		}
		l.Lock()
		e, err := semaphore.NewEventIn(a)
		if err != nil {
			return nil, err
		}
		e.Set()
		if _, err := a.Alloc(shm.KindRaw, 1, 16, func(b []byte) error { copy(b, "raw bytes"); return nil }); err != nil {
			return nil, err
		}
		return a, nil
	}
	makers["value-float"] = func(name string) (io.Closer, error) {
		return ctypes.NewValue(name, 2.5, nil)
	}
	makers["array-ints"] = func(name string) (io.Closer, error) {
		return ctypes.NewArrayTypecode(name, 'i', []int32{1, -2, 3}, nil)
	}
	makers["array-chars"] = func(name string) (io.Closer, error) {
		return ctypes.NewRawArrayTypecode(name, 'c', "hello", nil)
	}
	makers["array-points"] = func(name string) (io.Closer, error) {
		type point struct{ X, Y int32 }
		return ctypes.NewRawArrayFrom(name, []point{{1, 2}, {3, 4}}, nil)
	}
	// A queue of 8 items at most, holding 4.
	makers["queue-half"] = func(name string) (io.Closer, error) {
		cfg := queue.DefaultConfig[string]()
		cfg.Capacity, cfg.MaxSize = 4096, 8
		q, err := queue.New(name, cfg)
		if err != nil {
			return nil, err
		}
		for i := range 4 {
			if err := q.PutNowait(fmt.Sprintf("job %d", i)); err != nil {
				return nil, err
			}
		}
		return closerFunc(q.Detach), nil
	}
	// A queue holding one item too large for its ring, in a blob segment.
	makers["queue-blob"] = func(name string) (io.Closer, error) {
		cfg := queue.DefaultConfig[[]byte]()
		cfg.Capacity, cfg.MaxInline = 4096, 64
		q, err := queue.New(name, cfg)
		if err != nil {
			return nil, err
		}
		if err := q.PutNowait(make([]byte, 1000)); err != nil {
			return nil, err
		}
		return closerFunc(q.Detach), nil
	}
}

// closerFunc makes a func an io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// waitUntil polls cond until it holds (bounded: an error after 10 s).
func waitUntil(cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// checkDeadChildState checks what inspect shows of the killed child's
// lock and queue.
func checkDeadChildState(t *testing.T, lock, q string, deadPid int32) {
	r := mproc(t, "inspect", lock)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "creator    "+pidState(deadPid, false)+"\n")
	assert.Contains(t, r.stdout, "state:\n  locked            yes\n  owner             "+pidState(deadPid, false)+"\n")

	r = mproc(t, "inspect", q)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "creator    "+pidState(deadPid, false)+"\n")
	assert.Contains(t, r.stdout, "state:\n  length             4\n  max size           8\n")
}
