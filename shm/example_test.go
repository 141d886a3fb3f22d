package shm_test

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// A segment holding one object, opened again by name and by handle.
func ExampleCreateObject() {
	name := fmt.Sprintf("example-%d", os.Getpid())
	r, err := shm.CreateObject(name, shm.KindRaw, 1, 64, &shm.CreateOptions{
		Init: func(b []byte) error { // runs before anyone else can open it
			atomic.StoreUint64(shm.Uint64(b, 0), 41)
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Unlink()
	defer r.Close()

	other, err := shm.Attach(r.Handle(), 8) // as another process would
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	atomic.AddUint64(shm.Uint64(other.Bytes(), 0), 1)
	fmt.Println(atomic.LoadUint64(shm.Uint64(r.Bytes(), 0)))
	// Output: 42
}

// Copying in and out through the segment file: the same bytes, without
// faulting the pages into this process.
func ExampleRegion_WriteAt() {
	r, err := shm.CreateObject(fmt.Sprintf("example-%d-writeat", os.Getpid()), shm.KindRaw, 1, 4096, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Unlink()
	defer r.Close()
	if _, err := r.WriteAt([]byte("hello"), 100); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(r.Bytes()[100:105]))
	buf := make([]byte, 8)
	n, err := r.ReadAt(buf, 4096-3) // io.ReaderAt: short at the end
	fmt.Println(n, err)
	// Output:
	// hello
	// 3 EOF
}

// Many small objects in one segment.
func ExampleArena() {
	name := fmt.Sprintf("example-arena-%d", os.Getpid())
	a, err := shm.NewArena(name, 64<<10, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Unlink()
	defer a.Close()
	for i := 0; i < 3; i++ {
		r, err := a.Alloc(shm.KindRaw, 1, 24, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		r.Close()
	}
	for _, b := range a.Blocks() {
		fmt.Println(b.Handle.Offset-a.Blocks()[0].Handle.Offset, b.Size, b.Complete)
	}
	// Output:
	// 0 64 true
	// 64 64 true
	// 128 64 true
}

func ExampleParseHandle() {
	h, err := shm.ParseHandle("jobs@0/lock/v1")
	fmt.Println(h.Segment, h.Offset, h.Kind, h.Version, err)
	_, err = shm.ParseHandle("jobs/lock")
	fmt.Println(err != nil)
	// Output:
	// jobs 0 lock 1 <nil>
	// true
}

// Finding leftovers of crashed processes.
func ExampleList() {
	infos, err := shm.List()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, i := range infos {
		if i.Stale() {
			fmt.Printf("%s: %v made by dead pid %d\n", i.Name, i.Kind, i.Creator.Pid)
		}
	}
}

func ExampleSelf() {
	me := shm.Self()
	fmt.Println(me.Pid == int32(os.Getpid()), me.Alive())
	// Output: true true
}
