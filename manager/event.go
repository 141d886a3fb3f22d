//go:build linux

package manager

import (
	"context"
	"sync"
)

// eventObj is the referent of a managed Event: Python's threading.Event in
// the server.
//
// State: flag, guarded by mu. set makes it true and wakes every waiter;
// clear makes it false; wait returns at once when it is true, else sleeps
// until set, its timeout or its connection's end, and returns whether it
// was woken by set (Python returns the flag as the waiter saw it).
type eventObj struct {
	mu   sync.Mutex
	flag bool
	wait waitList
}

func (e *eventObj) isSet() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flag
}

func (e *eventObj) set() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flag = true
	e.wait.notify(-1)
}

func (e *eventObj) clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flag = false
}

// waitFor is Event.wait(timeout).
func (e *eventObj) waitFor(ctx context.Context, t timeout) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.flag {
		return true, nil
	}
	if t.set && t.d <= 0 {
		return false, nil
	}
	return e.wait.wait(ctx, &e.mu, deadlineOf(t))
}
