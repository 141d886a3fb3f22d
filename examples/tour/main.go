// Command tour is the README's five-minute tour of mproc: a worker fleet of
// OS processes sharing a job queue, a locked total and an event in shared
// memory, reporting through a pipe, with one process SIGKILLed while it
// holds the lock.
//
//	go run ./examples/tour
//
// The parent creates the shared objects under names, starts a "crasher"
// that takes the total's lock and is then SIGKILLed, and three workers
// that open the objects by name, take jobs from the queue, add them to
// the total under its lock (taking it over from the dead crasher) and
// send their own counts back through a pipe. The parent checks that
// every job was counted exactly once.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/semaphore"
)

// Job is a queue item: a fixed-size, pointer-free struct, copied into the
// ring as bytes.
type Job struct {
	ID, N int64
}

// Report is what a worker sends back through its pipe (pickled, as
// Python's Connection.send does).
type Report struct {
	Worker int   `pickle:"worker"`
	Jobs   int   `pickle:"jobs"`
	Sum    int64 `pickle:"sum"`
}

func init() {
	process.Register("worker", worker)
	process.Register("crasher", crasher)
}

// worker takes jobs until the queue is closed and drained.
func worker(a *process.Args) error {
	prefix, id := a.String(0), a.Int(1)
	out, err := pipe.FromFile(a.File(0)) // the write end of a one-way pipe
	if err != nil {
		return err
	}
	defer out.Close()
	jobs, err := queue.Open[Job](prefix+"-jobs", nil)
	if err != nil {
		return err
	}
	defer jobs.Detach()
	total, err := ctypes.OpenValue[int64](prefix + "-total")
	if err != nil {
		return err
	}
	defer total.Close()

	r := Report{Worker: id}
	ctx := context.Background()
	for {
		j, err := jobs.Get(ctx)
		if errors.Is(err, queue.ErrClosed) { // closed, and nothing left
			return out.Send(r)
		}
		if err != nil {
			return err
		}
		err = total.Do(func(p *int64) error {
			if total.Inconsistent() {
				// The crasher died holding the lock. It changed
				// nothing, so the value is fine as it is.
				fmt.Printf("worker %d: took the lock over from a dead holder\n", id)
				total.MarkConsistent()
			}
			*p += j.N
			return nil
		})
		if err != nil && !errors.Is(err, ctypes.ErrOwnerDied) {
			return err
		}
		r.Jobs++
		r.Sum += j.N
	}
}

// crasher takes the total's lock, says so, and waits to be killed.
func crasher(a *process.Args) error {
	prefix := a.String(0)
	total, err := ctypes.OpenValue[int64](prefix + "-total")
	if err != nil {
		return err
	}
	held, err := semaphore.OpenEvent(prefix + "-held")
	if err != nil {
		return err
	}
	total.GetLock().Lock()
	held.Set()
	select {} // SIGKILLed here, holding the lock
}

func main() {
	process.Main() // in a child: run the registered function and exit
	if err := run(3, 10_000); err != nil {
		log.Fatal(err)
	}
}

func run(workers, njobs int) error {
	ctx := context.Background()
	prefix := fmt.Sprintf("tour-%d", os.Getpid())

	// The shared objects, each a named segment under /dev/shm.
	jobs, err := queue.New[Job](prefix+"-jobs", nil)
	if err != nil {
		return err
	}
	defer jobs.Unlink()
	defer jobs.Detach()
	total, err := ctypes.NewValue[int64](prefix+"-total", 0, nil) // guarded by a new RLock, as in Python
	if err != nil {
		return err
	}
	defer total.Unlink()
	defer total.Close()
	held, err := semaphore.NewEvent(prefix + "-held")
	if err != nil {
		return err
	}
	defer held.Unlink()
	defer held.Close()

	// A process that dies holding the lock.
	c, err := process.Start("crasher", &process.Options{Args: []any{prefix}})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !held.Wait(wctx) {
		return errors.New("the crasher never took the lock")
	}
	c.Kill()
	_ = c.Join(ctx)
	code, _ := c.ExitCode()
	fmt.Printf("crasher (pid %d) killed while holding the lock: exit code %d\n", c.Pid(), code)

	// The workers, each with a one-way pipe back to us.
	var ps []*process.Process
	var reads []*pipe.Conn
	for i := range workers {
		r, w, err := pipe.Pipe(false)
		if err != nil {
			return err
		}
		wf, err := w.File()
		if err != nil {
			return err
		}
		p, err := process.Start("worker", &process.Options{Args: []any{prefix, i}, Files: []*os.File{wf}})
		wf.Close()
		w.Close()
		if err != nil {
			return err
		}
		ps, reads = append(ps, p), append(reads, r)
	}

	var want int64
	for i := range njobs {
		j := Job{ID: int64(i), N: int64(i%7 + 1)}
		want += j.N
		if err := jobs.Put(ctx, j); err != nil {
			return err
		}
	}
	jobs.Close() // no more puts: workers drain the queue, then stop

	var jobsDone int
	for _, r := range reads {
		var rep Report
		if err := r.Recv(&rep); err != nil {
			return err
		}
		r.Close()
		fmt.Printf("worker %d: %d jobs, sum %d\n", rep.Worker, rep.Jobs, rep.Sum)
		jobsDone += rep.Jobs
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			return err
		}
		if code, _ := p.ExitCode(); code != 0 {
			return fmt.Errorf("%s exited %d", p.Name(), code)
		}
	}
	got, err := total.Get()
	if err != nil && !errors.Is(err, ctypes.ErrOwnerDied) {
		return err
	}
	fmt.Printf("total = %d (want %d), jobs = %d (want %d)\n", got, want, jobsDone, njobs)
	if got != want || jobsDone != njobs {
		return errors.New("lost or duplicated work")
	}
	return nil
}
