//go:build linux

package ctypes

import (
	"context"
	"errors"
	"sync/atomic"
)

// guard is the lock side of a Value or Array: the lock (or none), whether
// this object closes it, and the object's shared suspect word (see the
// layout in object.go).
//
// A process that takes the lock over from a dead holder (LockContext
// returns ErrOwnerDied) sets suspect, with the lock held, before it touches
// the data. From then on every guarded operation, in every process,
// returns an error matching ErrOwnerDied (after doing its work: the lock
// was held, the data is what it is) until a holder repairs the data and
// calls MarkConsistent. So the mark outlives the holding that discovered
// the death, and every survivor learns of it, not only the one that took
// the lock over.
type guard struct {
	lock Locker
	own  ownLock
	obj  *object
	what string // "value" or "array", for messages
}

// acquire takes the lock (if any). nil means held; any other error means
// not held (ctx done, or the lock closed).
func (g *guard) acquire(ctx context.Context) error {
	if g.lock == nil {
		return nil
	}
	err := g.lock.LockContext(ctx)
	if err != nil && !errors.Is(err, ErrOwnerDied) {
		return err
	}
	// ErrOwnerDied, or a holding that began with a silent takeover (the
	// caller's own GetLock().Lock(), re-entered here through an RLock).
	if err != nil || g.lock.OwnerDied() {
		atomic.StoreUint32(g.obj.suspect, 1)
	}
	return nil
}

func (g *guard) release() {
	if g.lock != nil {
		g.lock.Unlock()
	}
}

// state returns nil, or the ErrOwnerDied error of a suspect object. The
// caller holds the lock.
func (g *guard) state(op string) error {
	if atomic.LoadUint32(g.obj.suspect) == 0 {
		return nil
	}
	return &Error{op, g.obj.name(), withDetail(ErrOwnerDied,
		"the "+g.what+" may be inconsistent: a process died holding its lock; repair it and call MarkConsistent")}
}

func (g *guard) inconsistent() bool { return atomic.LoadUint32(g.obj.suspect) != 0 }

func (g *guard) markConsistent() { atomic.StoreUint32(g.obj.suspect, 0) }

func (g *guard) close() error {
	var err error
	if g.own == lockOpened || g.own == lockMade {
		err = g.lock.Close()
	}
	return errors.Join(g.obj.close(), err)
}

// attachGuard attaches the lock an opened object records.
func attachGuard(o *object, what string) (guard, error) {
	g := guard{obj: o, what: what}
	if o.lock == "" {
		return g, nil
	}
	l, err := attachLock(o.lock)
	if err != nil {
		return g, &Error{"open", o.name(), err}
	}
	g.lock, g.own = l, lockOpened
	return g, nil
}

// join returns f's error and the object's state error together, or
// whichever is not nil as it is.
func join(ferr, serr error) error {
	if serr == nil {
		return ferr
	}
	if ferr == nil {
		return serr
	}
	return errors.Join(ferr, serr)
}
