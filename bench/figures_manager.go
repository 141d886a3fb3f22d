package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/mproc/mproc/manager"
)

// manager/: a SyncManager server in its own process and one client in the
// harness's process; every operation is one request and one reply. The
// -goclient figures put mproc's Go client against mproc's server, the
// -pyclient figures an unmodified Python client against mproc's server;
// the peers are Python's own server with Python's client, redis-server
// on loopback with a Go RESP client, and a raw socketpair round trip (the
// floor of any request).
//
// Work for Ops requests (pairs j = 0 .. Ops/2-1), the same on every side:
//
//	dict:      d["k{j%100}"] = j, then read it back      (Redis SET/GET)
//	list:      l.append(j), then read l[j]              (Redis RPUSH/LINDEX)
//	namespace: ns.x = j, then read ns.x                  (Redis HSET/HGET)

func init() {
	register(&Figure{
		Name:  "manager/dict-pipelined",
		Unit:  OpsPerSec,
		Doc:   "requests/s from one client to a manager server in another process, `ops`/2 pairs of d[\"k{j%100}\"] = j, then d[\"k{j%100}\"], with `batch` requests in flight: mproc's Go client sends a batch before reading its replies (Pipeline); Python's client cannot, it makes one call at a time; Redis pipelines `batch` commands",
		Quick: Params{Ops: 20_000, Size: 64, Procs: 1, Batch: 1000},
		Full:  Params{Ops: 60_000, Size: 64, Procs: 1, Batch: 1000},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc manager", Kind: KindMproc, Prepare: managerSide(managerDictPipelined)},
			pySide("fig_manager.py"),
			redisSide(redisDictPipelined),
		},
	})
	register(&Figure{
		Name:  "manager/dict-procs8-pyclient",
		Unit:  OpsPerSec,
		Doc:   "requests/s, all processes together, from `procs` unmodified Python client processes (multiprocessing.managers, one call at a time each) to one manager server, each doing `ops`/`procs`/2 pairs of d[\"k{i}\"] = j, then d[\"k{i}\"] on one shared dict; mproc's side is the Python clients talking to mproc's server",
		Quick: Params{Ops: 8_000, Size: 64, Procs: 8},
		Full:  Params{Ops: 24_000, Size: 64, Procs: 8},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc server", Kind: KindMproc, Script: "fig_manager.py", PyExtra: managerForPython, Needs: needPython},
			pySide("fig_manager.py"),
		},
	})
	type kv struct {
		what  string
		doc   string
		redis func(c *redisConn, p Params) error
		go_   func(ctx context.Context, m *manager.Manager, p Params) (time.Duration, error)
	}
	for _, k := range []kv{
		{"dict", `d["k{j%100}"] = j, then d["k{j%100}"]`, redisDict, managerDict},
		{"list", "l.append(j), then l[j]", redisList, managerList},
		{"namespace", "ns.x = j, then ns.x", redisNamespace, managerNamespace},
	} {
		register(&Figure{
			Name:  "manager/" + k.what + "-goclient",
			Unit:  OpsPerSec,
			Doc:   "requests/s from a Go client to a manager server in another process, `ops`/2 pairs of " + k.doc,
			Quick: Params{Ops: 2_000, Size: 64, Procs: 2},
			Full:  Params{Ops: 6_000, Size: 64, Procs: 2},
			Work:  perOp,
			Sides: []Side{
				{Name: "mproc manager", Kind: KindMproc, Prepare: managerSide(k.go_)},
				pySide("fig_manager.py"),
				redisSide(k.redis),
				{Name: "socketpair rtt", Kind: KindLimit, Run: socketRun(true)},
			},
		})
		register(&Figure{
			Name:  "manager/" + k.what + "-pyclient",
			Unit:  OpsPerSec,
			Doc:   "requests/s from an unmodified Python client (multiprocessing.managers) to a manager server in another process, `ops`/2 pairs of " + k.doc + "; mproc's side is the Python client talking to mproc's server",
			Quick: Params{Ops: 2_000, Size: 64, Procs: 2},
			Full:  Params{Ops: 6_000, Size: 64, Procs: 2},
			Work:  perOp,
			Sides: []Side{
				{Name: "mproc server", Kind: KindMproc, Script: "fig_manager.py", PyExtra: managerForPython, Needs: needPython},
				pySide("fig_manager.py"),
			},
		})
	}
}

