package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

// rec is the 64-byte item of the cross-process tests: producer, sequence
// number and a fill derived from both, so a torn item cannot pass check.
type rec struct {
	P, Seq int64
	Fill   [6]uint64
}

func mix(p, seq int64, i int) uint64 {
	x := uint64(p)*0x9e3779b97f4a7c15 ^ uint64(seq)*0xbf58476d1ce4e5b9 ^ uint64(i+1)*0x94d049bb133111eb
	x ^= x >> 31
	return x * 0xd6e8feb86659fd39
}

func makeRec(p, seq int64) rec {
	r := rec{P: p, Seq: seq}
	for i := range r.Fill {
		r.Fill[i] = mix(p, seq, i)
	}
	return r
}

func (r rec) ok() bool {
	for i, f := range r.Fill {
		if f != mix(r.P, r.Seq, i) {
			return false
		}
	}
	return true
}

// tally is a shared array of per-item delivery counts, one uint32 per
// (producer, seq), plus a violations counter at the end.
type tally struct {
	reg      *shm.Region
	per      int
	nprod    int
	countOff int
}

func newTally(t *testing.T, producers, per int) *tally {
	size := (producers*per + 16) * 4
	reg, err := shm.CreateObject(segName(t, "tally"), shm.KindRaw, 1, size, nil)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	return &tally{reg: reg, per: per, nprod: producers}
}

func openTally(h shm.Handle, producers, per int) (*tally, error) {
	reg, err := shm.Attach(h, (producers*per+16)*4)
	if err != nil {
		return nil, err
	}
	return &tally{reg: reg, per: per, nprod: producers}, nil
}

func (t *tally) slot(p, seq int64) *uint32 {
	return shm.Uint32(t.reg.Bytes(), int(p*int64(t.per)+seq)*4)
}

func (t *tally) violations() *uint32 { return shm.Uint32(t.reg.Bytes(), t.nprod*t.per*4) }

// aux returns the i-th spare counter after violations (i < 15).
func (t *tally) aux(i int) *uint32 { return shm.Uint32(t.reg.Bytes(), (t.nprod*t.per+1+i)*4) }

// record counts a delivery; it reports a violation (torn item, item out of
// range, or out of order for this consumer) in the shared counter.
func (t *tally) record(r rec, last []int64) {
	if !r.ok() || r.P < 0 || int(r.P) >= t.nprod || r.Seq < 0 || int(r.Seq) >= t.per || r.Seq <= last[r.P] {
		atomic.AddUint32(t.violations(), 1)
		return
	}
	last[r.P] = r.Seq
	atomic.AddUint32(t.slot(r.P, r.Seq), 1)
}

func newLast(n int) []int64 {
	l := make([]int64, n)
	for i := range l {
		l[i] = -1
	}
	return l
}

func init() {
	// q-produce HANDLE P COUNT BATCH: puts rec{P, 0..COUNT-1}, BATCH at a
	// time with PutMany (1 = Put).
	process.Register("q-produce", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		q, err := queue.Attach[rec](h, nil)
		if err != nil {
			return err
		}
		p, count, batch := int64(a.Int(1)), a.Int(2), a.Int(3)
		ctx := context.Background()
		if batch <= 1 {
			for i := 0; i < count; i++ {
				if err := q.Put(ctx, makeRec(p, int64(i))); err != nil {
					return err
				}
			}
			return nil
		}
		buf := make([]rec, batch)
		for i := 0; i < count; i += batch {
			m := min(batch, count-i)
			for j := 0; j < m; j++ {
				buf[j] = makeRec(p, int64(i+j))
			}
			if n, err := q.PutMany(ctx, buf[:m]); err != nil || n != m {
				return fmt.Errorf("PutMany: %d of %d: %v", n, m, err)
			}
		}
		return nil
	})
	// q-consume HANDLE TALLY PRODUCERS PER BATCH: gets until ErrClosed,
	// recording each item in the tally.
	process.Register("q-consume", func(a *process.Args) error {
		var h, th shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		if err := a.Decode(1, &th); err != nil {
			return err
		}
		q, err := queue.Attach[rec](h, nil)
		if err != nil {
			return err
		}
		tl, err := openTally(th, a.Int(2), a.Int(3))
		if err != nil {
			return err
		}
		last := newLast(a.Int(2))
		buf := make([]rec, max(a.Int(4), 1))
		for {
			n, err := q.GetMany(context.Background(), buf)
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			if err != nil {
				return err
			}
			for _, r := range buf[:n] {
				tl.record(r, last)
			}
		}
	})
}

