package semaphore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Condition layout, version 1: a header of six cache lines, then one
// 16-byte slot per possible waiter.
//
//	offset size word      written by / states
//	     0    4 slots     immutable: N, the number of waiter slots (the most
//	                      waiters at once)
//	     4    4 flags     immutable: bit 0, the lock was made with the
//	                      condition (Unlink removes it too)
//	     8    4 lockLen   immutable: length of lockText
//	    16  256 lockText  immutable: text form of the lock's shm.Handle
//	   320    4 wait      the next waiter's ticket
//	   324    4 notify    the next ticket to notify: tickets in
//	                      [notify, wait) are waiting or cancelled
//	   384 16*N slot[i]   the waiter holding ticket t uses slot[t mod N]:
//	                        +0 seq    generation<<1 | sleeping; the futex
//	                                  word its waiter sleeps on
//	                        +4 pid    the waiter's pid while it waits; 0
//	                                  once notified, cancelled or found dead
//	                        +8 since  when the waiter came, in ms of
//	                                  CLOCK_MONOTONIC (wrapping)
//
// This is runtime/sema.go's notifyList with the waiter queue replaced by
// the slot ring: tickets, no pointers. wait, notify, and a slot's pid and
// since are written only by goroutines that hold the condition's lock
// (Wait before it releases the lock, Notify, a timed-out Wait after it has
// taken the lock back), so they need no CAS. seq is the one word written
// without the lock: a waiter sets its sleeping bit (CAS) before it sleeps,
// and a notifier adds one generation and clears the bit (CAS), then wakes
// the slot only if the bit was set.
//
// Wait takes ticket t = wait, records seq (s0), pid and since in slot t,
// sets wait = t+1, releases the lock, and waits until seq's generation is
// no longer s0's. Notify(n) walks tickets from notify: a slot whose pid is
// 0 was cancelled and is skipped; a slot whose waiter has waited longer
// than the check interval and belongs to a dead process is skipped too;
// the others get their generation bumped (and a wake if asleep), until n
// waiters are notified or none is left; then notify moves past them. So
// Notify wakes only waiters that were waiting when it was called, at most
// n of them, each on its own futex word: no herd and no spurious wake-ups.
// A Wait that times out takes the lock back, and if its generation has not
// moved it cancels its ticket (pid = 0; if it was the oldest, notify moves
// past it and any cancelled ones after it).
//
// A slot is reused only after notify has passed its ticket, so
// wait-notify <= N: a Wait that finds all N slots pending first reclaims
// slots of dead waiters, then fails with ErrTooManyWaiters.
const (
	condVersion  = 1
	condSlots    = 0
	condFlags    = 4
	condLockLen  = 8
	condLockText = 16
	condLockMax  = 256
	condWait     = 320
	condNotify   = 324
	condSlotOff  = 384
	condSlotSize = 16

	condFlagMadeLock = 1

	// DefaultMaxWaiters is the number of waiter slots of a Condition made
	// without WithMaxWaiters.
	DefaultMaxWaiters = 256
	// MaxWaiters is the most waiter slots a Condition can have.
	MaxWaiters = 1 << 16
)

var condSpec = spec{shm.KindCondition, condVersion, condSlotOff + condSlotSize}

type condSlot struct {
	seq, pid, since, _ uint32
}

// Locker is the lock of a Condition: a *Lock or an *RLock of this package
// (no other type implements it).
type Locker interface {
	sync.Locker
	// Handle returns the lock's handle.
	Handle() shm.Handle
	condLock() condLock
}

// condLock is what a Condition needs from its lock.
type condLock interface {
	held() bool                 // the caller holds it
	releaseAll() uint32         // release it entirely, returning what restore needs
	restore(saved uint32) error // take it back as it was: nil or ErrOwnerDied
}

// A Condition is a condition variable shared by processes: Python's
// multiprocessing.Condition. Goroutines wait for it with Wait while
// holding its lock and are woken by Notify or NotifyAll from a holder of
// the lock in any process.
//
// The lock is a Lock or an RLock of this package, chosen at creation (nil
// means a new RLock, as in Python) and recorded in the shared object, so
// OpenCondition attaches the same lock. Wait, WaitFor, Notify and NotifyAll
// must be called with the lock held (for a Lock: held by this process;
// for an RLock: by this goroutine), else they return ErrNotOwner.
//
// Notify(n) wakes at most n of the goroutines that were waiting when it
// was called, oldest first, and never one that starts waiting later. Every
// waiter sleeps on its own futex word, so a notification wakes exactly the
// waiter it is for: there are no spurious wake-ups (a test counts them).
// A waiter in a process that died is skipped, once it has waited longer
// than DefaultCheckInterval; a waiter killed after it was notified takes
// its notification with it.
//
// Memory model: as for its lock. A Condition must not be copied.
type Condition struct {
	lock       Locker
	cl         condLock
	closeLock  bool   // the Condition attached or made its lock: Close closes it
	unlinkLock string // segment of a lock made with the condition
	n          uint32
	wait       *uint32
	notify     *uint32
	slots      []condSlot
	spin       spinner
	obj        object
}

