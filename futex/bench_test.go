package futex_test

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/require"
)

// The ping-pong layout: word 0 ("ping", the parent's sequence number) and
// word 64 ("pong", the child's echo) on separate cache lines; word 128 set
// to 1 tells the child to stop.
const (
	offPing = 0
	offPong = 64
	offStop = 128
)

func init() {
	process.Register("futex-echo", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		spin := a.Int(1) == 1
		r, err := shm.Attach(h, 256)
		if err != nil {
			return err
		}
		defer r.Close()
		b := r.Bytes()
		ping, pong, stop := shm.Uint32(b, offPing), shm.Uint32(b, offPong), shm.Uint32(b, offStop)
		for seen := uint32(0); ; {
			v := atomic.LoadUint32(ping)
			for v == seen {
				if atomic.LoadUint32(stop) != 0 {
					return nil
				}
				if !spin {
					_ = futex.Wait(ping, seen, futex.DeadlineIn(time.Second))
				}
				v = atomic.LoadUint32(ping)
			}
			seen = v
			atomic.StoreUint32(pong, v)
			if !spin {
				futex.Wake(pong, 1)
			}
		}
	})
}

// BenchmarkRoundTrip is the hardware's cross-process hand-off: the parent
// bumps a word and the child echoes it on another, either sleeping and
// waking through futexes or spinning on the words without syscalls (one
// core each; on a loaded 2-core machine spinning degrades badly).
func BenchmarkRoundTrip(b *testing.B) {
	for _, mode := range []struct {
		name string
		spin bool
	}{{"futex", false}, {"spin", true}} {
		b.Run(mode.name, func(b *testing.B) {
			r := newWords(b)
			mem := r.Bytes()
			spin := 0
			if mode.spin {
				spin = 1
			}
			p, err := process.Start("futex-echo", &process.Options{Args: []any{r.Handle(), spin}, Stderr: os.Stderr})
			require.NoError(b, err)
			ping, pong, stop := shm.Uint32(mem, offPing), shm.Uint32(mem, offPong), shm.Uint32(mem, offStop)
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				atomic.StoreUint32(ping, uint32(i))
				if !mode.spin {
					futex.Wake(ping, 1)
				}
				for atomic.LoadUint32(pong) != uint32(i) {
					if !mode.spin {
						_ = futex.Wait(pong, uint32(i-1), futex.DeadlineIn(time.Second))
					}
				}
			}
			b.StopTimer()
			atomic.StoreUint32(stop, 1)
			futex.Wake(ping, 1)
			require.NoError(b, p.Join(b.Context()))
		})
	}
}
