//go:build linux

package process

import "errors"

// Sentinel errors returned (wrapped) by this package; test them with errors.Is.
var (
	// ErrNotRegistered reports that no function was registered under the
	// name given to Start.
	ErrNotRegistered = errors.New("process: function not registered")

	// ErrArgsTooLarge reports that the encoded arguments (or the name) do
	// not fit in one environment string. Linux limits each string to
	// MAX_ARG_STRLEN (128 KiB); pass large data through a file, a pipe or
	// shared memory instead.
	ErrArgsTooLarge = errors.New("process: arguments too large")

	// ErrNoArgument reports an argument or file index outside the range
	// the parent passed.
	ErrNoArgument = errors.New("process: no such argument")

	// ErrNotStarted reports a Join or a signal on a Process that Start did
	// not return (its zero value), as Python's join() before start() is
	// an AssertionError.
	ErrNotStarted = errors.New("process: process not started")
)
