//go:build linux

package manager

import (
	"fmt"
	"time"

	"github.com/mproc/mproc/pickle"
)

// The Python methods of the synchronization referents (lock.go, rlock.go,
// semaphore.go, condition.go, event.go, barrier.go, queue.go): argument
// parsing with Python's rules and messages, and repr.

// lockAcquireArgs parses Lock.acquire / RLock.acquire(blocking=True,
// timeout=-1) (the C implementation's rules).
func lockAcquireArgs(c *Call) (blocking bool, deadline time.Time, err error) {
	a, err := c.Params([]string{"blocking", "timeout"}, true, int64(-1))
	if err != nil {
		return false, time.Time{}, err
	}
	blocking = truth(a[0])
	t, ok := asFloat(a[1])
	if !ok {
		return false, time.Time{}, pyErrf(excTypeError, "'%s' object cannot be interpreted as an integer", typeName(a[1]))
	}
	if !blocking && t != -1 {
		return false, time.Time{}, pyErr(excValueError, "can't specify a timeout for a non-blocking call")
	}
	if t < 0 && t != -1 {
		return false, time.Time{}, pyErr(excValueError, "timeout value must be a non-negative number")
	}
	if t == -1 {
		return blocking, time.Time{}, nil
	}
	to, err := asTimeout(t)
	if err != nil {
		return false, time.Time{}, err
	}
	return blocking, deadlineOf(to), nil
}

// waitArgs parses wait(timeout=None).
func waitArgs(c *Call) (timeout, error) {
	a, err := c.Params([]string{"timeout"}, pickle.None)
	if err != nil {
		return timeout{}, err
	}
	return asTimeout(a[0])
}

// ---- Lock

var lockMethods = methodTable[*lockObj]{
	"acquire": func(l *lockObj, c *Call) (any, error) {
		blocking, deadline, err := lockAcquireArgs(c)
		if err != nil {
			return nil, err
		}
		return l.acquire(c.Context(), blocking, deadline)
	},
	"release": func(l *lockObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.None, l.release()
	},
	"locked": func(l *lockObj, c *Call) (any, error) { return l.isLocked(), c.noArgs() },
}

func (l *lockObj) call(c *Call) (any, error) { return dispatch(lockMethods, l, c, "_thread.lock") }

func (l *lockObj) repr(id string) string {
	state := "unlocked"
	if l.isLocked() {
		state = "locked"
	}
	return fmt.Sprintf("<%s _thread.lock object at 0x%s>", state, id)
}

func (l *lockObj) str(id string) string { return l.repr(id) }
func (l *lockObj) value() (any, error)  { return noValue{"_thread.lock"}.value() }
func (l *lockObj) scan(func(string))    {}

// ---- RLock

var rlockMethods = methodTable[*rlockObj]{
	"acquire": func(r *rlockObj, c *Call) (any, error) {
		blocking, deadline, err := lockAcquireArgs(c)
		if err != nil {
			return nil, err
		}
		ok, err := r.acquire(c.Context(), c.owner(), blocking, deadline)
		if ok {
			c.conn.holds(r)
		}
		return ok, err
	},
	"release": func(r *rlockObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.None, r.release(c.owner())
	},
	"locked": func(r *rlockObj, c *Call) (any, error) { return r.locked_(), c.noArgs() },
}

func (r *rlockObj) call(c *Call) (any, error) { return dispatch(rlockMethods, r, c, "_thread.RLock") }

func (r *rlockObj) repr(id string) string {
	owner, count := r.state()
	state := "unlocked"
	if owner != 0 {
		state = "locked"
	}
	return fmt.Sprintf("<%s _thread.RLock object owner=%d count=%d at 0x%s>", state, owner, count, id)
}

func (r *rlockObj) str(id string) string { return r.repr(id) }
func (r *rlockObj) value() (any, error)  { return noValue{"_thread.RLock"}.value() }
func (r *rlockObj) scan(func(string))    {}

// ---- Semaphore, BoundedSemaphore

