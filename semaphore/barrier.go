package semaphore

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Barrier layout, version 2: three cache lines, then one word per party.
//
//	offset size word      written by / states
//	     0    4 lock      the internal lock word (see mutex.go); every other
//	                      mutable word but the two sleepers is written under
//	                      it
//	     4    4 lsleepers the internal lock's sleepers word (see mutex.go)
//	     8    8 owner     the internal lock's owner word
//	    64    4 phase     generation<<1 | broken; the futex word waiters
//	                      sleep on. Release of generation g: g<<1 →
//	                      (g+1)<<1. Break of g: g<<1 → (g+1)<<1|1, and the
//	                      barrier stays broken (every Wait fails at once)
//	                      until Reset clears the bit.
//	    68    4 count     parties that arrived in the current generation,
//	                      0..parties; it equals parties while the last
//	                      arriver runs the action
//	    72    8 outcomes  bit g mod 64: generation g ended broken (1) or
//	                      released (0); written before phase moves
//	    80    4 parties   immutable
//	    88    8 timeout   immutable: the default timeout in ns (0: none)
//	   128    4 sleepers  the number of waiters in their sleep phase (each
//	                      adds 1 before it first sleeps, subtracts 1 when it
//	                      leaves); whoever moves phase wakes all if non-zero
//	   192 8*P arrived[i] identity word of the i'th party to arrive in the
//	                      current generation (valid for i < count)
//
// Wait: under the lock, a party takes index = count, records itself in
// arrived[index] and counts itself. Unless it is the last, it releases
// the lock and waits (spin, then sleep) for phase to leave g<<1; then
// outcomes says whether g was released or broken. The last arriver
// releases the lock, runs its action (if its process supplied one), takes
// the lock again and, if nothing broke the generation meanwhile, moves
// phase to the next generation and wakes the sleepers. Running the action
// outside the lock lets it call Abort, NWaiting and the like; a party that
// arrives meanwhile (count == parties) waits for the phase to move, then
// joins the next generation.
//
// A waiter is overtaken only by whole generations, each of which needs
// every party (or a break) to pass; if it is overtaken by 64 or more
// before it looks, its generation's outcome bit has been reused, and it
// reports ErrBrokenBarrier (never a false success).
//
// Dead parties: every checkInterval a sleeping waiter takes the lock and,
// if its generation is still current, checks the processes recorded in
// arrived[0:count]; if one died (while waiting, or while running the
// action), it breaks the generation. A process that dies holding the
// internal lock is found by the lock's own owner check, and the barrier
// breaks then too. A party that dies before it arrives cannot be told from
// a slow one: only a timeout breaks the barrier then.
const (
	barrierVersion   = 2
	barrierLock      = 0
	barrierLSleepers = 4
	barrierOwner     = 8
	barrierPhase     = 64
	barrierCount     = 68
	barrierOutcomes  = 72
	barrierParties   = 80
	barrierTimeout   = 88
	barrierSleepers  = 128
	barrierArrived   = 192

	phaseBroken = 1

	// MaxParties is the most parties a Barrier can have.
	MaxParties = 1 << 16
)

var barrierSpec = spec{shm.KindBarrier, barrierVersion, barrierArrived + 8}

// A Barrier makes a fixed number of parties wait for each other: Python's
// multiprocessing.Barrier. Each party calls Wait; when the last one
// arrives, its action (if any) runs and all of them are released together,
// each with a distinct index in 0..parties-1. The barrier is then ready for
// the next generation.
//
// A barrier breaks, and every waiter and every later Wait gets
// ErrBrokenBarrier, when a Wait times out, when Abort is called, when
// Reset is called while parties wait, when the action fails (returns an
// error or panics), or when a waiting party's process dies (found within
// about DefaultCheckInterval). Reset makes a broken barrier usable again.
//
// A function cannot cross processes, so each process that makes or opens
// the barrier supplies its own action (WithAction); the action runs in
// whichever process arrives last, and if that process supplied none,
// nothing runs in that generation.
//
// Memory model: everything a party did before Wait happens before every
// party returns from that Wait successfully. A Barrier must not be copied.
type Barrier struct {
	m        mutex
	phase    *uint32
	count    *uint32
	outcomes *uint64
	sleepers *uint32
	arrived  []uint64
	parties  uint32
	timeout  time.Duration
	action   func() error
	spin     spinner
	obj      object
}