func startProc(t *testing.T, fn string, args ...any) *process.Process {
	t.Helper()
	p, err := process.Start(fn, &process.Options{Args: args, Daemon: true})
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); p.JoinTimeout(5 * time.Second) })
	return p
}

func joinOK(t *testing.T, p *process.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	require.NoError(t, p.Join(ctx))
	code, done := p.ExitCode()
	require.True(t, done)
	require.Zero(t, code, "exit code of child %d", p.Pid())
}

// eventually waits (bounded) for cond, checking every millisecond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCrossProcess1P1C: one producer process, this process consuming;
// every item arrives once, in order, untorn. Put/Get and PutMany/GetMany.
func TestCrossProcess1P1C(t *testing.T) {
	for _, batch := range []int{1, 32} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			const count = 20000
			q, err := queue.New(segName(t), smallConfig[rec](16<<10, 0))
			require.NoError(t, err)
			defer q.Detach()
			p := startProc(t, "q-produce", q.Handle(), 0, count, batch)
			buf := make([]rec, batch)
			next := int64(0)
			ctx := t.Context()
			for next < count {
				n, err := q.GetMany(ctx, buf)
				require.NoError(t, err)
				for _, r := range buf[:n] {
					require.True(t, r.ok(), "torn item %+v", r)
					require.Equal(t, rec{P: 0, Seq: next}, rec{P: r.P, Seq: r.Seq})
					next++
				}
			}
			joinOK(t, p)
			assert.Equal(t, 0, q.Qsize())
		})
	}
}

// TestCrossProcess4P4C: four producer processes and four consumer
// processes; every item is delivered exactly once and each consumer sees
// each producer's items in order.
func TestCrossProcess4P4C(t *testing.T) {
	const producers, consumers, per = 4, 4, 5000
	q, err := queue.New(segName(t), smallConfig[rec](16<<10, 0))
	require.NoError(t, err)
	defer q.Detach()
	tl := newTally(t, producers, per)
	var prods []*process.Process
	for p := 0; p < producers; p++ {
		prods = append(prods, startProc(t, "q-produce", q.Handle(), p, per, 1+p%2*15))
	}
	var cons []*process.Process
	for c := 0; c < consumers; c++ {
		cons = append(cons, startProc(t, "q-consume", q.Handle(), tl.reg.Handle(), producers, per, 1+c%2*7))
	}
	for _, p := range prods {
		joinOK(t, p)
	}
	require.NoError(t, q.Close())
	for _, c := range cons {
		joinOK(t, c)
	}
	assert.Zero(t, atomic.LoadUint32(tl.violations()), "torn or out-of-order items")
	for p := int64(0); p < producers; p++ {
		for s := int64(0); s < per; s++ {
			if n := atomic.LoadUint32(tl.slot(p, s)); n != 1 {
				t.Fatalf("item %d/%d delivered %d times", p, s, n)
			}
		}
	}
	st := q.Stats()
	assert.Zero(t, st.Items)
	assert.Zero(t, st.Used)
	assert.Zero(t, st.LostPuts+st.LostGets)
}