var semaphoreMethods = methodTable[*semaphoreObj]{
	"acquire": func(s *semaphoreObj, c *Call) (any, error) {
		a, err := c.Params([]string{"blocking", "timeout"}, true, pickle.None)
		if err != nil {
			return nil, err
		}
		blocking := truth(a[0])
		if !blocking && !isNone(a[1]) {
			return nil, pyErr(excValueError, "can't specify timeout for non-blocking acquire")
		}
		t, err := asTimeout(a[1])
		if err != nil {
			return nil, err
		}
		return s.acquire(c.Context(), blocking, deadlineOf(t))
	},
	"release": func(s *semaphoreObj, c *Call) (any, error) {
		a, err := c.Params([]string{"n"}, int64(1))
		if err != nil {
			return nil, err
		}
		n, err := asIntArg(a[0])
		if err != nil {
			return nil, err
		}
		return pickle.None, s.release(n)
	},
	"locked": func(s *semaphoreObj, c *Call) (any, error) { return s.current() == 0, c.noArgs() },
}

func (s *semaphoreObj) call(c *Call) (any, error) {
	return dispatch(semaphoreMethods, s, c, s.className())
}

func (s *semaphoreObj) className() string {
	if s.initial >= 0 {
		return "BoundedSemaphore"
	}
	return "Semaphore"
}

func (s *semaphoreObj) repr(id string) string {
	if s.initial >= 0 {
		return fmt.Sprintf("<threading.BoundedSemaphore at 0x%s: value=%d/%d>", id, s.current(), s.initial)
	}
	return fmt.Sprintf("<threading.Semaphore at 0x%s: value=%d>", id, s.current())
}

func (s *semaphoreObj) str(id string) string { return s.repr(id) }
func (s *semaphoreObj) value() (any, error)  { return noValue{s.className()}.value() }
func (s *semaphoreObj) scan(func(string))    {}

// ---- Condition

var conditionMethods = methodTable[*conditionObj]{
	"acquire": func(cv *conditionObj, c *Call) (any, error) {
		blocking, deadline, err := lockAcquireArgs(c)
		if err != nil {
			return nil, err
		}
		ok, err := cv.lock.condAcquire(c.Context(), c.owner(), blocking, deadline)
		if ok {
			c.conn.holds(cv.lock)
		}
		return ok, err
	},
	"release": func(cv *conditionObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.None, cv.lock.condRelease(c.owner())
	},
	"wait": func(cv *conditionObj, c *Call) (any, error) {
		t, err := waitArgs(c)
		if err != nil {
			return nil, err
		}
		return cv.wait(c.Context(), c.owner(), t)
	},
	"notify": func(cv *conditionObj, c *Call) (any, error) {
		a, err := c.Params([]string{"n"}, int64(1))
		if err != nil {
			return nil, err
		}
		n, err := asIntArg(a[0])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			n = 0
		}
		if n > 1<<30 {
			n = -1
		}
		return pickle.None, cv.notify(c.owner(), int(n))
	},
	"notify_all": func(cv *conditionObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.None, cv.notify(c.owner(), -1)
	},
	"locked": func(cv *conditionObj, c *Call) (any, error) { return cv.lock.locked_(), c.noArgs() },
}

func (cv *conditionObj) call(c *Call) (any, error) {
	return dispatch(conditionMethods, cv, c, "Condition")
}

func (cv *conditionObj) repr(id string) string {
	var lock string
	switch l := cv.lock.(type) {
	case *rlockObj:
		lock = l.repr(id)
	case *lockObj:
		lock = l.repr(id)
	}
	return fmt.Sprintf("<Condition(%s, %d)>", lock, cv.nWaiters())
}

func (cv *conditionObj) str(id string) string { return cv.repr(id) }
func (cv *conditionObj) value() (any, error)  { return noValue{"Condition"}.value() }
func (cv *conditionObj) scan(fn func(string)) {
	if cv.lockID != "" {
		fn(cv.lockID)
	}
}

// ---- Event

var eventMethods = methodTable[*eventObj]{
	"is_set": func(e *eventObj, c *Call) (any, error) { return e.isSet(), c.noArgs() },
	"set": func(e *eventObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		e.set()
		return pickle.None, nil
	},
	"clear": func(e *eventObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		e.clear()
		return pickle.None, nil
	},
	"wait": func(e *eventObj, c *Call) (any, error) {
		t, err := waitArgs(c)
		if err != nil {
			return nil, err
		}
		return e.waitFor(c.Context(), t)
	},
}

func (e *eventObj) call(c *Call) (any, error) { return dispatch(eventMethods, e, c, "Event") }

func (e *eventObj) repr(id string) string {
	state := "unset"
	if e.isSet() {
		state = "set"
	}
	return fmt.Sprintf("<threading.Event at 0x%s: %s>", id, state)
}

