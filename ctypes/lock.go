//go:build linux

package ctypes

import (
	"context"
	"fmt"
	"sync"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// Locker is the lock of a Value or Array. *semaphore.Lock and
// *semaphore.RLock implement it; an object records its lock's handle, so
// the lock must be one of those two (a Locker of another kind is refused
// with ErrLock when an object is created with it; Synchronized accepts any
// Locker, since it records nothing).
//
// The guarded operations of Value and Array use LockContext, so that they
// learn when the previous holder died (ErrOwnerDied); Lock takes a dead
// holder's lock over silently (OwnerDied then reports it).
type Locker interface {
	sync.Locker
	TryLock() bool
	LockContext(ctx context.Context) error
	OwnerDied() bool
	Handle() shm.Handle
	Close() error
}

var (
	_ Locker = (*semaphore.Lock)(nil)
	_ Locker = (*semaphore.RLock)(nil)
)

// ownLock says how an object holds its lock.
type ownLock int

const (
	lockNone     ownLock = iota // no lock
	lockBorrowed                // the caller's: never closed here
	lockOpened                  // attached by this object: closed with it
	lockMade                    // made with the object: closed with it
)

// makeLock returns the lock a new synchronized object at p uses, as
// Options says: a new RLock (made beside the object), the caller's, or none.
func makeLock(p place) (Locker, ownLock, error) {
	o := p.options()
	switch {
	case o.NoLock && o.Lock != nil:
		return nil, lockNone, withDetail(ErrOptions, "both Lock and NoLock")
	case o.NoLock:
		return nil, lockNone, nil
	case o.Lock != nil:
		if _, err := lockText(o.Lock); err != nil {
			return nil, lockNone, err
		}
		return o.Lock, lockBorrowed, nil
	case p.arena != nil:
		l, err := semaphore.NewRLockIn(p.arena)
		if err != nil {
			return nil, lockNone, withDetail(ErrLock, err.Error())
		}
		return l, lockMade, nil
	}
	if err := shm.ValidateName(p.name); err != nil {
		return nil, lockNone, err
	}
	var opts []semaphore.Option
	if o.Mode != 0 {
		opts = append(opts, semaphore.WithMode(o.Mode))
	}
	l, err := semaphore.NewRLock(p.name+lockSuffix, opts...)
	if err != nil {
		return nil, lockNone, fmt.Errorf("its lock %s%s: %w", p.name, lockSuffix, err)
	}
	return l, lockMade, nil
}

// dropLock undoes makeLock after the object itself could not be made.
func dropLock(l Locker, own ownLock, p place) {
	if own != lockMade {
		return
	}
	l.Close()
	if p.arena == nil {
		_ = shm.Unlink(p.name + lockSuffix)
	}
}

// lockText is the handle text an object records for l: l must be a shared
// Lock or RLock.
func lockText(l Locker) (string, error) {
	if l == nil {
		return "", nil
	}
	h := l.Handle()
	if h.Kind != shm.KindLock && h.Kind != shm.KindRLock {
		return "", withDetail(ErrLock, fmt.Sprintf("the lock is a %v; a Value or Array records a Lock or an RLock", h.Kind))
	}
	t, err := h.MarshalText()
	if err != nil {
		return "", withDetail(ErrLock, err.Error())
	}
	return string(t), nil
}

// attachLock attaches the lock an object's header records.
func attachLock(text string) (Locker, error) {
	h, err := shm.ParseHandle(text)
	if err != nil {
		return nil, withDetail(ErrCorrupt, "lock handle: "+err.Error())
	}
	var l Locker
	switch h.Kind {
	case shm.KindLock:
		l, err = semaphore.AttachLock(h)
	case shm.KindRLock:
		l, err = semaphore.AttachRLock(h)
	default:
		return nil, withDetail(ErrCorrupt, fmt.Sprintf("recorded lock %s is not a Lock or RLock", text))
	}
	if err != nil {
		return nil, fmt.Errorf("its lock %s: %w", text, err)
	}
	return l, nil
}
