package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
)

// A team is the child processes of one repetition of a cross-process
// figure, and the shared control block that starts and stops the clock
// for all of them at once. Start-up (exec, attaching, opening objects) is
// outside the measured time, as it is in the Python scripts, which use a
// Barrier and a Semaphore for the same purpose.
//
// Control block (one shm segment, kind KindRaw), each word on its own
// cache line:
//
//	offset size word   written by / states
//	     0    4 ready  each child, +1 once it is set up; the parent waits
//	                   (futex) until it equals the team size
//	    64    4 start  parent: 0, then 1 when the clock starts; children
//	                   wait (futex) while it is 0
//	   128    4 done   each child, +1 when its work is finished; the
//	                   parent waits until it equals the team size and
//	                   stops the clock
//	   192   64 (zero)
//	   256    … user   figure-specific words (spin and futex ping-pong
//	                   words, counters), zero-initialised
const (
	ctrlReady = 0
	ctrlStart = 64
	ctrlDone  = 128
	ctrlUser  = 256
)

// teamSeq numbers this process's control segments.
var teamSeq atomic.Uint64

// segName returns a segment name unique to this process.
func segName(what string) string {
	return fmt.Sprintf("bench-%d-%s-%d", os.Getpid(), what, teamSeq.Add(1))
}

type team struct {
	ctrl   *shm.Region
	procs  []*process.Process
	stderr []*bytes.Buffer
	n      int
}

// startTeam creates a control block with userSize bytes of user words and
// starts n children running the function registered (with registerChild)
// as fn. Child i gets the control handle, its index and args.
func startTeam(fn string, n, userSize int, args ...any) (*team, error) {
	return startTeamFiles(fn, n, userSize, nil, args...)
}

// startTeamFiles is startTeam with files every child inherits (see
// process.Options.Files).
func startTeamFiles(fn string, n, userSize int, files []*os.File, args ...any) (*team, error) {
	perChild := make([][]any, n)
	for i := range perChild {
		perChild[i] = args
	}
	return startTeamArgs(fn, userSize, files, perChild)
}

// startTeamArgs starts one child per entry of perChild, child i getting
// the control handle, i and perChild[i] (producers and consumers of one
// team, say).
func startTeamArgs(fn string, userSize int, files []*os.File, perChild [][]any) (*team, error) {
	ctrl, err := shm.CreateObject(segName("team"), shm.KindRaw, 1, ctrlUser+max(userSize, 64), nil)
	if err != nil {
		return nil, err
	}
	t := &team{ctrl: ctrl, n: len(perChild)}
	for i, args := range perChild {
		var buf bytes.Buffer
		p, err := process.Start(fn, &process.Options{
			Args:   append([]any{ctrl.Handle(), i}, args...),
			Files:  files,
			Daemon: true,
			Stderr: &buf,
		})
		if err != nil {
			t.close()
			return nil, err
		}
		t.procs = append(t.procs, p)
		t.stderr = append(t.stderr, &buf)
	}
	return t, nil
}

// user returns the user words of the control block.
func (t *team) user() []byte { return t.ctrl.Bytes()[ctrlUser:] }

func (t *team) word(off int) *uint32 { return shm.Uint32(t.ctrl.Bytes(), off) }

// await waits until the counter at off reaches t.n, failing early if a
// child exits with an error or ctx ends.
func (t *team) await(ctx context.Context, off int) error {
	w := t.word(off)
	for {
		v := atomic.LoadUint32(w)
		if int(v) >= t.n {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for %d children (%d there): %w", t.n, v, err)
		}
		if err := t.failed(); err != nil {
			return err
		}
		_ = futex.Wait(w, v, futex.DeadlineIn(20*time.Millisecond))
	}
}

// failed returns an error if a child has exited before its team finished.
func (t *team) failed() error {
	for i, p := range t.procs {
		if code, done := p.ExitCode(); done && code != 0 {
			p.Join(context.Background()) // the stderr copy is complete after Join
			return fmt.Errorf("child %d exited %d: %s", i, code, strings.TrimSpace(t.stderr[i].String()))
		}
	}
	return nil
}