// NewBarrier creates a Barrier for parties parties (1 to MaxParties) in a
// segment of its own named name. It takes the options WithMode, WithAction
// and WithTimeout (stored for every process that opens the barrier).
func NewBarrier(name string, parties int, opts ...Option) (*Barrier, error) {
	o, err := buildOptions("NewBarrier", optMode|optAction|optTimeout, opts)
	if err != nil {
		return nil, err
	}
	if err := checkParties("NewBarrier", parties); err != nil {
		return nil, err
	}
	r, err := createRegion(name, barrierSpec, barrierArrived+8*parties, o, barrierInit(parties, o))
	if err != nil {
		return nil, err
	}
	return newBarrier(r, o)
}

// OpenBarrier opens the Barrier named name. It takes the options
// WithAction and WithTimeout (for the returned object only).
func OpenBarrier(name string, opts ...Option) (*Barrier, error) {
	o, err := buildOptions("OpenBarrier", optAction|optTimeout, opts)
	if err != nil {
		return nil, err
	}
	r, err := openRegion(name, barrierSpec)
	if err != nil {
		return nil, err
	}
	return newBarrier(r, o)
}

// NewBarrierIn creates a Barrier for parties parties in the arena a. It
// takes the options WithAction and WithTimeout.
func NewBarrierIn(a *shm.Arena, parties int, opts ...Option) (*Barrier, error) {
	o, err := buildOptions("NewBarrierIn", optAction|optTimeout, opts)
	if err != nil {
		return nil, err
	}
	if err := checkParties("NewBarrierIn", parties); err != nil {
		return nil, err
	}
	r, err := allocRegion(a, barrierSpec, barrierArrived+8*parties, barrierInit(parties, o))
	if err != nil {
		return nil, err
	}
	return newBarrier(r, o)
}

// AttachBarrier attaches the Barrier that h names. It takes the options
// WithAction and WithTimeout.
func AttachBarrier(h shm.Handle, opts ...Option) (*Barrier, error) {
	o, err := buildOptions("AttachBarrier", optAction|optTimeout, opts)
	if err != nil {
		return nil, err
	}
	r, err := attachRegion(h, barrierSpec)
	if err != nil {
		return nil, err
	}
	return newBarrier(r, o)
}

func checkParties(ctor string, parties int) error {
	if parties < 1 || parties > MaxParties {
		return fmt.Errorf("%w: %s: %d parties, want 1..%d", ErrInvalid, ctor, parties, MaxParties)
	}
	return nil
}

func barrierInit(parties int, o *options) func([]byte) error {
	return func(b []byte) error {
		atomic.StoreUint32(shm.Uint32(b, barrierParties), uint32(parties))
		atomic.StoreInt64(shm.Int64(b, barrierTimeout), int64(max(o.timeout, 0)))
		return nil
	}
}

func newBarrier(r *shm.Region, o *options) (*Barrier, error) {
	b := r.Bytes()
	parties := atomic.LoadUint32(shm.Uint32(b, barrierParties))
	if parties < 1 || parties > MaxParties || barrierArrived+8*int(parties) > len(b) {
		return nil, corrupt(r, "%d parties in %d bytes", parties, len(b))
	}
	timeout := atomic.LoadInt64(shm.Int64(b, barrierTimeout))
	if timeout < 0 {
		return nil, corrupt(r, "default timeout %d", timeout)
	}
	if count := atomic.LoadUint32(shm.Uint32(b, barrierCount)); count > parties {
		return nil, corrupt(r, "count %d above parties %d", count, parties)
	}
	br := &Barrier{
		phase:    shm.Uint32(b, barrierPhase),
		count:    shm.Uint32(b, barrierCount),
		outcomes: shm.Uint64(b, barrierOutcomes),
		sleepers: shm.Uint32(b, barrierSleepers),
		arrived:  shm.Slice[uint64](b, barrierArrived, int(parties)),
		parties:  parties,
		timeout:  time.Duration(timeout),
		action:   o.action,
	}
	if o.set&optTimeout != 0 {
		br.timeout = max(o.timeout, 0)
	}
	br.m.init(shm.Uint32(b, barrierLock), shm.Uint32(b, barrierLSleepers), shm.Uint64(b, barrierOwner))
	br.obj.init(r)
	return br, nil
}

// lock takes the internal lock. A takeover from a dead process leaves the
// barrier's words in an unknown state, so it breaks the barrier.
func (b *Barrier) lock(ctx context.Context) error {
	if b.m.tryLock() {
		return nil
	}
	err := b.m.lockSlow(ctx)
	if err == ErrOwnerDied {
		b.breakLocked(atomic.LoadUint32(b.phase) &^ phaseBroken)
		return nil
	}
	return err
}

