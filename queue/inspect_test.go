package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inspectName returns a segment name unique to this test, removed (with
// any blob of the queue) when the test ends.
func inspectName(t *testing.T, suffix string) string {
	n := fmt.Sprintf("qt-%d-inspect-%d-%s", os.Getpid(), len(t.Name()), suffix)
	t.Cleanup(func() {
		_ = shm.Unlink(n)
		blobs, _ := filepath.Glob(shm.Path(n) + ".blob-*")
		for _, b := range blobs {
			_ = os.Remove(b)
		}
	})
	return n
}

func inspectConfig[T any]() *queue.Config[T] {
	cfg := queue.DefaultConfig[T]()
	cfg.Capacity = 4096
	return cfg
}

// inspectQueue attaches h and decodes it; quiet says nothing else uses
// the queue, so its bytes must not change.
func inspectQueue(t *testing.T, h shm.Handle, quiet bool) queue.State {
	t.Helper()
	r, err := shm.Attach(h, 0)
	require.NoError(t, err)
	defer r.Close()
	before := slices.Clone(r.Bytes())
	st, err := queue.Inspect(r)
	require.NoError(t, err)
	if quiet {
		require.Equal(t, before, r.Bytes(), "Inspect changed the queue")
	}
	require.Equal(t, h.Kind, st.Kind)
	return st
}

func TestInspectQueue(t *testing.T) {
	cfg := inspectConfig[int64]()
	cfg.MaxSize = 10
	q, err := queue.New(inspectName(t, "q"), cfg)
	require.NoError(t, err)
	defer q.Detach()
	st := inspectQueue(t, q.Handle(), true)
	assert.Equal(t, 4096, st.Capacity)
	assert.Equal(t, 10, st.MaxSize)
	assert.Equal(t, 8, st.ItemSize)
	assert.Zero(t, st.Items)
	assert.Zero(t, st.Used)

	for i := range int64(5) {
		require.NoError(t, q.PutNowait(i))
	}
	for range 2 {
		_, err := q.GetNowait()
		require.NoError(t, err)
	}
	st = inspectQueue(t, q.Handle(), true)
	assert.Equal(t, 3, st.Items)
	assert.Equal(t, uint64(5), st.Puts)
	assert.Equal(t, 3, st.Records.Published)
	assert.Zero(t, st.Records.Reserved+st.Records.Claimed+st.Records.Lost)
	assert.Equal(t, 3*64, st.Used-64*st.Records.Done, "8-byte items take 64-byte records")
	assert.False(t, st.Partial)
	assert.Empty(t, st.Stuck)
	assert.Zero(t, st.ProducerLock)

	require.NoError(t, q.Close())
	assert.True(t, inspectQueue(t, q.Handle(), true).Closed)
}

func TestInspectWaiters(t *testing.T) {
	q, err := queue.New(inspectName(t, "q"), inspectConfig[int64]())
	require.NoError(t, err)
	defer q.Detach()
	got := make(chan error)
	go func() { _, err := q.Get(context.Background()); got <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for inspectQueue(t, q.Handle(), false).WaitingConsumers != 1 {
		require.True(t, time.Now().Before(deadline), "the consumer never showed as waiting")
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, q.PutNowait(1))
	require.NoError(t, <-got)
	st := inspectQueue(t, q.Handle(), true)
	assert.Zero(t, st.WaitingConsumers)
	assert.Zero(t, st.WaitingProducers)
}

func TestInspectJoinable(t *testing.T) {
	q, err := queue.NewJoinable(inspectName(t, "jq"), inspectConfig[string]())
	require.NoError(t, err)
	defer q.Detach()
	require.NoError(t, q.PutNowait("a"))
	require.NoError(t, q.PutNowait("b"))
	_, err = q.GetNowait()
	require.NoError(t, err)
	require.NoError(t, q.TaskDone())
	st := inspectQueue(t, q.Handle(), true)
	assert.Equal(t, 1, st.Items)
	assert.Equal(t, 1, st.Unfinished)
	assert.Equal(t, uint64(1), st.TasksDone)
	assert.Zero(t, st.ItemSize, "strings are encoded")
}

func init() {
	// Reserves a record in the []byte queue args[0] names and never
	// commits it: writes "ok" to fd 3, then blocks until killed.
	process.Register("queue-inspect-reserve", func(a *process.Args) error {
		q, err := queue.Open[[]byte](a.String(0), nil)
		if err != nil {
			return err
		}
		if _, err := q.Reserve(context.Background(), 10); err != nil {
			return err
		}
		if _, err := a.File(0).Write([]byte("ok")); err != nil {
			return err
		}
		select {}
	})
}

func TestInspectStuckReservation(t *testing.T) {
	name := inspectName(t, "q")
	q, err := queue.New(name, inspectConfig[[]byte]())
	require.NoError(t, err)
	defer q.Detach()
	require.NoError(t, q.PutNowait([]byte("before")))

	ready, readyW, err := os.Pipe()
	require.NoError(t, err)
	p, err := process.Start("queue-inspect-reserve", &process.Options{Args: []any{name}, Files: []*os.File{readyW}})
	require.NoError(t, err)
	readyW.Close()
	var b [2]byte
	_, err = ready.Read(b[:])
	ready.Close()
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(context.Background()))

	st := inspectQueue(t, q.Handle(), true)
	assert.Equal(t, 2, st.Items)
	assert.Equal(t, 1, st.Records.Published)
	assert.Equal(t, 1, st.Records.Reserved)
	require.Len(t, st.Stuck, 1)
	assert.Equal(t, "reserved", st.Stuck[0].State)
	assert.Equal(t, queue.Process{Pid: int32(p.Pid()), Alive: false}, st.Stuck[0].Owner)
	assert.Equal(t, uint64(1), st.Stuck[0].Seq)
	assert.Equal(t, uint64(10), st.Stuck[0].Length)
}

func TestInspectBlob(t *testing.T) {
	name := inspectName(t, "q")
	cfg := inspectConfig[[]byte]()
	cfg.MaxInline = 64
	q, err := queue.New(name, cfg)
	require.NoError(t, err)
	defer q.Detach()
	item := []byte(strings.Repeat("x", 1000))
	require.NoError(t, q.PutNowait(item))

	st := inspectQueue(t, q.Handle(), true)
	assert.Equal(t, 1, st.Records.Blobs)
	assert.Equal(t, 64, st.MaxInline)

	files, err := filepath.Glob(shm.Path(name) + ".blob-*")
	require.NoError(t, err)
	require.Len(t, files, 1)
	seg, err := shm.Open(strings.TrimPrefix(filepath.Base(files[0]), shm.Prefix), shm.KindBlob, 0)
	require.NoError(t, err)
	defer seg.Close()
	blob, err := queue.InspectBlob(seg.Payload())
	require.NoError(t, err)
	assert.Equal(t, q.Handle(), blob.Queue)
	assert.Equal(t, uint64(len(item)), blob.Length)

	_, err = queue.InspectBlob(make([]byte, 256))
	assert.ErrorIs(t, err, queue.ErrCorrupt)
	_, err = queue.InspectBlob(nil)
	assert.ErrorIs(t, err, queue.ErrCorrupt)
}

func TestInspectWrongObject(t *testing.T) {
	r, err := shm.CreateObject(inspectName(t, "raw"), shm.KindRaw, 1, 1024, nil)
	require.NoError(t, err)
	defer r.Close()
	_, err = queue.Inspect(r)
	assert.ErrorIs(t, err, shm.ErrKind)

	v2, err := shm.CreateObject(inspectName(t, "v2"), shm.KindQueue, queue.LayoutVersion+1, 1024, nil)
	require.NoError(t, err)
	defer v2.Close()
	_, err = queue.Inspect(v2)
	assert.ErrorIs(t, err, shm.ErrVersion)

	zero, err := shm.CreateObject(inspectName(t, "zero"), shm.KindQueue, queue.LayoutVersion, 1024, nil)
	require.NoError(t, err)
	defer zero.Close()
	_, err = queue.Inspect(zero)
	assert.ErrorIs(t, err, queue.ErrCorrupt)
}

// Inspect reads a queue's state without touching it.
func ExampleInspect() {
	name := fmt.Sprintf("example-inspect-%d", os.Getpid())
	q, err := queue.New[string](name, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Unlink()
	defer q.Detach()
	_ = q.PutNowait("job 1")
	_ = q.PutNowait("job 2")

	r, err := shm.Attach(q.Handle(), 0) // what a tool does, from any process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	st, err := queue.Inspect(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Kind, st.Items, st.Capacity, st.Records.Published)
	// Output: queue 2 4194304 2
}