// NewCondition creates a Condition in a segment of its own named name,
// using lock, or, if lock is nil, a new RLock in a segment of its own named
// name+".lock" (Unlink and Close then apply to both). It takes the options
// WithMode and WithMaxWaiters.
func NewCondition(name string, lock Locker, opts ...Option) (*Condition, error) {
	o, err := buildOptions("NewCondition", optMode|optMaxWaiters, opts)
	if err != nil {
		return nil, err
	}
	made := false
	if lock == nil {
		rl, err := NewRLock(name+".lock", WithMode(o.mode))
		if err != nil {
			return nil, err
		}
		lock, made = rl, true
	}
	c, err := newCondition(lock, made, o, func(size int, init func([]byte) error) (*shm.Region, error) {
		return createRegion(name, condSpec, size, o, init)
	})
	if err != nil && made {
		lock.(*RLock).Unlink()
		lock.(*RLock).Close()
	}
	return c, err
}

// NewConditionIn creates a Condition in the arena a, using lock, or, if
// lock is nil, a new RLock in the same arena. It takes the option
// WithMaxWaiters.
func NewConditionIn(a *shm.Arena, lock Locker, opts ...Option) (*Condition, error) {
	o, err := buildOptions("NewConditionIn", optMaxWaiters, opts)
	if err != nil {
		return nil, err
	}
	made := false
	if lock == nil {
		rl, err := NewRLockIn(a)
		if err != nil {
			return nil, err
		}
		lock, made = rl, true
	}
	c, err := newCondition(lock, made, o, func(size int, init func([]byte) error) (*shm.Region, error) {
		return allocRegion(a, condSpec, size, init)
	})
	if err != nil && made {
		lock.(*RLock).Close()
	}
	return c, err
}

