//go:build !linux

package futex

// mproc needs Linux: futexes on shared mappings and /dev/shm.
var _ = mproc_requires_linux
