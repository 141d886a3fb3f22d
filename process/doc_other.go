//go:build !linux

package process

// mproc needs Linux: futexes on shared mappings, /dev/shm and /proc.
var _ = mproc_requires_linux