func newCondition(lock Locker, made bool, o *options, alloc func(int, func([]byte) error) (*shm.Region, error)) (*Condition, error) {
	if l, ok := lock.(*Lock); ok && l == nil {
		return nil, fmt.Errorf("%w: nil *Lock", ErrInvalid)
	}
	if l, ok := lock.(*RLock); ok && l == nil {
		return nil, fmt.Errorf("%w: nil *RLock", ErrInvalid)
	}
	n := o.maxWaiters
	if o.set&optMaxWaiters == 0 {
		n = DefaultMaxWaiters
	}
	if n < 1 || n > MaxWaiters {
		return nil, fmt.Errorf("%w: WithMaxWaiters(%d) outside 1..%d", ErrInvalid, n, MaxWaiters)
	}
	text, err := lock.Handle().MarshalText()
	if err != nil {
		return nil, err
	}
	if len(text) > condLockMax {
		return nil, fmt.Errorf("%w: lock handle %q longer than %d bytes", ErrInvalid, text, condLockMax)
	}
	r, err := alloc(condSlotOff+condSlotSize*n, func(b []byte) error {
		atomic.StoreUint32(shm.Uint32(b, condSlots), uint32(n))
		if made {
			atomic.StoreUint32(shm.Uint32(b, condFlags), condFlagMadeLock)
		}
		atomic.StoreUint32(shm.Uint32(b, condLockLen), uint32(len(text)))
		copy(b[condLockText:condLockText+condLockMax], text)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := wrapCondition(r, lock)
	c.closeLock = made
	if made && lock.Handle().Offset == 0 {
		c.unlinkLock = lock.Handle().Segment
	}
	return c, nil
}

// OpenCondition opens the Condition named name and attaches its lock.
func OpenCondition(name string) (*Condition, error) {
	r, err := openRegion(name, condSpec)
	if err != nil {
		return nil, err
	}
	return attachCondition(r)
}

// AttachCondition attaches the Condition that h names, and its lock.
func AttachCondition(h shm.Handle) (*Condition, error) {
	r, err := attachRegion(h, condSpec)
	if err != nil {
		return nil, err
	}
	return attachCondition(r)
}

func attachCondition(r *shm.Region) (*Condition, error) {
	b := r.Bytes()
	n := atomic.LoadUint32(shm.Uint32(b, condSlots))
	if n < 1 || n > MaxWaiters || condSlotOff+condSlotSize*int(n) > len(b) {
		return nil, corrupt(r, "%d waiter slots in %d bytes", n, len(b))
	}
	ln := atomic.LoadUint32(shm.Uint32(b, condLockLen))
	if ln == 0 || ln > condLockMax {
		return nil, corrupt(r, "lock handle of %d bytes", ln)
	}
	text := string(b[condLockText : condLockText+int(ln)])
	h, err := shm.ParseHandle(text)
	if err != nil {
		return nil, corrupt(r, "lock handle: %v", err)
	}
	var lock Locker
	switch h.Kind {
	case shm.KindLock:
		lock, err = AttachLock(h)
	case shm.KindRLock:
		lock, err = AttachRLock(h)
	default:
		return nil, corrupt(r, "lock handle %q names a %v", text, h.Kind)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("semaphore: attaching the lock of condition %v: %w", r.Handle(), err)
	}
	c := wrapCondition(r, lock)
	c.closeLock = true
	if atomic.LoadUint32(shm.Uint32(b, condFlags))&condFlagMadeLock != 0 && h.Offset == 0 {
		c.unlinkLock = h.Segment
	}
	return c, nil
}

func wrapCondition(r *shm.Region, lock Locker) *Condition {
	b := r.Bytes()
	c := &Condition{lock: lock, cl: lock.condLock()}
	c.obj.init(r)
	c.n = atomic.LoadUint32(shm.Uint32(b, condSlots))
	c.wait = shm.Uint32(b, condWait)
	c.notify = shm.Uint32(b, condNotify)
	c.slots = shm.Slice[condSlot](b, condSlotOff, int(c.n))
	return c
}

// Locker returns the Condition's lock (a *Lock or an *RLock).
func (c *Condition) Locker() Locker { return c.lock }

// Lock acquires the Condition's lock (Python's acquire).
func (c *Condition) Lock() { c.lock.Lock() }

// Unlock releases the Condition's lock (Python's release).
func (c *Condition) Unlock() { c.lock.Unlock() }

func (c *Condition) slot(t uint32) *condSlot { return &c.slots[t%c.n] }

func nowMs() uint32 { return uint32(futex.Now() / 1e6) }

func (c *Condition) ready() error {
	if err := c.obj.check(); err != nil {
		return err
	}
	if !c.cl.held() {
		return ErrNotOwner
	}
	return nil
}

// Wait releases the lock (all levels of an RLock), waits until notified or
// until ctx is done, takes the lock back (restoring an RLock's depth) and
// reports whether it was notified: false means ctx ended the wait
// (ctx.Err() says why), as Python's wait returns False on timeout. The lock
// is held again when Wait returns, whatever it returns, except with
// ErrNotOwner (the caller did not hold it: nothing happened),
// ErrTooManyWaiters or ErrClosed. Taking the lock back may find its holder
// dead: Wait then returns ErrOwnerDied, with the lock held.
func (c *Condition) Wait(ctx context.Context) (bool, error) {
	if err := c.ready(); err != nil {
		return false, err
	}
	t := atomic.LoadUint32(c.wait)
	if t-atomic.LoadUint32(c.notify) >= c.n {
		c.reclaim()
		if t-atomic.LoadUint32(c.notify) >= c.n {
			return false, fmt.Errorf("%w: all %d slots taken", ErrTooManyWaiters, c.n)
		}
	}
	sl := c.slot(t)
	s0 := atomic.LoadUint32(&sl.seq)
	atomic.StoreUint32(&sl.pid, selfPid)
	atomic.StoreUint32(&sl.since, nowMs())
	atomic.StoreUint32(c.wait, t+1)
	saved := c.cl.releaseAll()
	notified := c.await(ctx, &sl.seq, s0)
	if !notified {
		settle(ctx) // so that ctx.Err() says why (a Notify meanwhile is seen below)
	}
	err := c.cl.restore(saved)
	if !notified {
		if atomic.LoadUint32(&sl.seq)>>1 != s0>>1 {
			notified = true // notified between the timeout and taking the lock back
		} else {
			c.cancel(t)
		}
	}
	return notified, err
}

// spuriousWakeups counts futex wake-ups of Condition waiters that found
// themselves not notified (tests read it).
var spuriousWakeups atomic.Int64

func (c *Condition) await(ctx context.Context, seq *uint32, s0 uint32) bool {
	notified := func() bool { return atomic.LoadUint32(seq)>>1 != s0>>1 }
	if ctx.Err() != nil {
		return notified()
	}
	if c.spin.run(notified) {
		return true
	}
	w := startSleep(ctx, seq, 0, false)
	defer w.end()
	for {
		v := atomic.LoadUint32(seq)
		if v>>1 != s0>>1 {
			return true
		}
		if err, _ := w.poll(); err != nil {
			return false
		}
		if v&1 == 0 {
			if !atomic.CompareAndSwapUint32(seq, v, v|1) {
				continue
			}
			v |= 1
		}
		if w.sleep(seq, v) == nil && !notified() && ctx.Err() == nil {
			spuriousWakeups.Add(1)
		}
	}
}

// cancel withdraws ticket t of a waiter that was not notified; the caller
// holds the lock.
func (c *Condition) cancel(t uint32) {
	atomic.StoreUint32(&c.slot(t).pid, 0)
	if t == atomic.LoadUint32(c.notify) {
		c.skipCancelled(t)
	}
}

// skipCancelled moves notify from k past cancelled tickets.
func (c *Condition) skipCancelled(k uint32) {
	w := atomic.LoadUint32(c.wait)
	for k != w && atomic.LoadUint32(&c.slot(k).pid) == 0 {
		k++
	}
	atomic.StoreUint32(c.notify, k)
}

// reclaim frees the oldest slots of waiters whose process died, when every
// slot is taken; the caller holds the lock.
func (c *Condition) reclaim() {
	k, w := atomic.LoadUint32(c.notify), atomic.LoadUint32(c.wait)
	for ; k != w; k++ {
		sl := c.slot(k)
		p := atomic.LoadUint32(&sl.pid)
		if p != 0 && alive(p, 0) {
			break
		}
		atomic.StoreUint32(&sl.pid, 0)
	}
	c.skipCancelled(k)
}

// Notify wakes at most n goroutines waiting on c, the longest-waiting
// first, among those waiting now. It returns ErrNotOwner if the caller
// does not hold the lock, ErrInvalid if n < 0.
func (c *Condition) Notify(n int) error {
	if err := c.ready(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%w: Notify(%d)", ErrInvalid, n)
	}
	c.notifyN(uint64(n))
	return nil
}

// NotifyAll wakes every goroutine waiting on c now. It returns ErrNotOwner
// if the caller does not hold the lock.
func (c *Condition) NotifyAll() error {
	if err := c.ready(); err != nil {
		return err
	}
	c.notifyN(1 << 32)
	return nil
}

func (c *Condition) notifyN(n uint64) {
	k, w := atomic.LoadUint32(c.notify), atomic.LoadUint32(c.wait)
	if k == w || n == 0 {
		return
	}
	now := nowMs()
	stale := uint32(tick() / 1e6)
	for ; k != w && n > 0; k++ {
		sl := c.slot(k)
		p := atomic.LoadUint32(&sl.pid)
		if p == 0 {
			continue // cancelled
		}
		atomic.StoreUint32(&sl.pid, 0)
		if p != selfPid && now-atomic.LoadUint32(&sl.since) >= stale && !alive(p, 0) {
			continue // its process died while waiting
		}
		for {
			v := atomic.LoadUint32(&sl.seq)
			if atomic.CompareAndSwapUint32(&sl.seq, v, (v|1)+1) {
				if v&1 != 0 {
					futex.Wake(&sl.seq, 1)
				}
				break
			}
		}
		n--
	}
	c.skipCancelled(k)
}

// WaitFor waits until pred returns true, as Python's wait_for: it calls
// pred with the lock held, and while pred is false and ctx is not done it
// Waits, calling pred again after each Wait. A Wait that ctx ends is the
// last: WaitFor then returns pred's result after it (false: ctx ended the
// wait first). The errors are Wait's; with ErrOwnerDied the lock is held
// and WaitFor returns at once, with pred's result.
func (c *Condition) WaitFor(ctx context.Context, pred func() bool) (bool, error) {
	if err := c.ready(); err != nil {
		return false, err
	}
	ok := pred()
	for !ok && ctx.Err() == nil {
		notified, err := c.Wait(ctx)
		if err != nil {
			if err == ErrOwnerDied {
				return pred(), err
			}
			return false, err
		}
		ok = pred()
		if !notified {
			break // ctx ended the wait (Python: waittime <= 0)
		}
	}
	return ok, nil
}

// Handle returns the handle that attaches to this Condition (and, through
// it, its lock) from any process.
func (c *Condition) Handle() shm.Handle { return c.obj.handle() }

// Close unmaps this process's view of the Condition, and of its lock if
// the Condition made or attached it (not a lock passed to NewCondition),
// once every call on them in this process has returned. Closing twice is
// a no-op.
func (c *Condition) Close() error {
	if c.obj.closed.Load() {
		return nil
	}
	err := c.obj.close()
	if c.closeLock {
		if l, ok := c.lock.(interface{ Close() error }); ok {
			if e := l.Close(); err == nil {
				err = e
			}
		}
	}
	return err
}

// Unlink removes the Condition's name, and that of its lock if the lock
// was made with the Condition (NewCondition with a nil lock).
func (c *Condition) Unlink() error {
	err := c.obj.unlink()
	if c.unlinkLock != "" {
		if e := shm.Unlink(c.unlinkLock); err == nil {
			err = e
		}
	}
	return err
}
