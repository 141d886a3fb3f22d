package queue_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

// The kill loop: producer and consumer processes are SIGKILLed at random
// moments while they work, and replaced, many times. Producers put with
// Put, PutMany or Reserve/Commit; consumers take with GetRef, Get or
// GetMany; some items travel out of line. Afterwards every item is
// accounted for, by name, under the rule the package documents:
//
//   - no item is delivered twice or torn, and each consumer sees each
//     producer's items in order;
//   - an item whose Put returned is delivered, unless a consumer that was
//     killed had taken it (claimed it, or got it) and not yet recorded
//     it. Each consumer names what it holds in a shared "holding" slot
//     right after its get returns, so such an item is named by its
//     holder; the few a consumer can hold before its slot is written are
//     unnamed, and bounded (1 for GetRef and Get, the batch for GetMany);
//   - an item never delivered whose Put did not return belongs to a
//     killed producer's put in flight (at most a PutMany batch);
//   - the queue's counters agree: puts reserved lie between the acked puts
//     and the acked puts plus the killed producers' puts in flight;
//     puts - lost puts - delivered - stop items (the items taken by
//     killed consumers) lies between the named and unnamed losses and
//     those plus the killed producers' puts in flight; lost gets (claims
//     of dead consumers, reaped) is at most that plus the killed GetRef
//     consumers that recorded their item and died before releasing it;
//   - the queue still works, and all its ring space comes back.

const (
	faultRing   = 16 << 10
	faultInline = 2 << 10
	faultBatch  = 8 // PutMany batch of the producers that use it
)

func faultConfig() *queue.Config[[]byte] {
	c := smallConfig[[]byte](faultRing, 0)
	c.MaxInline = faultInline
	return c
}

// faultItem is item seq of producer p: p, seq, then a body whose length
// and bytes derive from both (a few items go out of line).
func faultItem(p, seq int64) []byte {
	h := mix(p, seq, 99)
	n := int(h % 200)
	switch {
	case h%100 < 3:
		n = faultInline + int(h%3000)
	case h%100 < 15:
		n = 500 + int(h%1500)
	}
	b := make([]byte, 16+n)
	binary.LittleEndian.PutUint64(b, uint64(p))
	binary.LittleEndian.PutUint64(b[8:], uint64(seq))
	for i := 16; i < len(b); i++ {
		b[i] = byte(h>>(i%7*8) ^ uint64(i))
	}
	return b
}

func faultCheck(b []byte) (p, seq int64, ok bool) {
	if len(b) < 16 {
		return 0, 0, false
	}
	p, seq = int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if p < 0 { // a stop item
		return p, seq, len(b) == 16
	}
	want := faultItem(p, seq)
	if len(want) != len(b) {
		return p, seq, false
	}
	for i := range b {
		if b[i] != want[i] {
			return p, seq, false
		}
	}
	return p, seq, true
}

// faultTally is the fault test's shared bookkeeping, one KindRaw
// segment of uint32 words, then uint64 words:
//
//	counts[np*per]   deliveries of item (p, seq), +1 by the consumer
//	violations       torn, unknown, or out-of-order items seen
//	acked[np]        puts completed by producer instance p (a put counts
//	                 once its call has returned)
//	progress[nc]     items recorded by consumer instance c
//	stops            stop items taken
//	(pad to 8 bytes)
//	holding[nc*4]    items consumer c holds: (p<<32 | seq) + 1, 0 = none;
//	                 written right after a get returns, cleared once the
//	                 items are recorded (and, for GetRef, released)
type faultTally struct {
	*tally
	np, per, nc int
}

const faultHold = 4 // holding slots per consumer: the GetMany batch

func faultTallySize(np, per, nc int) int {
	return faultHoldOff(np, per, nc) + nc*faultHold*8
}

func faultHoldOff(np, per, nc int) int { return roundUp8((np*per + 1 + np + nc + 1) * 4) }

func roundUp8(n int) int { return (n + 7) &^ 7 }

func newFaultTally(t *testing.T, np, per, nc int) *faultTally {
	reg, err := shm.CreateObject(segName(t, "tally"), shm.KindRaw, 1, faultTallySize(np, per, nc), nil)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	return &faultTally{&tally{reg: reg, per: per, nprod: np}, np, per, nc}
}

func openFaultTally(h shm.Handle, np, per, nc int) (*faultTally, error) {
	reg, err := shm.Attach(h, faultTallySize(np, per, nc))
	if err != nil {
		return nil, err
	}
	return &faultTally{&tally{reg: reg, per: per, nprod: np}, np, per, nc}, nil
}

