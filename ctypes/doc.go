//go:build linux

// Package ctypes is Python's multiprocessing.sharedctypes for Go: typed
// values and arrays in shared memory, raw or guarded by a shared lock,
// created in one process and opened by name or handle in another.
//
//	Python                               Go
//	RawValue(c_double, 1.5)              NewRawValue[float64]("x", 1.5, nil)
//	RawArray('i', 10)                    NewRawArray[int32]("a", 10, nil)
//	RawArray(Point, [...])               NewRawArrayFrom("pts", []Point{...}, nil)
//	Value('i', 7)                        NewValueTypecode("n", 'i', 7, nil)  (AnyValue)
//	                                     or NewValue[int32]("n", 7, nil)
//	Value(c_double, 0.0, lock=False)     NewValue[float64]("x", 0, &Options{NoLock: true})
//	Array('c', b'hi', lock=lock)         NewArrayTypecode("s", 'c', "hi", &Options{Lock: lock})
//	v.value, v.value = 3                 v.Get(), v.Set(3)
//	with v.get_lock(): v.value += 1      v.Do(func(p *int32) error { *p++; return nil })
//	arr[i], arr[:], arr[:] = xs          a.Get(i), a.ToSlice(), a.Assign(xs)
//	arr[i:j] = xs, xs[:] = arr[i:j]      raw.WriteAt(xs, i), raw.ReadAt(xs, i)
//	s.value, s.raw                       Chars(s).Value(), Chars(s).Raw()
//	copy(obj), synchronized(obj, lock)   Copy(obj, "name", nil), Synchronized(obj, lock)
//	(no equivalent)                      AtomicAdd(v, 1), AtomicCompareAndSwap(v, a, b)
//
// Every object can be made standalone (a segment of its own, NewX(name,
// ...), OpenX(name)) or in a shm.Arena (NewXIn(arena, ...)), and attached
// anywhere by its shm.Handle (AttachX(h)), which travels between processes
// as text.
//
// # Element types
//
// T is any fixed-size type without pointers: bool, integers, floats,
// complex numbers, fixed-size arrays and structs of those (the Go
// counterpart of a ctypes Structure). T is checked with reflection once,
// when first used; anything holding a pointer, string, slice, map,
// interface, channel, func or uintptr is refused with an error that names
// the field (see CheckType). The layout is Go's, which on linux/amd64 and
// linux/arm64 is C's for these types: each field at the next multiple of
// its alignment, the struct's size rounded up to its largest alignment.
// So a C program, or Python with a ctypes.Structure of the same fields in
// the same order, reads the same bytes.
//
// Objects record a fingerprint of their element type (size, alignment, a
// hash of the canonical layout, see Layout) and, when made from one, the
// Python typecode; opening with another type is an error matching
// ErrMismatch, never a reinterpretation.
//
// # Object layout
//
// An object's shared bytes are a 384-byte header (element fingerprint,
// count, the inconsistent mark, and the text of its lock's handle) followed
// by the elements, contiguous and 64-byte aligned. The header is described
// word by word in object.go.
//
// # Large arrays
//
// A process's first touch of each page of a mapping costs a page fault
// (4-13 µs a page on the paravirtualised VM measured; 8 MiB is 2,048
// pages). RawArray.Slice is the shared memory itself and is the fastest
// way to work on an array a process keeps using; Options.Populate (for the
// creator) and RawArray.Populate (for an opener) fault all pages in at
// once. A process that fills or reads a large array only once does better
// with RawArray.WriteAt and ReadAt, which copy chunks through the
// segment's file and never map the pages into it: a child filling 1M
// float64 and its parent summing them took 25 ms that way against 44 ms
// through populated mappings.
//
// # Locks
//
// Value and Array are guarded by a semaphore.Lock or semaphore.RLock (a new
// RLock by default, as in Python) whose handle the object records, so a
// process that opens the object uses the same lock. A process killed while
// holding the lock does not wedge the others: the next acquirer takes the
// lock over and the object is marked inconsistent until repaired (see
// Value).
//
// All of it is Linux only.
package ctypes
