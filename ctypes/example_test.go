//go:build linux

package ctypes_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// exampleName returns a segment name for an example, unique to this process.
func exampleName(what string) string { return fmt.Sprintf("example-%d-%s", os.Getpid(), what) }

func ExampleRawValue() {
	type Point struct{ X, Y float64 } // a ctypes.Structure with two c_double
	name := exampleName("rawvalue")
	p, err := ctypes.NewRawValue(name, Point{1, 2}, nil)
	if err != nil {
		panic(err)
	}
	defer p.Unlink()
	defer p.Close()

	// Another process would use ctypes.AttachRawValue[Point](handle).
	q, err := ctypes.OpenRawValue[Point](name)
	if err != nil {
		panic(err)
	}
	defer q.Close()
	q.Pointer().X = 10
	fmt.Println(p.Load())
	// Output: {10 2}
}

func ExampleAtomicAdd() {
	hits, err := ctypes.NewRawValue(exampleName("hits"), int64(0), nil)
	if err != nil {
		panic(err)
	}
	defer hits.Unlink()
	defer hits.Close()
	ctypes.AtomicAdd(hits, 5) // atomic across processes: no lock needed
	ctypes.AtomicCompareAndSwap(hits, 5, 7)
	fmt.Println(ctypes.AtomicLoad(hits))
	// Output: 7
}

func ExampleRawArray() {
	a, err := ctypes.NewRawArrayFrom(exampleName("rawarray"), []int32{3, 1, 2}, nil)
	if err != nil {
		panic(err)
	}
	defer a.Unlink()
	defer a.Close()
	s := a.Slice() // the shared memory itself, until Close
	s[0] = 30
	fmt.Println(a.Len(), a.At(0), a.ToSlice())
	fmt.Println(a.Assign([]int32{1, 2}) != nil) // wrong length
	// Output:
	// 3 30 [30 1 2]
	// true
}

// A process that fills a large array once (a worker writing its results)
// does it in chunks with WriteAt, which never maps the array's pages into
// it; the reader takes them back with ReadAt (or through Slice).
func ExampleRawArray_WriteAt() {
	a, err := ctypes.NewRawArray[float64](exampleName("writeat"), 10_000, nil)
	if err != nil {
		panic(err)
	}
	defer a.Unlink()
	defer a.Close()

	// In the worker (ctypes.AttachRawArray[float64](handle)):
	chunk := make([]float64, 4096)
	for at := 0; at < a.Len(); at += len(chunk) {
		n := min(len(chunk), a.Len()-at)
		for j := range chunk[:n] {
			chunk[j] = float64(at+j) / 2
		}
		if err := a.WriteAt(chunk[:n], at); err != nil {
			panic(err)
		}
	}

	// In the reader:
	last := make([]float64, 3)
	if err := a.ReadAt(last, a.Len()-3); err != nil {
		panic(err)
	}
	fmt.Println(last, a.At(1))
	fmt.Println(errors.Is(a.ReadAt(last, a.Len()-2), ctypes.ErrIndex))
	// Output:
	// [4998.5 4999 4999.5] 0.5
	// true
}

func ExampleValue() {
	// Python: counter = Value('q', 0); with counter.get_lock(): counter.value += 1
	counter, err := ctypes.NewValue(exampleName("counter"), int64(0), nil)
	if err != nil {
		panic(err)
	}
	defer counter.Unlink() // also removes the RLock it made
	defer counter.Close()
	err = counter.Do(func(p *int64) error {
		*p++
		return nil
	})
	if err != nil {
		panic(err)
	}
	n, _ := counter.Get()
	fmt.Println(n)
	// Output: 1
}

func ExampleValue_Inconsistent() {
	type Account struct{ A, B int64 } // invariant: A+B == 100
	v, err := ctypes.NewValue(exampleName("account"), Account{100, 0}, nil)
	if err != nil {
		panic(err)
	}
	defer v.Unlink()
	defer v.Close()
	// After a process died holding the lock, every operation returns an
	// error matching ctypes.ErrOwnerDied until the value is repaired.
	err = v.Do(func(p *Account) error {
		if v.Inconsistent() {
			p.B = 100 - p.A
			v.MarkConsistent()
		}
		p.A, p.B = p.A-10, p.B+10
		return nil
	})
	fmt.Println(err, errors.Is(err, ctypes.ErrOwnerDied))
	// Output: <nil> false
}

func ExampleArray() {
	lock, err := semaphore.NewLock(exampleName("lock"))
	if err != nil {
		panic(err)
	}
	defer lock.Unlink()
	defer lock.Close()
	// Python: Array('i', range(4), lock=lock)
	a, err := ctypes.NewArrayFrom(exampleName("array"), []int32{0, 1, 2, 3}, &ctypes.Options{Lock: lock})
	if err != nil {
		panic(err)
	}
	defer a.Unlink()
	defer a.Close()
	_ = a.Set(0, 10)
	_ = a.Do(func(s []int32) error {
		for i := range s {
			s[i] *= 2
		}
		return nil
	})
	all, _ := a.ToSlice()
	_, err = a.Get(4)
	fmt.Println(all, errors.Is(err, ctypes.ErrIndex))
	// Output: [20 2 4 6] true
}

func ExampleCharArray() {
	a, err := ctypes.NewArrayFrom(exampleName("chars"), []byte("hello"), nil)
	if err != nil {
		panic(err)
	}
	defer a.Unlink()
	defer a.Close()
	s := ctypes.Chars(a)
	_ = s.SetValue([]byte("hi"))
	v, _ := s.Value()
	raw, _ := s.Raw()
	fmt.Printf("%q %q\n", v, raw)
	fmt.Println(errors.Is(s.SetValue([]byte("too long")), ctypes.ErrTooLong))
	// Output:
	// "hi" "hi\x00lo"
	// true
}

