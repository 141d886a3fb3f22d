package semaphore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/semaphore"
)

// With -race, the detector must see every primitive's happens-before
// edges between goroutines of one process: each case orders accesses to a
// plain Go variable only through the primitive (and the Lock/RLock cases
// are in lock_test.go and rlock_test.go). Without the annotations these
// are reported as races.
func TestRaceAnnotations(t *testing.T) {
	t.Run("Semaphore", func(t *testing.T) {
		s, err := semaphore.NewSemaphore(segName(t), 1)
		require.NoError(t, err)
		defer s.Close()
		plain := 0
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					require.NoError(t, s.Acquire(context.Background()))
					plain++
					require.NoError(t, s.Release())
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 400, plain)
	})
	t.Run("Event", func(t *testing.T) {
		e, err := semaphore.NewEvent(segName(t))
		require.NoError(t, err)
		defer e.Close()
		plain := 0
		done := make(chan int)
		go func() {
			e.Wait(context.Background())
			done <- plain
		}()
		plain = 42
		e.Set()
		assert.Equal(t, 42, <-done)
	})
	t.Run("Barrier", func(t *testing.T) {
		b, err := semaphore.NewBarrier(segName(t), 4)
		require.NoError(t, err)
		defer b.Close()
		plain := make([]int, 4)
		sums := make([]int, 4)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				plain[i] = i + 1
				_, err := b.Wait(context.Background())
				assert.NoError(t, err)
				for _, v := range plain {
					sums[i] += v
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, []int{10, 10, 10, 10}, sums)
	})
	t.Run("Condition", func(t *testing.T) {
		c, err := semaphore.NewCondition(segName(t), nil)
		require.NoError(t, err)
		defer c.Close()
		plain := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Lock()
			plain = 7
			assert.NoError(t, c.Notify(1))
			c.Unlock()
		}()
		c.Lock()
		ok, err := c.WaitFor(context.Background(), func() bool { return plain == 7 })
		c.Unlock()
		<-done
		assert.True(t, ok)
		assert.NoError(t, err)
	})
}
