package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// exampleName makes a segment name unique to this process.
func exampleName(s string) string { return fmt.Sprintf("example-%d-%s", os.Getpid(), s) }

func init() {
	process.Register("example-worker", func(a *process.Args) error {
		l, err := semaphore.OpenLock(a.String(0))
		if err != nil {
			return err
		}
		defer l.Close()
		l.Lock()
		defer l.Unlock()
		// ... work on what the lock guards ...
		return nil
	})
}

// A Lock made under a name in one process, opened by name in a child.
func ExampleLock() {
	name := exampleName("jobs")
	l, err := semaphore.NewLock(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Unlink()
	defer l.Close()

	l.Lock()
	p, err := process.Start("example-worker", &process.Options{Args: []any{name}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("child waits:", !p.JoinTimeout(50*time.Millisecond))
	l.Unlock()
	p.Join(context.Background())
	code, _ := p.ExitCode()
	fmt.Println("child done:", code)
	// Output:
	// child waits: true
	// child done: 0
}

// LockContext reports a holder that died: the caller holds the lock and
// should repair what it guards.
func ExampleLock_LockContext() {
	l, err := semaphore.NewLock(exampleName("ctx"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Unlink()
	defer l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	switch err := l.LockContext(ctx); {
	case errors.Is(err, semaphore.ErrOwnerDied):
		fmt.Println("previous owner died; repairing")
	case err != nil:
		fmt.Println("not acquired:", err)
		return
	}
	defer l.Unlock()
	fmt.Println("locked")
	// Output: locked
}

func ExampleRLock() {
	l, err := semaphore.NewRLock(exampleName("rlock"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Unlink()
	defer l.Close()

	l.Lock()
	l.Lock() // re-entrant for the holding goroutine
	fmt.Println("depth:", l.Depth())
	done := make(chan struct{})
	go func() {
		fmt.Println("other goroutine gets it:", l.TryLock())
		fmt.Println("other goroutine releases:", l.Release())
		close(done)
	}()
	<-done
	l.Unlock()
	l.Unlock()
	fmt.Println("locked:", l.Locked())
	// Output:
	// depth: 2
	// other goroutine gets it: false
	// other goroutine releases: semaphore: lock not held by the caller
	// locked: false
}

// A Semaphore bounding how many workers run at once.
func ExampleSemaphore() {
	s, err := semaphore.NewSemaphore(exampleName("slots"), 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Unlink()
	defer s.Close()

	ctx := context.Background()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Acquire(ctx); err != nil {
				return
			}
			defer s.Release()
			// ... at most 2 of these run at once, in all processes ...
		}()
	}
	wg.Wait()
	fmt.Println("free slots:", s.Value())

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	s.Acquire(ctx)
	s.Acquire(ctx)
	fmt.Println(s.Acquire(short))
	// Output:
	// free slots: 2
	// context deadline exceeded
}

func ExampleBoundedSemaphore() {
	s, err := semaphore.NewBoundedSemaphore(exampleName("bounded"), 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Unlink()
	defer s.Close()

	fmt.Println(s.Release())
	fmt.Println(s.TryAcquire(), s.Value())
	fmt.Println(s.Release(), s.Value())
	// Output:
	// semaphore: semaphore released too many times
	// true 0
	// <nil> 1
}

// A Condition guarding a queue length; the consumer waits with WaitFor.
func ExampleCondition() {
	c, err := semaphore.NewCondition(exampleName("cond"), nil) // nil: a new RLock
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Unlink()
	defer c.Close()

	items := 0 // in real use, shared memory guarded by c's lock
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			c.Lock()
			items++
			c.NotifyAll()
			c.Unlock()
		}
	}()
	c.Lock()
	ok, err := c.WaitFor(context.Background(), func() bool { return items == 3 })
	c.Unlock()
	fmt.Println(ok, err)
	<-done // every call returns before Close
	// Output: true <nil>
}

// A Condition can use a Lock (or an RLock) of this package, here one in
// an arena; the Condition records it, so AttachCondition attaches both.
func ExampleLocker() {
	a, err := shm.NewArena(exampleName("arena"), 1<<16, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Unlink()
	defer a.Close()
	l, _ := semaphore.NewLockIn(a)
	defer l.Close()
	c, err := semaphore.NewConditionIn(a, l)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	c2, err := semaphore.AttachCondition(c.Handle()) // as another process would
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c2.Close()
	l.Lock()
	fmt.Println(c2.Locker().(*semaphore.Lock).Locked())
	l.Unlock()
	// Output: true
}

func ExampleEvent() {
	e, err := semaphore.NewEvent(exampleName("ready"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unlink()
	defer e.Close()

	done := make(chan struct{})
	go func() { e.Set(); close(done) }()
	fmt.Println(e.Wait(context.Background()))
	<-done
	e.Clear()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(e.Wait(ctx))
	// Output:
	// true
	// false
}

func ExampleBarrier() {
	b, err := semaphore.NewBarrier(exampleName("barrier"), 3,
		semaphore.WithAction(func() error { fmt.Println("all arrived"); return nil }),
		semaphore.WithTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Unlink()
	defer b.Close()

	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Wait(context.Background()); err != nil {
				fmt.Println(err)
			}
		}()
	}
	wg.Wait()
	b.Abort()
	_, err = b.Wait(context.Background())
	fmt.Println(err)
	// Output:
	// all arrived
	// semaphore: broken barrier
}

// Options go to the constructors that take them; any other is an error.
func ExampleOption() {
	_, err := semaphore.NewLock(exampleName("opt"), semaphore.WithAction(func() error { return nil }))
	fmt.Println(err)
	l, err := semaphore.NewLock(exampleName("opt"), semaphore.WithMode(0o660))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Unlink()
	defer l.Close()
	fi, _ := os.Stat(shm.Path(l.Handle().Segment))
	fmt.Println(fi.Mode().Perm())
	// Output:
	// semaphore: invalid argument: NewLock does not take WithAction
	// -rw-rw----
}