func (e *eventObj) str(id string) string { return e.repr(id) }
func (e *eventObj) value() (any, error)  { return noValue{"Event"}.value() }
func (e *eventObj) scan(func(string))    {}

// ---- Barrier

var barrierMethods = methodTable[*barrierObj]{
	"wait": func(b *barrierObj, c *Call) (any, error) {
		t, err := waitArgs(c)
		if err != nil {
			return nil, err
		}
		return b.wait(c.Context(), t)
	},
	"abort": func(b *barrierObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		b.abort()
		return pickle.None, nil
	},
	"reset": func(b *barrierObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		b.reset()
		return pickle.None, nil
	},
	"__getattribute__": func(b *barrierObj, c *Call) (any, error) {
		name, err := attrName(c, 1)
		if err != nil {
			return nil, err
		}
		switch name {
		case "parties":
			return b.parties, nil
		case "n_waiting":
			return b.nWaiting(), nil
		case "broken":
			return b.broken(), nil
		}
		return nil, pyErrf(excAttributeError, "'Barrier' object has no attribute '%s'", name)
	},
}

func (b *barrierObj) call(c *Call) (any, error) { return dispatch(barrierMethods, b, c, "Barrier") }

func (b *barrierObj) repr(id string) string {
	if b.broken() {
		return fmt.Sprintf("<threading.Barrier at 0x%s: broken>", id)
	}
	return fmt.Sprintf("<threading.Barrier at 0x%s: waiters=%d/%d>", id, b.nWaiting(), b.parties)
}

func (b *barrierObj) str(id string) string { return b.repr(id) }
func (b *barrierObj) value() (any, error)  { return noValue{"Barrier"}.value() }
func (b *barrierObj) scan(func(string))    {}

// ---- Queue, JoinableQueue

// queueGetArgs parses get(block=True, timeout=None).
func queueBlockArgs(c *Call, names []string) ([]any, bool, timeout, error) {
	a, err := c.Params(names, true, pickle.None)
	if err != nil {
		return nil, false, timeout{}, err
	}
	n := len(names)
	t, err := asTimeout(a[n-1])
	if err != nil {
		return nil, false, timeout{}, err
	}
	return a, truth(a[n-2]), t, nil
}

var queueMethods = methodTable[*queueObj]{
	"put": func(q *queueObj, c *Call) (any, error) {
		a, block, t, err := queueBlockArgs(c, []string{"item", "block", "timeout"})
		if err != nil {
			return nil, err
		}
		return pickle.None, q.put(c.Context(), a[0], block, t)
	},
	"put_nowait": func(q *queueObj, c *Call) (any, error) {
		a, err := c.Params([]string{"item"})
		if err != nil {
			return nil, err
		}
		return pickle.None, q.put(c.Context(), a[0], false, timeout{})
	},
	"get": func(q *queueObj, c *Call) (any, error) {
		_, block, t, err := queueBlockArgs(c, []string{"block", "timeout"})
		if err != nil {
			return nil, err
		}
		return q.get(c.Context(), block, t)
	},
	"get_nowait": func(q *queueObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return q.get(c.Context(), false, timeout{})
	},
	"qsize": func(q *queueObj, c *Call) (any, error) {
		n, _ := q.stats()
		return int64(n), c.noArgs()
	},
	"empty": func(q *queueObj, c *Call) (any, error) {
		n, _ := q.stats()
		return n == 0, c.noArgs()
	},
	"full": func(q *queueObj, c *Call) (any, error) {
		_, full := q.stats()
		return full, c.noArgs()
	},
	"task_done": func(q *queueObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.None, q.taskDone()
	},
	"join": func(q *queueObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.None, q.join(c.Context())
	},
	"shutdown": func(q *queueObj, c *Call) (any, error) {
		a, err := c.Params([]string{"immediate"}, false)
		if err != nil {
			return nil, err
		}
		q.stop(truth(a[0]))
		return pickle.None, nil
	},
}

func (q *queueObj) call(c *Call) (any, error) { return dispatch(queueMethods, q, c, "Queue") }

func (q *queueObj) repr(id string) string { return fmt.Sprintf("<queue.Queue object at 0x%s>", id) }
func (q *queueObj) str(id string) string  { return q.repr(id) }
func (q *queueObj) value() (any, error)   { return noValue{"_thread.lock"}.value() }
func (q *queueObj) scan(fn func(string))  { scanValue(pickle.Tuple(q.snapshot()), fn) }
