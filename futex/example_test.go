package futex_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
)

// The waiting loop every caller writes: re-read the word after every
// return, since wake-ups may be spurious.
func ExampleWait() {
	var ready uint32 // in real use, a word in a shared segment
	go func() {
		atomic.StoreUint32(&ready, 1)
		futex.Wake(&ready, 1)
	}()
	deadline := futex.DeadlineIn(5 * time.Second)
	for atomic.LoadUint32(&ready) == 0 {
		if err := futex.Wait(&ready, 0, deadline); err == futex.ErrTimeout {
			fmt.Println("timed out")
			return
		}
	}
	fmt.Println("ready")
	// Output: ready
}

func ExampleWait_timeout() {
	var word uint32
	err := futex.Wait(&word, 0, futex.DeadlineIn(time.Millisecond))
	fmt.Println(err)
	// Output: futex: wait timed out
}

func ExampleWake() {
	var word uint32
	fmt.Println(futex.Wake(&word, 1)) // nobody is waiting
	// Output: 0
}