// abort returns a check for the parent's own waiting loops: true once ctx
// is done or a child has failed, so that a dead partner ends a repetition
// instead of leaving the parent spinning.
func (t *team) abort(ctx context.Context) func() bool {
	return func() bool { return ctx.Err() != nil || t.failed() != nil }
}

// why explains an abort.
func (t *team) why(ctx context.Context) error {
	if err := t.failed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("aborted")
}

// ready waits until every child is set up.
func (t *team) ready(ctx context.Context) error { return t.await(ctx, ctrlReady) }

// start releases the children; call it right after reading the clock.
func (t *team) start() {
	atomic.StoreUint32(t.word(ctrlStart), 1)
	futex.Wake(t.word(ctrlStart), -1)
}

// wait waits until every child has finished its work.
func (t *team) wait(ctx context.Context) error { return t.await(ctx, ctrlDone) }

// join waits for the children to exit and reports the first failure.
func (t *team) join(ctx context.Context) error {
	var errs []error
	for i, p := range t.procs {
		if err := p.Join(ctx); err != nil {
			return err
		}
		if code, _ := p.ExitCode(); code != 0 {
			errs = append(errs, fmt.Errorf("child %d exited %d: %s", i, code, strings.TrimSpace(t.stderr[i].String())))
		}
	}
	return errors.Join(errs...)
}

// close kills any child still running and removes the control block.
func (t *team) close() {
	for _, p := range t.procs {
		if p.IsAlive() {
			_ = p.Kill()
		}
		p.Join(context.Background())
	}
	_ = t.ctrl.Unlink()
	_ = t.ctrl.Close()
}

// run is the usual life of a team: wait until everyone is set up, start
// the clock, run the parent's own part (if any), wait until everyone is
// done, stop the clock, and reap the children. The caller closes the team
// (after reading any result from the user words).
func (t *team) run(ctx context.Context, parent func() error) (time.Duration, error) {
	if err := t.ready(ctx); err != nil {
		return 0, err
	}
	t0 := time.Now()
	t.start()
	if parent != nil {
		if err := parent(); err != nil {
			return 0, err
		}
	}
	if err := t.wait(ctx); err != nil {
		return 0, err
	}
	elapsed := time.Since(t0)
	return elapsed, t.join(ctx)
}

// member is a child's view of its team.
type member struct {
	Args  *process.Args
	Index int
	ctrl  *shm.Region
}

// User returns the user words of the control block.
func (m *member) User() []byte { return m.ctrl.Bytes()[ctrlUser:] }

// Arg decodes the i-th figure argument (after the control handle and
// index) into v.
func (m *member) Arg(i int, v any) error { return m.Args.Decode(2+i, v) }

// Int returns the i-th figure argument as an int.
func (m *member) Int(i int) int { return m.Args.Int(2 + i) }

// registerChild registers a team member function under name. setup runs
// before the clock starts and returns the work to time (and nothing else);
// the helper reports ready, waits for the start, runs the work and
// reports done.
func registerChild(name string, setup func(m *member) (work func() error, err error)) {
	process.Register(name, func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		ctrl, err := shm.Attach(h, ctrlUser+64)
		if err != nil {
			return err
		}
		defer ctrl.Close()
		m := &member{Args: a, Index: a.Int(1), ctrl: ctrl}
		work, err := setup(m)
		if err != nil {
			return err
		}
		b := ctrl.Bytes()
		atomic.AddUint32(shm.Uint32(b, ctrlReady), 1)
		futex.Wake(shm.Uint32(b, ctrlReady), 1)
		start := shm.Uint32(b, ctrlStart)
		for atomic.LoadUint32(start) == 0 {
			_ = futex.Wait(start, 0, 0)
		}
		if err := work(); err != nil {
			return err
		}
		atomic.AddUint32(shm.Uint32(b, ctrlDone), 1)
		futex.Wake(shm.Uint32(b, ctrlDone), 1)
		return nil
	})
}