func (b *Barrier) unlock() { b.m.unlock() }

// breakLocked breaks generation phase p (p's broken bit clear) if it is
// still current; the caller holds the lock.
func (b *Barrier) breakLocked(p uint32) {
	if atomic.LoadUint32(b.phase) != p {
		return
	}
	b.endLocked(p, true, p+2+phaseBroken)
}

// endLocked ends generation p with the given outcome, moving phase to next.
func (b *Barrier) endLocked(p uint32, broken bool, next uint32) {
	bit := uint64(1) << (p >> 1 % 64)
	o := atomic.LoadUint64(b.outcomes)
	if broken {
		o |= bit
	} else {
		o &^= bit
	}
	atomic.StoreUint64(b.outcomes, o)
	atomic.StoreUint32(b.count, 0)
	atomic.StoreUint32(b.phase, next)
	if atomic.LoadUint32(b.sleepers) != 0 {
		futex.Wake(b.phase, -1)
	}
}

// Wait waits until all parties have called Wait, and returns this party's
// index, 0..Parties()-1, distinct among the parties of one generation (the
// last to arrive gets Parties()-1; Python's value is the same). If ctx has
// no deadline, the default timeout (WithTimeout) applies.
//
// Wait returns -1 and an error matching ErrBrokenBarrier if the barrier is
// or becomes broken. A Wait that times out or is cancelled breaks the
// barrier, as in Python; its error matches ctx's error too. A failing
// action's error is wrapped in the last arriver's error. Only a Wait that
// times out before it could join (the previous generation's action was
// still running) leaves the barrier unchanged, with ctx's error alone.
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	if err := b.obj.check(); err != nil {
		return -1, err
	}
	deadline := futex.DeadlineFrom(ctx)
	if deadline == 0 && b.timeout > 0 {
		deadline = futex.DeadlineIn(b.timeout)
	}
	if shm.RaceEnabled {
		shm.RaceReleaseMerge(b.obj.race)
	}
	for {
		if err := b.lock(ctx); err != nil {
			return -1, err
		}
		p := atomic.LoadUint32(b.phase)
		if p&phaseBroken != 0 {
			b.unlock()
			return -1, ErrBrokenBarrier
		}
		n := atomic.LoadUint32(b.count)
		if n >= b.parties {
			// The last arriver of generation p runs its action: wait for
			// the next generation.
			b.unlock()
			if _, err := b.await(ctx, deadline, p); err != nil {
				return -1, err
			}
			continue
		}
		atomic.StoreUint64(&b.arrived[n], selfWord)
		atomic.StoreUint32(b.count, n+1)
		if n+1 < b.parties {
			b.unlock()
			return b.awaitRelease(ctx, deadline, p, int(n))
		}
		if b.action == nil {
			// The last arriver with no action releases at once.
			b.endLocked(p, false, p+2)
			b.unlock()
			if shm.RaceEnabled {
				shm.RaceAcquire(b.obj.race)
			}
			return int(n), nil
		}
		b.unlock()
		return b.release(p, int(n))
	}
}

// release is the last arriver's part: run the action, then release the
// generation.
func (b *Barrier) release(p uint32, index int) (int, error) {
	actErr := b.runAction(p)
	_ = b.lock(context.Background())
	if atomic.LoadUint32(b.phase) != p {
		b.unlock() // broken or reset during the action
		return -1, ErrBrokenBarrier
	}
	if actErr != nil {
		b.breakLocked(p)
		b.unlock()
		return -1, fmt.Errorf("%w: action failed: %w", ErrBrokenBarrier, actErr)
	}
	b.endLocked(p, false, p+2)
	b.unlock()
	if shm.RaceEnabled {
		shm.RaceAcquire(b.obj.race)
	}
	return index, nil
}

func (b *Barrier) runAction(p uint32) error {
	if b.action == nil {
		return nil
	}
	ok := false
	defer func() {
		if !ok {
			// The action panicked: break, and let the panic go on.
			_ = b.lock(context.Background())
			b.breakLocked(p)
			b.unlock()
		}
	}()
	err := b.action()
	ok = true
	return err
}

// awaitRelease waits for generation p to end and returns its outcome.
func (b *Barrier) awaitRelease(ctx context.Context, deadline int64, p uint32, index int) (int, error) {
	q, err := b.await(ctx, deadline, p)
	if err != nil {
		// Timed out or cancelled: break the generation unless it ended.
		if b.lock(context.Background()) == nil {
			b.breakLocked(p)
			b.unlock()
		}
		q = atomic.LoadUint32(b.phase)
	}
	if b.outcome(p, q) {
		if shm.RaceEnabled {
			shm.RaceAcquire(b.obj.race)
		}
		return index, nil
	}
	if err != nil {
		return -1, fmt.Errorf("%w: %w", ErrBrokenBarrier, err)
	}
	return -1, ErrBrokenBarrier
}

