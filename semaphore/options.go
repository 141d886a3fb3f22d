package semaphore

import (
	"fmt"
	"os"
	"time"
)

// An Option adjusts a constructor. Each option says which constructors
// take it; passing it to another is an error matching ErrInvalid, never
// silently ignored.
type Option func(*options)

type options struct {
	set        optSet
	mode       os.FileMode
	action     func() error
	timeout    time.Duration
	maxWaiters int
}

type optSet uint8

const (
	optMode optSet = 1 << iota
	optAction
	optTimeout
	optMaxWaiters
)

var optNames = map[optSet]string{
	optMode: "WithMode", optAction: "WithAction", optTimeout: "WithTimeout", optMaxWaiters: "WithMaxWaiters",
}

// WithMode sets the permission bits of a new named object's segment (the
// default is 0600: this user only). It applies to the New* constructors
// that take a name.
func WithMode(perm os.FileMode) Option {
	return func(o *options) { o.set |= optMode; o.mode = perm }
}

// WithAction gives a Barrier the function its last arriving party runs,
// once per generation, before any party is released. A function cannot
// travel between processes, so every process that makes or opens a
// Barrier supplies its own; the action runs in whichever process arrives
// last, and if that process supplied none, nothing runs for that
// generation. An error (or a panic) from the action breaks the barrier.
// It applies to NewBarrier, NewBarrierIn, OpenBarrier and AttachBarrier.
func WithAction(action func() error) Option {
	return func(o *options) { o.set |= optAction; o.action = action }
}

// WithTimeout sets a Barrier's default timeout: a Wait whose context has
// no deadline waits at most d, then breaks the barrier (Python's timeout
// argument). Given to NewBarrier or NewBarrierIn it is stored in the
// shared object, so every process that opens it inherits it; given to
// OpenBarrier or AttachBarrier it overrides the stored one for the
// returned object only. d <= 0 means no default timeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.set |= optTimeout; o.timeout = d }
}

// WithMaxWaiters sets how many goroutines, in all processes together, can
// wait on a Condition at once (default DefaultMaxWaiters, at most
// MaxWaiters). Each costs 16 bytes of shared memory. It applies to
// NewCondition and NewConditionIn.
func WithMaxWaiters(n int) Option {
	return func(o *options) { o.set |= optMaxWaiters; o.maxWaiters = n }
}

// buildOptions applies opts and rejects those that ctor does not take.
func buildOptions(ctor string, allowed optSet, opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: %s: nil Option", ErrInvalid, ctor)
		}
		before := o.set
		opt(o)
		if extra := o.set &^ before &^ allowed; extra != 0 {
			return nil, fmt.Errorf("%w: %s does not take %s", ErrInvalid, ctor, optNames[extra])
		}
	}
	return o, nil
}
