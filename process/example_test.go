package process_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mproc/mproc/process"
)

// Functions a child can run are registered at init time, in the parent and
// in the child alike (they are the same binary). The program's main (here
// TestMain) calls process.Main first.
func init() {
	process.Register("example-greet", func(a *process.Args) error {
		var who string
		if err := a.Decode(0, &who); err != nil {
			return err
		}
		fmt.Printf("hello, %s, from a child\n", who)
		return nil
	})
	process.Register("example-report", func(a *process.Args) error {
		parent, _ := process.Parent()
		_, err := fmt.Fprintf(a.File(0), "%s started by %s", process.Current().Name, parent.Name)
		return err
	})
}

func ExampleStart() {
	p, err := process.Start("example-greet", &process.Options{Args: []any{"gopher"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Join(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	code, _ := p.ExitCode()
	fmt.Println("exit code", code)
	// Output:
	// hello, gopher, from a child
	// exit code 0
}

func ExampleArgs_File() {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	p, err := process.Start("example-report", &process.Options{
		Name:  "reporter",
		Files: []*os.File{w}, // fd 3 in the child, Args.File(0)
	})
	w.Close() // the child holds the only write end now
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := make([]byte, 100)
	n, _ := r.Read(msg)
	p.JoinTimeout(10 * time.Second)
	fmt.Println(string(msg[:n]))
	// Output: reporter started by MainProcess
}

func ExampleProcess_Join() {
	p, err := process.Start("example-greet", &process.Options{Args: []any{"world"}, Daemon: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Join(ctx); err != nil {
		// The deadline passed: the child still runs.
		_ = p.Kill()
		_ = p.Join(context.Background())
	}
	fmt.Println(p.ExitCode())
}

func ExampleCurrent() {
	fmt.Println(process.Current().Name)
	_, ok := process.Parent()
	fmt.Println(ok)
	// Output:
	// MainProcess
	// false
}

func ExampleActiveChildren() {
	for _, p := range process.ActiveChildren() {
		fmt.Println(p.Name(), p.Pid())
	}
}

func ExampleCPUCount() {
	workers := process.CPUCount()
	fmt.Println(workers >= 1)
	// Output: true
}
