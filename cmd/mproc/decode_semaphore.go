//go:build linux

package main

import (
	"fmt"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// The semaphore package's primitives, decoded by semaphore.Inspect.
func init() {
	for _, k := range []shm.Kind{shm.KindLock, shm.KindRLock, shm.KindSemaphore, shm.KindBoundedSemaphore,
		shm.KindCondition, shm.KindEvent, shm.KindBarrier} {
		setDecoder(k, semaphore.LayoutVersion(k), decodeSemaphore)
	}
}

func decodeSemaphore(r *shm.Region) (*report, error) {
	st, err := semaphore.Inspect(r)
	if err != nil {
		return nil, err
	}
	rep := &report{}
	switch {
	case st.Lock != nil:
		lockReport(rep, st.Lock, st.Kind == shm.KindRLock)
	case st.Semaphore != nil:
		s := st.Semaphore
		rep.add("value", s.Value)
		if st.Kind == shm.KindBoundedSemaphore {
			rep.add("bound", s.Bound)
		}
		rep.add("waiters", s.Sleepers)
	case st.Event != nil:
		e := st.Event
		rep.add("set", e.Set).add("times_set", e.Generation).add("waiters", e.Sleepers)
	case st.Condition != nil:
		c := st.Condition
		rep.add("lock", c.Lock.String())
		rep.add("lock_state", lockOf(c.Lock))
		rep.add("waiters", len(c.Waiters))
		rep.add("slots", c.Slots)
		var ws []*report
		for _, w := range c.Waiters {
			ws = append(ws, (&report{}).
				add("process", proc{w.Pid, w.Alive}).
				add("asleep", w.Sleeping).
				add("waited", seconds(w.Waited)))
		}
		if len(ws) > 0 {
			rep.add("waiting", ws)
		}
	case st.Barrier != nil:
		b := st.Barrier
		rep.add("parties", b.Parties).add("waiting", b.Waiting).add("generation", b.Generation).
			add("broken", b.Broken)
		if b.Timeout > 0 {
			rep.add("timeout", seconds(b.Timeout))
		}
		rep.add("asleep", b.Sleepers)
		var arrived []proc
		for _, p := range b.Arrived {
			arrived = append(arrived, proc{p.Pid, p.Alive})
		}
		if len(arrived) > 0 {
			rep.add("arrived", procList(arrived))
		}
		if b.Lock.Locked {
			rep.add("internal_lock", (&report{}).add("owner", proc{b.Lock.Holder.Pid, b.Lock.Holder.Alive}))
		}
	default:
		return nil, fmt.Errorf("semaphore.Inspect returned no state for a %v", st.Kind)
	}
	return rep, nil
}

// lockOf decodes a condition's lock, or says why it cannot.
func lockOf(h shm.Handle) any {
	r, err := shm.Attach(h, 0)
	if err != nil {
		return "not readable: " + describe(h.Segment, err)
	}
	defer r.Close()
	rep, err := decodeRegion(r)
	if err != nil {
		return "not readable: " + err.Error()
	}
	return rep
}

// lockReport describes a Lock or an RLock.
func lockReport(rep *report, l *semaphore.LockState, rlock bool) {
	rep.add("locked", l.Locked)
	rep.add("owner", proc{l.Holder.Pid, l.Holder.Alive})
	if l.OwnerDied {
		rep.add("taken_over", "this holding began by taking the lock from a dead owner")
	}
	if rlock {
		rep.add("depth", l.Depth)
		if l.Locked {
			rep.add("goroutine", l.Goroutine)
		}
	}
	rep.add("waiters", labelled{l.Waiters, "some (the lock keeps a flag, not a count)", "none"})
	if l.LastOwner.Pid != 0 {
		rep.add("last_acquired_by", proc{l.LastOwner.Pid, l.LastOwner.Alive})
	}
}

// procList is a list of processes: "4242 (alive), 4250 (dead)".
type procList []proc

func (l procList) String() string {
	s := ""
	for i, p := range l {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	return s
}