func (f *faultTally) acked(p int) *uint32 { return shm.Uint32(f.reg.Bytes(), (f.np*f.per+1+p)*4) }
func (f *faultTally) progress(c int) *uint32 {
	return shm.Uint32(f.reg.Bytes(), (f.np*f.per+1+f.np+c)*4)
}
func (f *faultTally) stops() *uint32 {
	return shm.Uint32(f.reg.Bytes(), (f.np*f.per+1+f.np+f.nc)*4)
}
func (f *faultTally) holding(c, i int) *uint64 {
	return shm.Uint64(f.reg.Bytes(), faultHoldOff(f.np, f.per, f.nc)+(c*faultHold+i)*8)
}

// Producer modes (instance % 3) and the most items each has in flight.
var faultInflight = [3]int{1, faultBatch, 1} // Put, PutMany, Reserve/Commit

// Consumer modes (instance % 3): GetRef, Get, GetMany of faultHold.
var faultMaxHeld = [3]int{1, 1, faultHold}

func init() {
	// f-produce QUEUE TALLY NP PER NC P: producer instance P puts its PER
	// items (by Put, PutMany or Reserve/Commit, by P%3), counting each
	// completed put in acked[P].
	process.Register("f-produce", func(a *process.Args) error {
		var qh, th shm.Handle
		if err := a.Decode(0, &qh); err != nil {
			return err
		}
		if err := a.Decode(1, &th); err != nil {
			return err
		}
		q, err := queue.Attach(qh, faultConfig())
		if err != nil {
			return err
		}
		tl, err := openFaultTally(th, a.Int(2), a.Int(3), a.Int(4))
		if err != nil {
			return err
		}
		per, p := a.Int(3), int64(a.Int(5))
		acked := tl.acked(int(p))
		ctx := context.Background()
		for s := 0; s < per; {
			switch p % 3 {
			case 0:
				if err := q.Put(ctx, faultItem(p, int64(s))); err != nil {
					return err
				}
				s++
			case 1:
				batch := make([][]byte, 0, faultBatch)
				for j := s; j < min(s+faultBatch, per); j++ {
					batch = append(batch, faultItem(p, int64(j)))
				}
				n, err := q.PutMany(ctx, batch)
				if err != nil {
					return err
				}
				s += n
			case 2:
				item := faultItem(p, int64(s))
				res, err := q.Reserve(ctx, len(item))
				if err != nil {
					return err
				}
				copy(res.Bytes(), item)
				if err := res.Commit(); err != nil {
					return err
				}
				s++
			}
			atomic.StoreUint32(acked, uint32(s))
		}
		return nil
	})
	// f-consume QUEUE TALLY NP PER NC C: consumer instance C takes items
	// (by GetRef, Get or GetMany, by C%3), names them in its holding
	// slots, records them, and clears the slots; it stops at a stop item.
	process.Register("f-consume", func(a *process.Args) error {
		var qh, th shm.Handle
		if err := a.Decode(0, &qh); err != nil {
			return err
		}
		if err := a.Decode(1, &th); err != nil {
			return err
		}
		q, err := queue.Attach(qh, faultConfig())
		if err != nil {
			return err
		}
		tl, err := openFaultTally(th, a.Int(2), a.Int(3), a.Int(4))
		if err != nil {
			return err
		}
		c := a.Int(5)
		progress := tl.progress(c)
		last := newLast(tl.np)
		ctx := context.Background()
		buf := make([][]byte, faultHold)
		for {
			var (
				items [][]byte
				ref   *queue.Ref
			)
			switch c % 3 {
			case 0:
				if ref, err = q.GetRef(ctx); err == nil {
					items = [][]byte{ref.Bytes()}
				}
			case 1:
				var it []byte
				if it, err = q.Get(ctx); err == nil {
					items = [][]byte{it}
				}
			case 2:
				var n int
				n, err = q.GetMany(ctx, buf)
				items = buf[:n]
			}
			if err != nil {
				return err
			}
			for i, it := range items {
				if p, seq, ok := faultCheck(it); ok && p >= 0 {
					atomic.StoreUint64(tl.holding(c, i), uint64(p)<<32|uint64(seq)+1)
				}
			}
			stop := false
			for _, it := range items {
				p, seq, ok := faultCheck(it)
				switch {
				case ok && p < 0:
					atomic.AddUint32(tl.stops(), 1)
					stop = true
				case !ok || p >= int64(tl.np) || seq < 0 || seq >= int64(tl.per) || seq <= last[p]:
					atomic.AddUint32(tl.violations(), 1)
				default:
					last[p] = seq
					atomic.AddUint32(tl.slot(p, seq), 1)
				}
				atomic.AddUint32(progress, 1)
			}
			if ref != nil {
				if err := ref.Release(); err != nil {
					return err
				}
			}
			for i := range items {
				atomic.StoreUint64(tl.holding(c, i), 0)
			}
			if stop {
				return nil
			}
		}
	})
}