// managerSide starts mproc's manager server in a child process once per
// figure (manager.Start, Python's manager.start()) with a Go client in
// this process; each repetition makes a fresh proxy (not timed) and runs
// op on it.
func managerSide(op func(ctx context.Context, m *manager.Manager, p Params) (time.Duration, error)) func(ctx context.Context, p Params) (RunFunc, func(), error) {
	return func(ctx context.Context, p Params) (RunFunc, func(), error) {
		m, err := manager.Start(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		cleanup := func() {
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = m.Shutdown(sctx)
		}
		run := func(ctx context.Context, p Params) (time.Duration, error) { return op(ctx, m, p) }
		return run, cleanup, nil
	}
}

// managerForPython starts mproc's manager server for the -pyclient
// figures and passes its address and authkey to the Python client.
func managerForPython(ctx context.Context, p Params) ([]string, func(), error) {
	m, err := manager.Start(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = m.Shutdown(sctx)
	}
	return []string{"--address", m.Address().String(), "--authkey", hex.EncodeToString(m.Authkey())}, cleanup, nil
}

func managerDict(ctx context.Context, m *manager.Manager, p Params) (time.Duration, error) {
	d, err := m.Dict(ctx)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for j := range p.Ops / 2 {
		k := "k" + strconv.Itoa(j%100)
		if err := d.Set(ctx, k, j); err != nil {
			return 0, err
		}
		var got int
		if err := d.Get(ctx, k, &got); err != nil {
			return 0, err
		}
		if got != j {
			return 0, fmt.Errorf("d[%q] is %d, want %d", k, got, j)
		}
	}
	return time.Since(t0), nil
}

func managerList(ctx context.Context, m *manager.Manager, p Params) (time.Duration, error) {
	l, err := m.List(ctx)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for j := range p.Ops / 2 {
		if err := l.Append(ctx, j); err != nil {
			return 0, err
		}
		var got int
		if err := l.Get(ctx, j, &got); err != nil {
			return 0, err
		}
		if got != j {
			return 0, fmt.Errorf("l[%d] is %d", j, got)
		}
	}
	return time.Since(t0), nil
}

func managerNamespace(ctx context.Context, m *manager.Manager, p Params) (time.Duration, error) {
	n, err := m.Namespace(ctx)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for j := range p.Ops / 2 {
		if err := n.Set(ctx, "x", j); err != nil {
			return 0, err
		}
		var got int
		if err := n.Get(ctx, "x", &got); err != nil {
			return 0, err
		}
		if got != j {
			return 0, fmt.Errorf("ns.x is %d, want %d", got, j)
		}
	}
	return time.Since(t0), nil
}

func redisDict(c *redisConn, p Params) error {
	for j := range p.Ops / 2 {
		k, v := "k"+strconv.Itoa(j%100), strconv.Itoa(j)
		if _, err := c.do("SET", k, v); err != nil {
			return err
		}
		if err := expectReply(c, v, "GET", k); err != nil {
			return err
		}
	}
	return nil
}

func redisList(c *redisConn, p Params) error {
	for j := range p.Ops / 2 {
		v := strconv.Itoa(j)
		if _, err := c.do("RPUSH", "l", v); err != nil {
			return err
		}
		if err := expectReply(c, v, "LINDEX", "l", v); err != nil {
			return err
		}
	}
	return nil
}

func redisNamespace(c *redisConn, p Params) error {
	for j := range p.Ops / 2 {
		v := strconv.Itoa(j)
		if _, err := c.do("HSET", "ns", "x", v); err != nil {
			return err
		}
		if err := expectReply(c, v, "HGET", "ns", "x"); err != nil {
			return err
		}
	}
	return nil
}

// expectReply sends a read and checks it returns want.
func expectReply(c *redisConn, want string, args ...string) error {
	got, err := c.do(args...)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("redis %v: got %v, want %s", args, got, want)
	}
	return nil
}

// managerDictPipelined is managerDict's work with p.Batch calls in flight
// on one connection.
func managerDictPipelined(ctx context.Context, m *manager.Manager, p Params) (time.Duration, error) {
	d, err := m.Dict(ctx)
	if err != nil {
		return 0, err
	}
	pl := m.Pipeline()
	gets := make([]*manager.Pending, 0, p.Batch)
	want := make([]int, 0, p.Batch)
	t0 := time.Now()
	for j := range p.Ops / 2 {
		k := "k" + strconv.Itoa(j%100)
		pl.Call(d.Proxy, "__setitem__", k, j)
		gets = append(gets, pl.Call(d.Proxy, "__getitem__", k))
		want = append(want, j)
		if pl.Len() < p.Batch && j != p.Ops/2-1 {
			continue
		}
		if err := pl.Flush(ctx); err != nil {
			return 0, err
		}
		for i, g := range gets {
			var got int
			if err := g.Decode(&got); err != nil {
				return 0, err
			}
			if got != want[i] {
				return 0, fmt.Errorf("pipelined read gave %d, want %d", got, want[i])
			}
		}
		gets, want = gets[:0], want[:0]
	}
	return time.Since(t0), nil
}

// redisDictPipelined is redisDict's work with p.Batch commands in flight.
func redisDictPipelined(c *redisConn, p Params) error {
	want := make([]string, 0, p.Batch)
	for j := range p.Ops / 2 {
		k, v := "k"+strconv.Itoa(j%100), strconv.Itoa(j)
		if err := redisQueue(c, "SET", k, v); err != nil {
			return err
		}
		if err := redisQueue(c, "GET", k); err != nil {
			return err
		}
		want = append(want, v)
		if len(want)*2 < p.Batch && j != p.Ops/2-1 {
			continue
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		for _, v := range want {
			if _, err := c.reply(); err != nil {
				return err
			}
			got, err := c.reply()
			if err != nil {
				return err
			}
			if got != v {
				return fmt.Errorf("redis pipelined GET gave %v, want %s", got, v)
			}
		}
		want = want[:0]
	}
	return nil
}

// redisQueue writes one command to c's buffer without flushing it.
func redisQueue(c *redisConn, args ...string) error {
	b := c.nb[:0]
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	c.nb = b
	_, err := c.w.Write(b)
	return err
}