func ExampleWCharArray() {
	a, err := ctypes.NewArray[rune](exampleName("wchars"), 8, nil)
	if err != nil {
		panic(err)
	}
	defer a.Unlink()
	defer a.Close()
	w := ctypes.WChars(a)
	_ = w.SetValue("grüße")
	v, _ := w.Value()
	fmt.Println(v)
	// Output: grüße
}

func ExampleAnyValue() {
	// Python: n = Value('i', 7); n.value **= 2
	n, err := ctypes.NewValueTypecode(exampleName("n"), 'i', 7, nil)
	if err != nil {
		panic(err)
	}
	defer n.Unlink()
	defer n.Close()
	x, _ := n.Get()
	_ = n.Set(x.(int32) * x.(int32))
	x, _ = n.Get()
	fmt.Printf("%v %T %v\n", x, x, n.Typecode())
	// Output: 49 int32 'i'
}

func ExampleAnyArray() {
	// Python: s = Array('c', b'hello world'); s.value = s.value.upper()
	s, err := ctypes.NewArrayTypecode(exampleName("s"), 'c', "hello world", nil)
	if err != nil {
		panic(err)
	}
	defer s.Unlink()
	defer s.Close()
	v, _ := s.Value()
	_ = s.SetValue(bytes.ToUpper(v.([]byte)))
	v, _ = s.Value()
	fmt.Printf("%s %d\n", v, s.Len())
	// Output: HELLO WORLD 11
}

func ExampleTypecode() {
	for _, c := range []ctypes.Typecode{'l', 'u'} {
		fmt.Println(c, c.CType(), c.Size(), c.GoType())
	}
	_, err := ctypes.NewValueTypecode(exampleName("bad"), 'x', 0, nil)
	fmt.Println(err)
	// Output:
	// 'l' long 8 int64
	// 'u' wchar_t 4 int32
	// ctypes: unknown typecode 'x'; valid typecodes are 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd' 'c' 'u'
}

func ExampleCheckType() {
	type Record struct {
		ID   int64
		Name string
	}
	fmt.Println(ctypes.CheckType[Record]())
	type Fixed struct {
		ID   int64
		Name [16]byte
	}
	fmt.Println(ctypes.CheckType[Fixed]())
	// Output:
	// ctypes: type ctypes_test.Record: field Name is a string (shared memory holds no Go pointers; use a fixed-size byte array)
	// <nil>
}

func ExampleLayout() {
	type Sample struct {
		Flag  bool
		Value float64
		Count int32
	}
	l, _ := ctypes.Layout[Sample]()
	fmt.Println(l) // C layout: Value aligned to 8, size rounded up to 8
	// Output: {0:?,8:f8,16:i4}24
}

func ExampleCopy() {
	a, err := ctypes.NewRawArrayFrom(exampleName("orig"), []float64{1, 2}, nil)
	if err != nil {
		panic(err)
	}
	defer a.Unlink()
	defer a.Close()
	b, err := ctypes.Copy(a, exampleName("copy"), nil)
	if err != nil {
		panic(err)
	}
	defer b.Unlink()
	defer b.Close()
	a.Set(0, 100)
	fmt.Println(b.ToSlice())
	// Output: [1 2]
}

func ExampleSynchronized() {
	raw, err := ctypes.NewRawValue(exampleName("raw"), uint32(1), nil)
	if err != nil {
		panic(err)
	}
	defer raw.Unlink()
	lock, err := semaphore.NewRLock(exampleName("rlock"))
	if err != nil {
		panic(err)
	}
	defer lock.Unlink()
	defer lock.Close()
	v, err := ctypes.Synchronized(raw, lock)
	if err != nil {
		panic(err)
	}
	defer v.Close() // closes raw too
	_ = v.Do(func(p *uint32) error { *p += 41; return nil })
	fmt.Println(raw.Load())
	// Output: 42
}

func ExampleOptions() {
	// Values in an arena: one segment for many small objects, their
	// default RLocks included.
	arena, err := shm.NewArena(exampleName("arena"), 1<<16, nil)
	if err != nil {
		panic(err)
	}
	defer arena.Unlink()
	defer arena.Close()
	x, err := ctypes.NewValueIn(arena, 0.5, &ctypes.Options{NoLock: true}) // Python's lock=False
	if err != nil {
		panic(err)
	}
	defer x.Close()
	fmt.Println(x.GetLock() == nil, x.Handle().Segment == arena.Name())
	// Output: true true
}

func ExampleLocker() {
	v, err := ctypes.NewValue(exampleName("locker"), int64(5), nil)
	if err != nil {
		panic(err)
	}
	defer v.Unlink()
	defer v.Close()
	// Guard several operations at once (Python: with v.get_lock(): ...).
	// The default RLock lets Get and Set take it again.
	l := v.GetLock()
	l.Lock()
	x, _ := v.Get()
	_ = v.Set(x * 2)
	l.Unlock()
	fmt.Println(v.GetObj().Load(), l.Handle().Kind)
	// Output: 10 rlock
}

func ExampleError() {
	_, err := ctypes.NewRawArray[float64](exampleName("empty"), 0, nil)
	var e *ctypes.Error
	fmt.Println(errors.As(err, &e), e.Op, errors.Is(err, ctypes.ErrLength))
	// Output: true create true
}
