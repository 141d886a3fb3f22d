//go:build linux

package manager_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
)

// Benchmarks. Each request is one managers-protocol round trip over a Unix
// socket (or loopback TCP); "child" runs the server in another process, as
// Python's Manager() does, "inproc" in this one.
//
//	go test -run '^$' -bench . -benchtime 20000x ./manager/

// benchManager returns a client of a server run the named way.
func benchManager(b *testing.B, where, network string) *manager.Manager {
	b.Helper()
	ctx := context.Background()
	cfg := manager.DefaultServerConfig()
	if network == "tcp" {
		cfg.Address = "127.0.0.1:0"
	} else {
		cfg.Address = filepath.Join(b.TempDir(), "b.sock")
	}
	if where == "child" {
		m, err := manager.Start(ctx, &manager.StartConfig{Server: cfg})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Shutdown(ctx) })
		return m
	}
	s := startServer(b, cfg)
	return connect(b, s, nil)
}

// BenchmarkDictSetGet is one d[k] = v or v = d[k] per op, one call at a
// time (the Go client's equivalent of Python's d[k] = v).
func BenchmarkDictSetGet(b *testing.B) {
	for _, where := range []string{"child", "inproc"} {
		for _, network := range []string{"unix", "tcp"} {
			b.Run(where+"/"+network, func(b *testing.B) {
				m := benchManager(b, where, network)
				ctx := context.Background()
				d, err := m.Dict(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := range b.N {
					k := "k" + strconv.Itoa(i/2%100)
					if i%2 == 0 {
						err = d.Set(ctx, k, i)
					} else {
						var v int
						err = d.Get(ctx, k, &v)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	}
}

// BenchmarkDictPipelined is the same work with 1,000 calls in flight on one
// connection (Pipeline).
func BenchmarkDictPipelined(b *testing.B) {
	for _, where := range []string{"child", "inproc"} {
		b.Run(where+"/unix", func(b *testing.B) {
			m := benchManager(b, where, "unix")
			ctx := context.Background()
			d, err := m.Dict(ctx)
			if err != nil {
				b.Fatal(err)
			}
			pl := m.Pipeline()
			b.ResetTimer()
			for i := range b.N {
				k := "k" + strconv.Itoa(i/2%100)
				if i%2 == 0 {
					pl.Call(d.Proxy, "__setitem__", k, i)
				} else {
					pl.Call(d.Proxy, "__getitem__", k)
				}
				if pl.Len() == 1000 || i == b.N-1 {
					if err := pl.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkGoClientPythonServer is BenchmarkDictSetGet's work against
// CPython's own server (the newest interpreter found), one call at a time
// and pipelined.
func BenchmarkGoClientPythonServer(b *testing.B) {
	pys := pythons(b)
	py := pys[len(pys)-1]
	key := manager.NewAuthkey()
	addr := pyServerB(b, py, key)
	ctx := context.Background()
	m, err := manager.Connect(ctx, addr, key, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	d, err := m.Dict(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("one-at-a-time", func(b *testing.B) {
		for i := range b.N {
			k := "k" + strconv.Itoa(i/2%100)
			if i%2 == 0 {
				err = d.Set(ctx, k, i)
			} else {
				var v int
				err = d.Get(ctx, k, &v)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("pipelined", func(b *testing.B) {
		pl := m.Pipeline()
		for i := range b.N {
			pl.Call(d.Proxy, "__setitem__", "k"+strconv.Itoa(i%100), i)
			if pl.Len() == 1000 || i == b.N-1 {
				if err := pl.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkPythonClient runs testdata/bench_client.py (an unmodified Python
// client, 1 and 8 processes) against the Go server and against CPython's
// own server, and reports each one's ops/s; b.N is ignored (each runs
// 20,000 operations).
func BenchmarkPythonClient(b *testing.B) {
	pys := pythons(b)
	py := pys[len(pys)-1]
	const ops = 20000
	for _, procs := range []int{1, 8} {
		for _, server := range []string{"go", "python"} {
			b.Run(fmt.Sprintf("%s-server/procs=%d", server, procs), func(b *testing.B) {
				var addr string
				var key []byte
				if server == "go" {
					cfg := manager.DefaultServerConfig()
					cfg.Address = filepath.Join(b.TempDir(), "g.sock")
					m, err := manager.Start(context.Background(), &manager.StartConfig{Server: cfg})
					if err != nil {
						b.Fatal(err)
					}
					defer m.Shutdown(context.Background())
					addr, key = m.Address().Addr, m.Authkey()
				} else {
					key = manager.NewAuthkey()
					addr = pyServerB(b, py, key)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, py.path, filepath.Join("testdata", "bench_client.py"),
					addr, hex.EncodeToString(key), strconv.Itoa(ops), strconv.Itoa(procs)).CombinedOutput()
				if err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
				f := strings.Fields(string(out))
				rate, _ := strconv.ParseFloat(strings.TrimPrefix(f[len(f)-1], "ops_per_sec="), 64)
				b.ReportMetric(rate, "ops/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