// outcome reports whether generation p (which phase q has left) was
// released rather than broken.
func (b *Barrier) outcome(p, q uint32) bool {
	o := atomic.LoadUint64(b.outcomes)
	if q2 := atomic.LoadUint32(b.phase); (q2>>1-p>>1)&(1<<31-1) >= 64 {
		return false // overtaken by 64 generations: the bit was reused
	}
	return o&(1<<(p>>1%64)) == 0
}

// await waits until phase leaves p and returns the new phase, or ctx's
// error (context.DeadlineExceeded at deadline). Every checkInterval it
// checks for dead parties of generation p.
func (b *Barrier) await(ctx context.Context, deadline int64, p uint32) (uint32, error) {
	moved := func() bool { return atomic.LoadUint32(b.phase) != p }
	if b.spin.run(moved) {
		return atomic.LoadUint32(b.phase), nil
	}
	atomic.AddUint32(b.sleepers, 1)
	defer atomic.AddUint32(b.sleepers, ^uint32(0))
	w := startSleep(ctx, b.phase, deadline, true)
	defer w.end()
	for {
		if q := atomic.LoadUint32(b.phase); q != p {
			return q, nil
		}
		err, check := w.poll()
		if err != nil {
			return 0, err
		}
		if check {
			b.checkParties(p)
			continue
		}
		w.sleep(b.phase, p)
	}
}

// checkParties breaks generation p if a party that arrived in it has died.
func (b *Barrier) checkParties(p uint32) {
	if b.lock(context.Background()) != nil {
		return
	}
	defer b.unlock()
	if atomic.LoadUint32(b.phase) != p {
		return
	}
	n := atomic.LoadUint32(b.count)
	for i := uint32(0); i < n && i < b.parties; i++ {
		id := identOf(atomic.LoadUint64(&b.arrived[i]))
		if uint32(id.Pid) != selfPid && !alive(uint32(id.Pid), id.Start) {
			b.breakLocked(p)
			return
		}
	}
}

// Abort breaks the barrier: every waiter and every later Wait gets
// ErrBrokenBarrier, until Reset.
func (b *Barrier) Abort() error {
	if err := b.obj.check(); err != nil {
		return err
	}
	if err := b.lock(context.Background()); err != nil {
		return err
	}
	if p := atomic.LoadUint32(b.phase); p&phaseBroken == 0 {
		b.breakLocked(p)
	}
	b.unlock()
	return nil
}

// Reset returns the barrier to its initial, empty state. Parties waiting
// in the current generation get ErrBrokenBarrier (as in Python); a broken
// barrier becomes usable again.
func (b *Barrier) Reset() error {
	if err := b.obj.check(); err != nil {
		return err
	}
	if err := b.lock(context.Background()); err != nil {
		return err
	}
	p := atomic.LoadUint32(b.phase)
	switch {
	case p&phaseBroken != 0:
		atomic.StoreUint32(b.phase, p&^phaseBroken)
	case atomic.LoadUint32(b.count) > 0:
		b.endLocked(p, true, p+2)
	}
	b.unlock()
	return nil
}

// Parties returns the number of parties the barrier needs.
func (b *Barrier) Parties() int { return int(b.parties) }

// NWaiting returns the number of parties waiting in the current generation
// (0 while broken, and once b is closed).
func (b *Barrier) NWaiting() int {
	if b.obj.closed.Load() || atomic.LoadUint32(b.phase)&phaseBroken != 0 {
		return 0
	}
	return int(atomic.LoadUint32(b.count))
}

// Broken reports whether the barrier is broken (false once b is closed).
func (b *Barrier) Broken() bool {
	return !b.obj.closed.Load() && atomic.LoadUint32(b.phase)&phaseBroken != 0
}

// Handle returns the handle that attaches to this Barrier from any
// process.
func (b *Barrier) Handle() shm.Handle { return b.obj.handle() }

// Close unmaps this process's view of the Barrier, once every call on it
// in this process has returned. Closing twice is a no-op.
func (b *Barrier) Close() error { return b.obj.close() }

// Unlink removes the Barrier's name.
func (b *Barrier) Unlink() error { return b.obj.unlink() }
