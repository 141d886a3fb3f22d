//go:build linux

package ctypes

import "sync/atomic"

// Integer is the set of element types the atomic functions accept: the
// 4- and 8-byte integers (and named types over them). Python cannot update
// a shared integer without a lock; these functions do it with one atomic
// instruction, atomic across processes as well as goroutines, with the
// sync/atomic memory-model guarantees (they are sequentially consistent).
type Integer interface {
	~int | ~uint | ~int32 | ~uint32 | ~int64 | ~uint64
}

// AtomicLoad atomically loads the value.
func AtomicLoad[T Integer](v *RawValue[T]) T {
	v.obj.live("RawValue")
	if v.w8 != nil {
		return T(atomic.LoadInt64(v.w8))
	}
	return T(atomic.LoadInt32(v.w4))
}

// AtomicStore atomically stores x.
func AtomicStore[T Integer](v *RawValue[T], x T) {
	v.obj.live("RawValue")
	if v.w8 != nil {
		atomic.StoreInt64(v.w8, int64(x))
		return
	}
	atomic.StoreInt32(v.w4, int32(x))
}

// AtomicAdd atomically adds delta (wrapping on overflow, as Go integers
// do) and returns the new value. To subtract from an unsigned value, add
// ^T(n-1).
func AtomicAdd[T Integer](v *RawValue[T], delta T) T {
	v.obj.live("RawValue")
	if v.w8 != nil {
		return T(atomic.AddInt64(v.w8, int64(delta)))
	}
	return T(atomic.AddInt32(v.w4, int32(delta)))
}

// AtomicSwap atomically stores x and returns the previous value.
func AtomicSwap[T Integer](v *RawValue[T], x T) T {
	v.obj.live("RawValue")
	if v.w8 != nil {
		return T(atomic.SwapInt64(v.w8, int64(x)))
	}
	return T(atomic.SwapInt32(v.w4, int32(x)))
}

// AtomicCompareAndSwap atomically replaces the value by new if it is old,
// and reports whether it did.
func AtomicCompareAndSwap[T Integer](v *RawValue[T], old, new T) bool {
	v.obj.live("RawValue")
	if v.w8 != nil {
		return atomic.CompareAndSwapInt64(v.w8, int64(old), int64(new))
	}
	return atomic.CompareAndSwapInt32(v.w4, int32(old), int32(new))
}

// AtomicLoadAt atomically loads element i. It panics if i is outside
// [0, Len), like indexing a slice.
func AtomicLoadAt[T Integer](a *RawArray[T], i int) T {
	a.obj.live("RawArray")
	if a.w8 != nil {
		return T(atomic.LoadInt64(&a.w8[i]))
	}
	return T(atomic.LoadInt32(&a.w4[i]))
}

// AtomicStoreAt atomically stores x into element i.
func AtomicStoreAt[T Integer](a *RawArray[T], i int, x T) {
	a.obj.live("RawArray")
	if a.w8 != nil {
		atomic.StoreInt64(&a.w8[i], int64(x))
		return
	}
	atomic.StoreInt32(&a.w4[i], int32(x))
}

// AtomicAddAt atomically adds delta to element i and returns the new
// value.
func AtomicAddAt[T Integer](a *RawArray[T], i int, delta T) T {
	a.obj.live("RawArray")
	if a.w8 != nil {
		return T(atomic.AddInt64(&a.w8[i], int64(delta)))
	}
	return T(atomic.AddInt32(&a.w4[i], int32(delta)))
}

// AtomicCompareAndSwapAt atomically replaces element i by new if it is
// old, and reports whether it did.
func AtomicCompareAndSwapAt[T Integer](a *RawArray[T], i int, old, new T) bool {
	a.obj.live("RawArray")
	if a.w8 != nil {
		return atomic.CompareAndSwapInt64(&a.w8[i], int64(old), int64(new))
	}
	return atomic.CompareAndSwapInt32(&a.w4[i], int32(old), int32(new))
}