type faultChild struct {
	p        *process.Process
	producer bool
	id       int
}

func TestFaultKillLoop(t *testing.T) {
	np, per, killP, killC := 32, 400, 16, 16
	if *soak {
		np, per, killP, killC = 320, 400, 160, 160
	}
	nc := killC + 2 // consumer instances: two, and one more per kill
	name := segName(t)
	q, err := queue.New(name, faultConfig())
	require.NoError(t, err)
	defer q.Detach()
	tl := newFaultTally(t, np, per, nc)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("%d producer instances of %d items, %d+%d kills, seed %d", np, per, killP, killC, seed)

	var live []*faultChild
	nextP, nextC := 0, 0
	killedP, killedC := map[int]bool{}, map[int]bool{}
	start := func(producer bool) {
		c := &faultChild{producer: producer}
		if producer {
			c.id = nextP
			nextP++
			c.p = startProc(t, "f-produce", q.Handle(), tl.reg.Handle(), np, per, nc, c.id)
		} else {
			c.id = nextC
			nextC++
			c.p = startProc(t, "f-consume", q.Handle(), tl.reg.Handle(), np, per, nc, c.id)
		}
		live = append(live, c)
	}
	for i := 0; i < 2; i++ {
		start(true)
		start(false)
	}
	reap := func() { // drop finished producers, keep two running
		for i := 0; i < len(live); {
			c := live[i]
			if code, done := c.p.ExitCode(); done {
				if !c.producer || code != 0 {
					t.Fatalf("child (producer %v) %d exited with %d", c.producer, c.id, code)
				}
				live = append(live[:i], live[i+1:]...)
				continue
			}
			i++
		}
		for n := countProducers(live); n < 2 && nextP < np; n++ {
			start(true)
		}
	}
	for len(killedP) < killP || len(killedC) < killC {
		reap()
		// Pick a victim that has made progress, so it is mid-work.
		c := live[rng.IntN(len(live))]
		if c.producer && (len(killedP) >= killP || nextP >= np) || !c.producer && len(killedC) >= killC {
			if countProducers(live) == 0 && nextP >= np {
				break
			}
			continue
		}
		if c.producer {
			waitProgress(tl.acked(c.id), c.p)
		} else {
			waitProgress(tl.progress(c.id), c.p)
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if err := c.p.Kill(); err != nil {
			if _, done := c.p.ExitCode(); done {
				continue // it finished first
			}
			require.NoError(t, err)
		}
		c.p.JoinTimeout(10 * time.Second)
		if code, _ := c.p.ExitCode(); code != -9 {
			continue // it finished before the signal (reap checks how)
		}
		for i := range live {
			if live[i] == c {
				live = append(live[:i], live[i+1:]...)
				break
			}
		}
		if c.producer {
			killedP[c.id] = true
		} else {
			killedC[c.id] = true
			start(false)
		}
	}
	// Let the remaining producers finish, then stop the consumers.
	for nextP < np || countProducers(live) > 0 {
		reap()
		for _, c := range live {
			if c.producer {
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				require.NoError(t, c.p.Join(ctx))
				cancel()
			}
		}
	}
	var consumers []*faultChild
	for _, c := range live {
		if !c.producer {
			consumers = append(consumers, c)
		}
	}
	// One stop item at a time: a GetMany consumer could take two at once.
	for i := range consumers {
		require.NoError(t, q.Put(t.Context(), faultStop()))
		eventually(t, "a consumer to take its stop item", func() bool { return int(atomic.LoadUint32(tl.stops())) > i })
	}
	for _, c := range consumers {
		joinOK(t, c.p)
	}
	st := q.Stats()
	require.Zero(t, st.Items, "queue drained")

	// The queue still works, and every byte of ring comes back: filling
	// it reaps what dead consumers still hold (LostGets is final after).
	ctx := t.Context()
	require.NoError(t, q.Put(ctx, []byte("alive")))
	got, err := q.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, []byte("alive"), got)
	n := 0
	for ; ; n++ {
		if err := q.PutNowait(nil); err != nil {
			require.ErrorIs(t, err, queue.ErrFull)
			break
		}
	}
	assert.Equal(t, faultRing/32, n, "the whole ring is free again")
	for i := 0; i < n; i++ {
		_, err := q.GetNowait()
		require.NoError(t, err)
	}
	after := q.Stats()
	assert.Zero(t, after.Used)
	assert.Equal(t, st.Puts+1+uint64(n), after.Puts)
	assert.Equal(t, st.LostPuts, after.LostPuts)

	// Account for every item.
	assert.Zero(t, atomic.LoadUint32(tl.violations()), "torn, unknown or out-of-order items")
	named := map[[2]int]int{} // items held by killed consumers -> holder
	maxLoss, unnamedBudget, recordedHeld := 0, 0, 0
	for c := range killedC {
		held := 0
		for i := 0; i < faultHold; i++ {
			if v := atomic.LoadUint64(tl.holding(c, i)); v != 0 {
				v--
				named[[2]int{int(v >> 32), int(uint32(v))}] = c
				held++
			}
		}
		maxLoss += faultMaxHeld[c%3]
		unnamedBudget += faultMaxHeld[c%3] - held
	}
	delivered, ackedSum, inflight := 0, 0, 0
	lostNamed, lostUnnamed, lostInFlight := 0, 0, 0
	for p := 0; p < np; p++ {
		a := int(atomic.LoadUint32(tl.acked(p)))
		ackedSum += a
		fl := 0
		if killedP[p] {
			fl = faultInflight[p%3]
		} else {
			require.Equal(t, per, a, "producer %d finished", p)
		}
		inflight += fl
		for s := 0; s < per; s++ {
			n := int(atomic.LoadUint32(tl.slot(int64(p), int64(s))))
			holder, isNamed := named[[2]int{p, s}]
			switch {
			case n > 1:
				t.Fatalf("item %d/%d delivered %d times", p, s, n)
			case n == 1 && s >= a+fl:
				t.Errorf("item %d/%d delivered but never put (acked %d)", p, s, a)
			case n == 1 && isNamed && holder%3 == 0:
				recordedHeld++ // a GetRef holder killed after recording
			case n == 0 && s >= a+fl:
				// never put: its producer was killed before
			case n == 0 && s >= a:
				lostInFlight++ // its put had not returned
			case n == 0 && isNamed:
				lostNamed++
			case n == 0:
				lostUnnamed++
			}
			delivered += n
		}
	}
	stops := int(atomic.LoadUint32(tl.stops()))
	require.Equal(t, len(consumers), stops)
	takenByKilled := int(st.Puts) - int(st.LostPuts) - delivered - stops
	t.Logf("puts %d (acked %d), delivered %d, stops %d, lost puts %d, lost gets %d; taken by killed consumers %d: %d named, %d unnamed (budget %d); %d in flight in killed producers; killed %d producers, %d consumers",
		st.Puts, ackedSum, delivered, stops, st.LostPuts, after.LostGets, takenByKilled, lostNamed, lostUnnamed, unnamedBudget, lostInFlight, len(killedP), len(killedC))
	assert.LessOrEqual(t, lostUnnamed, unnamedBudget, "undelivered items nobody is known to hold")
	assert.LessOrEqual(t, ackedSum+stops, int(st.Puts), "every acked put was reserved")
	assert.LessOrEqual(t, int(st.Puts), ackedSum+stops+inflight, "nothing reserved beyond the puts in flight")
	assert.LessOrEqual(t, int(st.LostPuts), lostInFlight, "lost puts are puts in flight")
	assert.GreaterOrEqual(t, takenByKilled, lostNamed+lostUnnamed)
	assert.LessOrEqual(t, takenByKilled, lostNamed+lostUnnamed+lostInFlight)
	assert.LessOrEqual(t, takenByKilled, maxLoss)
	assert.LessOrEqual(t, int(after.LostGets), takenByKilled+recordedHeld)
	assertNoBlobsAfter(t, name)
}

func faultStop() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, ^uint64(0))
	return b
}

func countProducers(live []*faultChild) int {
	n := 0
	for _, c := range live {
		if c.producer {
			n++
		}
	}
	return n
}

// waitProgress waits until a child has done some work (or exited).
func waitProgress(counter *uint32, p *process.Process) {
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadUint32(counter) == 0 && time.Now().Before(deadline) {
		if _, done := p.ExitCode(); done {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// assertNoBlobsAfter checks that none of the queue's out-of-line
// segments is left (and removes any): whoever finds a blob's owner dead
// unlinks the blob before it changes the record's state, so no kill
// leaves one behind.
func assertNoBlobsAfter(t *testing.T, name string) {
	t.Helper()
	infos, err := shm.List()
	require.NoError(t, err)
	for _, i := range infos {
		if len(i.Name) > len(name) && i.Name[:len(name)+1] == name+"." {
			t.Errorf("leftover blob %s (kind %v, creator %v alive %v, stale %v, err %v)", i.Name, i.Kind, i.Creator, i.CreatorAlive, i.Stale(), i.Err)
			_ = shm.Unlink(i.Name)
		}
	}
}
