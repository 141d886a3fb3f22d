//go:build linux

package process

import "sync"

// Func is the body of a child process. Returning nil exits 0; returning an
// error prints it to the child's standard error and exits 1.
type Func func(args *Args) error

var registry struct {
	mu    sync.RWMutex
	funcs map[string]Func
}

// Register makes fn available to Start under name. Call it from an init
// function (or from main before Main) so that the parent and every child
// register the same names. Register panics if name is empty, fn is nil or
// name is already registered: these are programming errors.
func Register(name string, fn Func) {
	if name == "" {
		panic("process: Register with an empty name")
	}
	if fn == nil {
		panic("process: Register of a nil Func for " + name)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, dup := registry.funcs[name]; dup {
		panic("process: Register called twice for " + name)
	}
	if registry.funcs == nil {
		registry.funcs = make(map[string]Func)
	}
	registry.funcs[name] = fn
}

// lookup returns the function registered under name, or nil.
func lookup(name string) Func {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.funcs[name]
}