func init() {
	// q-op KIND HANDLE TIMEOUTMS: one blocking call with a timeout, on a
	// Queue[int64]. Exit 0 if its outcome is the one KIND names:
	//   get-value: Get returns 7; get-timeout: Get times out (ErrEmpty);
	//   put-ok: Put(8) succeeds; put-timeout: Put times out (ErrFull);
	//   get-closed / put-closed: the call fails with ErrClosed.
	process.Register("q-op", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(1, &h); err != nil {
			return err
		}
		q, err := queue.Attach[int64](h, nil)
		if err != nil {
			return err
		}
		d := time.Duration(a.Int(2)) * time.Millisecond
		start := time.Now()
		var v int64
		switch kind := a.String(0); kind {
		case "get-value", "get-timeout", "get-closed":
			v, err = q.GetTimeout(d)
		case "put-ok", "put-timeout", "put-closed":
			err = q.PutTimeout(8, d)
		}
		took := time.Since(start)
		switch kind := a.String(0); {
		case kind == "get-value" && err == nil && v == 7,
			kind == "put-ok" && err == nil,
			kind == "get-closed" && errors.Is(err, queue.ErrClosed),
			kind == "put-closed" && errors.Is(err, queue.ErrClosed):
			return nil
		case kind == "get-timeout" && errors.Is(err, queue.ErrEmpty) && errors.Is(err, context.DeadlineExceeded) && took >= d,
			kind == "put-timeout" && errors.Is(err, queue.ErrFull) && errors.Is(err, context.DeadlineExceeded) && took >= d:
			return nil
		default:
			return fmt.Errorf("%s: value %d, error %v after %v", kind, v, err, took)
		}
	})
}

// TestCrossProcessTimeouts: blocking calls with timeouts, in both
// directions, released by this process or expiring.
func TestCrossProcessTimeouts(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()

	// A get blocked in another process is released by our put.
	p := startProc(t, "q-op", "get-value", q.Handle(), 10000)
	eventually(t, "the child to block in Get", func() bool { c, _, _ := queue.Sleepers(q); return c > 0 })
	require.NoError(t, q.Put(ctx, 7))
	joinOK(t, p)

	// A get with nothing to get times out.
	joinOK(t, startProc(t, "q-op", "get-timeout", q.Handle(), 50))

	// A put blocked on a full queue (maxsize 1) is released by our get.
	require.NoError(t, q.Put(ctx, 1))
	p = startProc(t, "q-op", "put-ok", q.Handle(), 10000)
	eventually(t, "the child to block in Put", func() bool { _, pr, _ := queue.Sleepers(q); return pr > 0 })
	v, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	joinOK(t, p)
	v, err = q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(8), v)

	// A put on a full queue times out and changes nothing.
	require.NoError(t, q.Put(ctx, 2))
	joinOK(t, startProc(t, "q-op", "put-timeout", q.Handle(), 50))
	assert.Equal(t, 1, q.Qsize())
}

