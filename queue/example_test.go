package queue_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

func exampleName(s string) string { return fmt.Sprintf("example-%d-%s", os.Getpid(), s) }

// A Queue of a fixed-size struct: items are copied as bytes, in order.
func ExampleQueue() {
	type job struct {
		ID    int64
		Score float64
	}
	name := exampleName("jobs")
	q, err := queue.New[job](name, nil) // nil: DefaultConfig
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()

	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		q.Put(ctx, job{ID: i, Score: float64(i) / 2})
	}
	fmt.Println("qsize:", q.Qsize())
	for !q.Empty() {
		j, _ := q.Get(ctx)
		fmt.Println(j.ID, j.Score)
	}
	_, err = q.GetNowait()
	fmt.Println(err)
	// Output:
	// qsize: 3
	// 1 0.5
	// 2 1
	// 3 1.5
	// queue: empty
}

func init() {
	process.Register("example-worker", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		q, err := queue.AttachJoinable[string](h, nil)
		if err != nil {
			return err
		}
		defer q.Detach()
		for {
			s, err := q.Get(context.Background())
			if err != nil {
				return nil // closed and drained
			}
			fmt.Println("worker got", s)
			q.TaskDone()
		}
	})
}

// A JoinableQueue shared with a child process by handle: Join returns
// once the child has marked every item done.
func ExampleJoinableQueue() {
	q, err := queue.NewJoinable[string](exampleName("tasks"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	p, err := process.Start("example-worker", &process.Options{Args: []any{q.Handle()}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	q.PutMany(ctx, []string{"a", "b", "c"})
	q.Join(ctx)
	fmt.Println("all done:", q.Unfinished())
	q.Close() // the worker drains the queue, then gets ErrClosed
	p.Join(ctx)
	// Output:
	// worker got a
	// worker got b
	// worker got c
	// all done: 0
}

// A SimpleQueue has Python's four methods (and PutMany/GetMany).
func ExampleSimpleQueue() {
	q, err := queue.NewSimple[[]byte](exampleName("simple"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()
	q.Put(ctx, []byte("hello"))
	b, _ := q.Get(ctx)
	fmt.Println(string(b), q.Empty())
	// Output: hello true
}

// Config: a bounded queue with a small ring; items bigger than MaxInline
// go out of line, so they still fit.
func ExampleConfig() {
	cfg := queue.DefaultConfig[[]byte]()
	cfg.Capacity = 64 << 10
	cfg.MaxSize = 2
	q, err := queue.New(exampleName("config"), cfg)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()
	q.Put(ctx, make([]byte, 1<<20)) // 16 times the ring
	q.Put(ctx, []byte("small"))
	fmt.Println(q.PutNowait([]byte("third")))
	big, _ := q.Get(ctx)
	fmt.Println(len(big), q.Full())
	// Output:
	// queue: full
	// 1048576 false
}

// Zero-copy: write an item in place, read it in place.
func ExampleReservation() {
	q, err := queue.New[[]byte](exampleName("zc"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()

	res, _ := q.Reserve(ctx, 5)
	copy(res.Bytes(), "frame")
	res.Commit()

	ref, _ := q.GetRef(ctx)
	fmt.Println(string(ref.Bytes()))
	ref.Release()
	// Output: frame
}

// Ref is the consumer's half of zero-copy.
func ExampleRef() {
	q, err := queue.New[[]byte](exampleName("ref"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()
	q.Put(ctx, []byte("read in place"))
	ref, _ := q.GetRef(ctx)
	fmt.Println(strings.ToUpper(string(ref.Bytes()))) // valid until Release
	ref.Release()
	// Output: READ IN PLACE
}

type csvCodec struct{}

func (csvCodec) Encode(v []string) ([]byte, error) { return []byte(strings.Join(v, ",")), nil }
func (csvCodec) Decode(b []byte) ([]string, error) { return strings.Split(string(b), ","), nil }
func (csvCodec) Fingerprint() string               { return "csv" }

// A Codec of one's own; Fingerprint names it for the type check of Open.
func ExampleCodec() {
	cfg := queue.DefaultConfig[[]string]()
	cfg.Codec = csvCodec{}
	q, err := queue.New(exampleName("csv"), cfg)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	q.Put(context.Background(), []string{"a", "b"})
	v, _ := q.Get(context.Background())
	fmt.Println(v, len(v))
	// Output: [a b] 2
}

// RawCodec is what a pointer-free type gets by default; it refuses
// pointers.
func ExampleRawCodec() {
	_, err := queue.NewRawCodec[[4]float32]()
	fmt.Println(err)
	_, err = queue.NewRawCodec[*int]()
	fmt.Println(err)
	// Output:
	// <nil>
	// queue: item type mismatch: *int cannot be copied raw: *int is a ptr
}

// BytesCodec stores []byte items as they are (the default for []byte).
func ExampleBytesCodec() {
	b, _ := queue.BytesCodec{}.Encode([]byte("as is"))
	fmt.Println(string(b))
	// Output: as is
}

// PickleCodec is the default for other types: maps, strings, slices.
func ExamplePickleCodec() {
	q, err := queue.New[map[string]int](exampleName("pickle"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	q.Put(context.Background(), map[string]int{"x": 1})
	m, _ := q.Get(context.Background())
	fmt.Println(m["x"])
	// Output: 1
}

// Stats counts what went through, including items lost to dead processes.
func ExampleStats() {
	q, err := queue.New[int32](exampleName("stats"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	q.PutMany(context.Background(), []int32{1, 2, 3})
	st := q.Stats()
	fmt.Println(st.Items, st.Puts, st.LostPuts, st.LostGets)
	// Output: 3 3 0 0
}

// PutMany and GetMany move batches under one lock and one wake-up.
func ExampleQueue_PutMany() {
	q, err := queue.New[int64](exampleName("batch"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()
	n, _ := q.PutMany(ctx, []int64{1, 2, 3, 4, 5})
	fmt.Println("put", n)
	dst := make([]int64, 3)
	for !q.Empty() {
		k, _ := q.GetMany(ctx, dst)
		fmt.Println(dst[:k])
	}
	// Output:
	// put 5
	// [1 2 3]
	// [4 5]
}

// GetAppend takes []byte items into one reused buffer: no allocation per
// item.
func ExampleQueue_GetAppend() {
	q, err := queue.New[[]byte](exampleName("append"), nil)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()
	q.Put(ctx, []byte("first"))
	q.Put(ctx, []byte("second"))
	buf := make([]byte, 0, 64)
	for i := 0; i < 2; i++ {
		buf, _ = q.GetAppend(ctx, buf[:0])
		fmt.Println(string(buf))
	}
	// Output:
	// first
	// second
}

// A State counts the ring's records by state (RecordCounts) and lists
// records held by dead processes (Record, with their Process).
func ExampleState() {
	cfg := queue.DefaultConfig[[]byte]()
	cfg.Capacity = 4096
	q, err := queue.New(exampleName("state"), cfg)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	ctx := context.Background()
	q.Put(ctx, []byte("a"))
	q.Put(ctx, []byte("b"))
	ref, _ := q.GetRef(ctx) // claimed, not yet released
	res, _ := q.Reserve(ctx, 8)

	r, err := shm.Attach(q.Handle(), 0)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	st, _ := queue.Inspect(r)
	fmt.Printf("items %d, %+v\n", st.Items, st.Records)
	fmt.Println("stuck:", len(st.Stuck)) // all their owners (this process) live
	res.Commit()
	ref.Release()
	// Output:
	// items 2, {Reserved:1 Published:1 Claimed:1 Done:0 Lost:0 Pad:0 Blobs:0}
	// stuck: 0
}

// InspectBlob decodes the prefix of an out-of-line item's segment (Blob),
// as a tool listing /dev/shm would.
func ExampleInspectBlob() {
	cfg := queue.DefaultConfig[[]byte]()
	cfg.Capacity = 4096
	q, err := queue.New(exampleName("blob"), cfg)
	if err != nil {
		panic(err)
	}
	defer q.Unlink()
	defer q.Detach()
	res, _ := q.Reserve(context.Background(), 10000) // over MaxInline: out of line
	defer res.Abort()

	infos, _ := shm.List()
	for _, i := range infos {
		if i.Kind != shm.KindBlob || !strings.HasPrefix(i.Name, exampleName("blob")+".") {
			continue
		}
		seg, err := shm.Open(i.Name, shm.KindBlob, 0)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, err := queue.InspectBlob(seg.Payload())
		seg.Close()
		fmt.Println(b.Queue.Segment == exampleName("blob"), b.Length, err)
	}
	// Output: true 10000 <nil>
}
