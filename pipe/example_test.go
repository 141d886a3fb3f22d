//go:build linux

package pipe_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
)

func ExamplePipe() {
	a, b, err := pipe.Pipe(true) // duplex: a socketpair
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	defer b.Close()
	a.SendBytes([]byte("ping"))
	msg, _ := b.RecvBytes(0)
	b.SendBytes(append(msg, " pong"...))
	reply, _ := a.RecvBytes(0)
	fmt.Printf("%s\n", reply)

	r, w, _ := pipe.Pipe(false) // one-way: r receives, w sends
	defer r.Close()
	fmt.Println(r.Readable(), r.Writable(), w.Readable(), w.Writable())
	w.Close()
	_, err = r.RecvBytes(0)
	fmt.Println(err == io.EOF)
	// Output:
	// ping pong
	// true false false true
	// true
}

func ExampleConn() {
	a, b, _ := pipe.Pipe(true)
	defer a.Close()
	defer b.Close()
	data := []byte("0123456789")
	a.SendBytesRange(data, 2, 3) // Python's send_bytes(data, 2, 3)
	a.SendBytes(nil)             // an empty message
	b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	for range 2 {
		m, err := b.RecvBytes(0)
		fmt.Printf("%q %v\n", m, err)
	}
	_, err := b.RecvBytes(0) // nothing more: the deadline passes
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded))
	// Output:
	// "234" <nil>
	// "" <nil>
	// true
}

func ExampleConn_RecvBytesInto() {
	a, b, _ := pipe.Pipe(true)
	defer a.Close()
	defer b.Close()
	a.SendBytes([]byte("short"))
	a.SendBytes([]byte("a longer message"))
	buf := make([]byte, 8)
	n, _ := b.RecvBytesInto(buf)
	fmt.Printf("%q\n", buf[:n])
	_, err := b.RecvBytesInto(buf)
	var tooShort *pipe.BufferTooShortError
	if errors.As(err, &tooShort) {
		fmt.Printf("too short; the message was %q\n", tooShort.Message)
	}
	// Output:
	// "short"
	// too short; the message was "a longer message"
}

func ExampleBufferTooShortError() {
	a, b, _ := pipe.Pipe(true)
	defer a.Close()
	defer b.Close()
	a.SendBytes([]byte("twelve bytes"))
	_, err := b.RecvBytesInto(make([]byte, 4))
	fmt.Println(errors.Is(err, pipe.ErrBufferTooShort), err)
	// Output:
	// true pipe: buffer too short: message of 12 bytes, buffer of 4
}

func ExampleConn_Poll() {
	a, b, _ := pipe.Pipe(true)
	defer a.Close()
	defer b.Close()
	ready, _ := b.Poll(0) // only check
	fmt.Println(ready)
	go a.SendBytes([]byte("later"))
	ready, _ = b.Poll(5 * time.Second) // wait up to 5 s
	fmt.Println(ready)
	// Output:
	// false
	// true
}

func ExampleWait() {
	var readers, writers []*pipe.Conn
	for range 3 {
		r, w, _ := pipe.Pipe(false)
		defer r.Close()
		defer w.Close()
		readers, writers = append(readers, r), append(writers, w)
	}
	writers[2].SendBytes([]byte("from 2"))
	writers[0].SendBytes([]byte("from 0"))
	ready, _ := pipe.Wait(readers, time.Second)
	for _, c := range ready {
		m, _ := c.RecvBytes(0)
		fmt.Printf("%s\n", m)
	}
	// Output:
	// from 0
	// from 2
}

func ExampleListen() {
	authkey := []byte("secret")
	dir, _ := os.MkdirTemp("", "pipe-example")
	defer os.RemoveAll(dir)
	// Python: Listener(address, authkey=...); "HOST:PORT" would be TCP.
	l, err := pipe.Listen(filepath.Join(dir, "sock"), authkey)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept() // authenticates the client
			if errors.Is(err, pipe.ErrClosed) {
				return
			}
			if err != nil {
				continue // a client that failed the handshake
			}
			m, _ := c.RecvBytes(0)
			c.SendBytes(append([]byte("hello, "), m...))
			c.Close()
		}
	}()
	c, err := pipe.Dial(l.Addr().String(), authkey) // Python: Client(address, authkey=...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SendBytes([]byte("gopher"))
	reply, _ := c.RecvBytes(0)
	fmt.Printf("%s\n", reply)

	_, err = pipe.Dial(l.Addr().String(), []byte("wrong"))
	fmt.Println(errors.Is(err, pipe.ErrAuthentication))
	// Output:
	// hello, gopher
	// true
}

func ExampleListener() {
	// A TCP listener on a free port that a Python client can reach with
	// Client(('127.0.0.1', port), authkey=b'secret').
	l, err := pipe.ListenNetwork("tcp", "127.0.0.1:0", []byte("secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	fmt.Println(l.Addr().Network())
	// Output: tcp
}

func ExampleConfig() {
	cfg := pipe.DefaultConfig()
	cfg.MaxMessageSize = 1000  // refuse messages over 1000 bytes
	cfg.LegacyChallenge = true // deliver Python 3.11's challenge
	a, b, err := cfg.Pipe(true)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	defer b.Close()
	a.SendBytes(make([]byte, 1001))
	_, err = b.RecvBytes(0)
	fmt.Println(errors.Is(err, pipe.ErrMessageTooLarge), b.Readable())

	cfg.ReadBufferSize = 1
	fmt.Println(errors.Is(cfg.Verify(), pipe.ErrConfig))
	// Output:
	// true false
	// true
}

func init() {
	process.Register("example-pipe-child", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		defer c.Close()
		m, err := c.RecvBytes(0)
		if err != nil {
			return err
		}
		return c.SendBytes(append([]byte("child got "), m...))
	})
}

func ExampleFromFile() {
	parent, child, _ := pipe.Pipe(true)
	defer parent.Close()
	f, _ := child.File() // a duplicate descriptor for the child process
	p, err := process.Start("example-pipe-child", &process.Options{Files: []*os.File{f}})
	f.Close()
	child.Close() // only the child holds that end now
	if err != nil {
		fmt.Println(err)
		return
	}
	parent.SendBytes([]byte("hello"))
	reply, _ := parent.RecvBytes(0)
	fmt.Printf("%s\n", reply)
	p.JoinTimeout(10 * time.Second)
	// Output: child got hello
}