// TestCrossProcessCloseWakes: Close releases processes blocked in Put (on
// a full queue) and in Get (on an empty one), all with ErrClosed.
func TestCrossProcessCloseWakes(t *testing.T) {
	// All children are seen asleep on the queues' events before Close.
	full, err := queue.New(segName(t, "full"), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer full.Detach()
	empty, err := queue.New(segName(t, "empty"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer empty.Detach()
	require.NoError(t, full.Put(t.Context(), 1))
	var procs []*process.Process
	for i := 0; i < 2; i++ {
		procs = append(procs, startProc(t, "q-op", "put-closed", full.Handle(), 60000),
			startProc(t, "q-op", "get-closed", empty.Handle(), 60000))
	}
	eventually(t, "all four children to block", func() bool {
		_, pr, _ := queue.Sleepers(full)
		c, _, _ := queue.Sleepers(empty)
		return pr == 2 && c == 2
	})
	require.NoError(t, full.Close())
	require.NoError(t, empty.Close())
	for _, p := range procs {
		joinOK(t, p)
	}
	v, err := full.Get(t.Context()) // the item put before Close is still there
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
}

func init() {
	// q-worker JOINABLE GO COUNT: waits for a go signal on GO, then gets
	// COUNT items from JOINABLE and marks each done.
	process.Register("q-worker", func(a *process.Args) error {
		var jh, gh shm.Handle
		if err := a.Decode(0, &jh); err != nil {
			return err
		}
		if err := a.Decode(1, &gh); err != nil {
			return err
		}
		jq, err := queue.AttachJoinable[int64](jh, nil)
		if err != nil {
			return err
		}
		gq, err := queue.Attach[int64](gh, nil)
		if err != nil {
			return err
		}
		ctx := context.Background()
		if _, err := gq.Get(ctx); err != nil {
			return err
		}
		for i := 0; i < a.Int(2); i++ {
			if _, err := jq.Get(ctx); err != nil {
				return err
			}
			if err := jq.TaskDone(); err != nil {
				return err
			}
		}
		if err := jq.TaskDone(); !errors.Is(err, queue.ErrTaskDone) {
			return fmt.Errorf("extra TaskDone: %v", err)
		}
		return nil
	})
}

// TestCrossProcessJoin: Join, blocked here, is released by TaskDone calls
// made in another process.
func TestCrossProcessJoin(t *testing.T) {
	jq, err := queue.NewJoinable(segName(t, "j"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer jq.Detach()
	gq, err := queue.New(segName(t, "go"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer gq.Detach()
	ctx := t.Context()
	for i := int64(0); i < 3; i++ {
		require.NoError(t, jq.Put(ctx, i))
	}
	p := startProc(t, "q-worker", jq.Handle(), gq.Handle(), 3)
	joined := make(chan error, 1)
	go func() { joined <- jq.Join(ctx) }()
	eventually(t, "Join to block", func() bool { _, _, j := queue.Sleepers(&jq.Queue); return j > 0 })
	select {
	case err := <-joined:
		t.Fatalf("Join returned early: %v", err)
	default:
	}
	require.NoError(t, gq.Put(ctx, 1))
	select {
	case err := <-joined:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Join not released by TaskDone in the other process")
	}
	joinOK(t, p)
	assert.Zero(t, jq.Unfinished())
}

func init() {
	// q-big HANDLE SIZE ZEROCOPY: puts one []byte item of SIZE bytes,
	// byte i = i*13 mod 251, with Put or Reserve/Commit.
	process.Register("q-big", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		q, err := queue.Attach[[]byte](h, nil)
		if err != nil {
			return err
		}
		n := a.Int(1)
		if a.Int(2) == 0 {
			return q.Put(context.Background(), bigItem(n))
		}
		res, err := q.Reserve(context.Background(), n)
		if err != nil {
			return err
		}
		copy(res.Bytes(), bigItem(n))
		return res.Commit()
	})
}

func bigItem(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 13 % 251)
	}
	return b
}

// TestCrossProcessHugeItem: an item four times the ring's size goes from
// another process to this one, by copy and by zero-copy, and its
// out-of-line segment is gone afterwards.
func TestCrossProcessHugeItem(t *testing.T) {
	const ring = 64 << 10
	name := segName(t)
	q, err := queue.New(name, smallConfig[[]byte](ring, 0))
	require.NoError(t, err)
	defer q.Detach()
	for _, zc := range []int{0, 1} {
		p := startProc(t, "q-big", q.Handle(), 4*ring, zc)
		if zc == 0 {
			got, err := q.Get(t.Context())
			require.NoError(t, err)
			require.Equal(t, bigItem(4*ring), got)
		} else {
			ref, err := q.GetRef(t.Context())
			require.NoError(t, err)
			require.Equal(t, bigItem(4*ring), ref.Bytes())
			require.NoError(t, ref.Release())
		}
		joinOK(t, p)
	}
	assertNoBlobs(t, name)
	assert.Zero(t, q.Stats().Used)
}
