package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The manager's peer outside Python: a redis-server on loopback, started
// and stopped by the harness on a private port with persistence off, and
// spoken to by a minimal RESP client written here (no dependency). Skipped
// when redis-server is not installed.

// redisExe is the server binary (-redis).
var redisExe = "redis-server"

// needRedis is the Needs of the Redis sides.
func needRedis() string {
	if _, err := exec.LookPath(redisExe); err != nil {
		return "skipped: no " + redisExe + " on PATH"
	}
	return ""
}

// redisVersion extracts "7.0.15" from `redis-server --version`.
func redisVersion(out string) string {
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(out)
}

// redisServer is a redis-server started by the harness.
type redisServer struct {
	cmd    *exec.Cmd
	addr   string
	dir    string
	exited chan struct{} // closed once the server has been reaped
}

// startRedis starts redis-server on a free loopback port, with no
// snapshots, no append-only file and its working directory in a temporary
// directory, and waits until it answers PING.
func startRedis(ctx context.Context) (*redisServer, error) {
	path, err := exec.LookPath(redisExe)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "mproc-bench-redis-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", dir, "--logfile", "", "--loglevel", "warning")
	// The server dies with the harness, however the harness dies. The
	// parent-death signal follows the thread that forked, so fork from a
	// goroutine locked to its thread until the server has been reaped (the
	// pattern of process.Start's daemon children).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &redisServer{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits after the server
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(s.exited)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialRedis(s.addr)
		if err == nil {
			_, err = c.do("PING")
			c.close()
			if err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("redis-server did not answer on %s: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting: no event to wait on
	}
}

// stop terminates the server and removes its directory.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
}

// redisConn is a minimal RESP2 client: one request, one reply.
type redisConn struct {
	c  net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
	nb []byte
}

func dialRedis(addr string) (*redisConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &redisConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

func (c *redisConn) close() { c.c.Close() }

// do sends one command and returns its reply: a string for simple and
// bulk strings, an int64 for integers, nil for a null bulk string.
func (c *redisConn) do(args ...string) (any, error) {
	c.nb = c.nb[:0]
	c.nb = append(c.nb, '*')
	c.nb = strconv.AppendInt(c.nb, int64(len(args)), 10)
	c.nb = append(c.nb, '\r', '\n')
	for _, a := range args {
		c.nb = append(c.nb, '$')
		c.nb = strconv.AppendInt(c.nb, int64(len(a)), 10)
		c.nb = append(c.nb, '\r', '\n')
		c.nb = append(c.nb, a...)
		c.nb = append(c.nb, '\r', '\n')
	}
	if _, err := c.w.Write(c.nb); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.reply()
}

func (c *redisConn) reply() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := readAll(c.r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, max(n, 0))
		for range n {
			v, err := c.reply()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: bad reply %q", line)
}

func readAll(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// redisSide is a Redis peer: prepare starts a server once per figure and
// connects one client; op runs one repetition's requests on it.
func redisSide(op func(c *redisConn, p Params) error) Side {
	return Side{
		Name:  "redis",
		Kind:  KindRedis,
		Needs: needRedis,
		Prepare: func(ctx context.Context, p Params) (RunFunc, func(), error) {
			s, err := startRedis(ctx)
			if err != nil {
				return nil, nil, err
			}
			c, err := dialRedis(s.addr)
			if err != nil {
				s.stop()
				return nil, nil, err
			}
			cleanup := func() { c.close(); s.stop() }
			run := func(ctx context.Context, p Params) (time.Duration, error) {
				if _, err := c.do("FLUSHALL"); err != nil {
					return 0, err
				}
				t0 := time.Now()
				err := op(c, p)
				return time.Since(t0), err
			}
			return run, cleanup, nil
		},
	}
}
