//go:build linux

package manager

import (
	"context"
	"sync"
	"time"
)

// Barrier states, as in Python's threading.Barrier.
const (
	barrierFilling   = 0
	barrierDraining  = 1
	barrierResetting = -1
	barrierBroken    = -2
)

// barrierObj is the referent of a managed Barrier: a port of Python's
// threading.Barrier (same states, same transitions, same results), with a
// waitList in place of its Condition(Lock()).
//
// State, guarded by mu: state (filling, draining, resetting, broken) and
// count (parties inside wait). wait blocks while the barrier drains or
// resets; the party that makes count reach parties switches to draining
// and wakes everyone; the others wait for the state to leave filling, and
// break the barrier if their timeout expires first. The last party out of
// a draining or resetting barrier returns it to filling. abort breaks it;
// reset makes waiters fail and the barrier reusable.
//
// Python's action callable is not supported: the server never runs code it
// receives.
type barrierObj struct {
	mu      sync.Mutex
	parties int64
	timeout timeout // default for wait
	state   int
	count   int64
	changed waitList
}

func newBarrier(parties int64, t timeout) (*barrierObj, error) {
	if parties < 1 {
		return nil, pyErr(excValueError, "parties must be > 0")
	}
	return &barrierObj{parties: parties, timeout: t}, nil
}

// wait is Barrier.wait(timeout): it returns the arrival index.
func (b *barrierObj) wait(ctx context.Context, t timeout) (int64, error) {
	if !t.set {
		t = b.timeout
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// _enter: block while the barrier drains or resets.
	for b.state == barrierDraining || b.state == barrierResetting {
		if _, err := b.changed.wait(ctx, &b.mu, time.Time{}); err != nil {
			return 0, err
		}
	}
	if b.state < 0 {
		return 0, pyErr(excBrokenBarrierError)
	}
	index := b.count
	b.count++
	err := b.pass(ctx, index, t)
	// finally: _exit
	b.count--
	if b.count == 0 && (b.state == barrierResetting || b.state == barrierDraining) {
		b.state = barrierFilling
		b.changed.notify(-1)
	}
	if err != nil {
		return 0, err
	}
	return index, nil
}

// pass is the body of wait between counting in and out: release the
// barrier (last party) or wait for the release (the others).
func (b *barrierObj) pass(ctx context.Context, index int64, t timeout) error {
	if index+1 == b.parties {
		b.state = barrierDraining
		b.changed.notify(-1)
		return nil
	}
	// _wait: wait_for(state != filling, timeout)
	deadline := deadlineOf(t)
	for b.state == barrierFilling {
		if t.set && expired(deadline) {
			b.breakLocked()
			return pyErr(excBrokenBarrierError)
		}
		if _, err := b.changed.wait(ctx, &b.mu, deadline); err != nil {
			// The caller's connection is gone: leave as Python leaves a
			// thread that dies waiting, but do not strand the others
			// forever: break the barrier, as a timeout would.
			b.breakLocked()
			return err
		}
	}
	if b.state < 0 {
		return pyErr(excBrokenBarrierError)
	}
	return nil
}

func (b *barrierObj) breakLocked() {
	b.state = barrierBroken
	b.changed.notify(-1)
}

// abort is Barrier.abort.
func (b *barrierObj) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.breakLocked()
}

// reset is Barrier.reset.
func (b *barrierObj) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.count > 0 {
		if b.state == barrierFilling || b.state == barrierBroken {
			b.state = barrierResetting
		}
	} else {
		b.state = barrierFilling
	}
	b.changed.notify(-1)
}

// nWaiting, broken and the parties field are Barrier's properties.
func (b *barrierObj) nWaiting() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == barrierFilling {
		return b.count
	}
	return 0
}

func (b *barrierObj) broken() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == barrierBroken
}
