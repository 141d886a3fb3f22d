//go:build linux

package shm

import (
	"fmt"
	"unsafe"
)

// Typed views of shared bytes. These are the only places above the futex
// package where mproc turns bytes into typed words; every layout in the
// other packages goes through them. Each checks bounds and alignment and
// panics with a "shm: ..." message on a violation: a layout that asks for a
// word outside its block is a bug in mproc, not bad input (bad input is
// caught when a segment is opened, before any view is taken).
//
// The words are meant to be read and written with sync/atomic only: another
// process may write them at any moment.

func check(b []byte, off, size, align int) {
	if off < 0 || size < 0 || off > len(b) || len(b)-off < size {
		panic(fmt.Sprintf("shm: view [%d, %d) outside a %d-byte block", off, off+size, len(b)))
	}
	if align > 1 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align) != 0 ||
		align > 1 && off%align != 0 {
		panic(fmt.Sprintf("shm: view at offset %d is not %d-byte aligned", off, align))
	}
}

// Uint32 returns the 4-byte word at b[off:]. off must be 4-byte aligned.
func Uint32(b []byte, off int) *uint32 {
	check(b, off, 4, 4)
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// Int32 returns the 4-byte signed word at b[off:].
func Int32(b []byte, off int) *int32 {
	check(b, off, 4, 4)
	return (*int32)(unsafe.Pointer(&b[off]))
}

// Uint64 returns the 8-byte word at b[off:]. off must be 8-byte aligned.
func Uint64(b []byte, off int) *uint64 {
	check(b, off, 8, 8)
	return (*uint64)(unsafe.Pointer(&b[off]))
}

// Int64 returns the 8-byte signed word at b[off:].
func Int64(b []byte, off int) *int64 {
	check(b, off, 8, 8)
	return (*int64)(unsafe.Pointer(&b[off]))
}

// Pointer returns a *T over b[off:off+sizeof(T)], aligned for T.
//
// # Safety
//
// T must hold no Go pointers (no pointers, strings, slices, maps,
// interfaces, channels or funcs, directly or in fields): the garbage
// collector does not scan shared mappings and another process cannot follow
// this process's pointers. Callers validate T first (ctypes does, with
// reflection). The pointer is valid until the segment is closed.
func Pointer[T any](b []byte, off int) *T {
	var zero T
	check(b, off, int(unsafe.Sizeof(zero)), int(unsafe.Alignof(zero)))
	return (*T)(unsafe.Pointer(unsafe.SliceData(b[off:])))
}

// Slice returns a []T of n elements over b[off:], aligned for T. The same
// safety rules as Pointer apply.
func Slice[T any](b []byte, off, n int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n < 0 || size > 0 && n > (len(b)-off)/size {
		panic(fmt.Sprintf("shm: slice of %d elements of %d bytes at offset %d outside a %d-byte block", n, size, off, len(b)))
	}
	check(b, off, n*size, int(unsafe.Alignof(zero)))
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b[off:]))), n)
}
