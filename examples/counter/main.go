// Command counter is the smallest mproc program: it creates a shared
// segment, starts four child processes (the same binary run again, as
// Python's "spawn" does) that each add to a counter in it 100,000 times, and
// prints the total, which is exact.
//
//	go run ./examples/counter
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync/atomic"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
)

const perChild = 100_000

func init() {
	process.Register("add", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		r, err := shm.Attach(h, 8)
		if err != nil {
			return err
		}
		defer r.Close()
		counter := shm.Uint64(r.Bytes(), 0)
		for i := 0; i < perChild; i++ {
			atomic.AddUint64(counter, 1)
		}
		return nil
	})
}

func main() {
	process.Main() // in a child, runs "add" and exits
	total, err := run(4)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("total = %d (want %d)\n", total, 4*perChild)
}

// run starts n children that add to one shared counter and returns the
// total once they have all exited.
func run(n int) (uint64, error) {
	name := fmt.Sprintf("counter-demo-%d", os.Getpid())
	r, err := shm.CreateObject(name, shm.KindRaw, 1, 64, nil)
	if err != nil {
		return 0, err
	}
	defer r.Unlink()
	defer r.Close()

	var children []*process.Process
	for i := 0; i < n; i++ {
		p, err := process.Start("add", &process.Options{Args: []any{r.Handle()}})
		if err != nil {
			return 0, err
		}
		children = append(children, p)
	}
	for _, p := range children {
		if err := p.Join(context.Background()); err != nil {
			return 0, err
		}
		code, _ := p.ExitCode()
		fmt.Printf("%s (pid %d) exited %d\n", p.Name(), p.Pid(), code)
		if code != 0 {
			return 0, fmt.Errorf("%s exited %d", p.Name(), code)
		}
	}
	return atomic.LoadUint64(shm.Uint64(r.Bytes(), 0)), nil
}
