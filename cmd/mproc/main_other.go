//go:build !linux

package main

// mproc needs Linux: futexes on shared mappings, /dev/shm and /proc.
var _ = mproc_requires_linux
