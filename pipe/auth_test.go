//go:build linux

package pipe_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha3"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mproc/mproc/pipe"
)

var key = []byte("the key")

// addresses returns one address of every kind Listen takes.
func addresses(t testing.TB) [][2]string {
	abstract := fmt.Sprintf("mproc-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"))
	return [][2]string{
		{"unix", filepath.Join(t.TempDir(), "sock")},
		{"unix", "@" + abstract},
		{"unix", "\x00" + abstract + "-nul"},
		{"tcp", "127.0.0.1:0"},
	}
}

type acceptResult struct {
	c   *pipe.Conn
	err error
}

func acceptOne(l *pipe.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

// dialAddr is the address to dial for a listener: its bound address, in
// the form it was given for abstract names.
func dialAddr(l *pipe.Listener, network, given string) string {
	if network == "unix" && strings.HasPrefix(given, "\x00") {
		return given // Python's form works for Dial too
	}
	return l.Addr().String()
}

// TestHandshake: every combination of challenge styles and addresses
// authenticates, and the connection then carries messages both ways.
func TestHandshake(t *testing.T) {
	legacy := pipe.DefaultConfig()
	legacy.LegacyChallenge = true
	strict := pipe.DefaultConfig()
	strict.RefuseMD5 = true
	styles := map[string]*pipe.Config{"modern": nil, "legacy": legacy, "refuse-md5": strict}
	for _, addr := range addresses(t) {
		for sname, scfg := range styles {
			for cname, ccfg := range styles {
				if (sname == "refuse-md5" && cname == "legacy") || (cname == "refuse-md5" && sname == "legacy") {
					continue // refused on purpose, tested below
				}
				t.Run(fmt.Sprintf("%s%q/%s-server/%s-client", addr[0], addr[1][:1], sname, cname), func(t *testing.T) {
					l, err := scfg.ListenNetwork(addr[0], addr[1], key)
					must(t, err)
					defer l.Close()
					ch := acceptOne(l)
					c, err := ccfg.DialNetwork(addr[0], dialAddr(l, addr[0], addr[1]), key)
					must(t, err)
					defer c.Close()
					s := <-ch
					must(t, s.err)
					defer s.c.Close()
					if s.c.RemoteAddr() == nil || c.LocalAddr() == nil {
						t.Fatal("socket conns must have addresses")
					}
					must(t, c.SendBytes([]byte("hi")))
					got, err := s.c.RecvBytes(0)
					must(t, err)
					expectBytes(t, got, []byte("hi"))
					must(t, s.c.SendBytes([]byte("ho")))
					got, err = c.RecvBytes(0)
					must(t, err)
					expectBytes(t, got, []byte("ho"))
				})
			}
		}
	}
}

// TestWrongKey: both sides fail with ErrAuthentication, and the listener
// keeps accepting.
func TestWrongKey(t *testing.T) {
	for _, addr := range addresses(t) {
		t.Run(addr[0]+addr[1][:1], func(t *testing.T) {
			l, err := pipe.ListenNetwork(addr[0], addr[1], key)
			must(t, err)
			defer l.Close()
			ch := acceptOne(l)
			_, err = pipe.DialNetwork(addr[0], dialAddr(l, addr[0], addr[1]), []byte("wrong"))
			expectErr(t, err, pipe.ErrAuthentication)
			if !strings.Contains(err.Error(), "digest sent was rejected") {
				t.Fatalf("client error %q", err)
			}
			s := <-ch
			expectErr(t, s.err, pipe.ErrAuthentication)
			if !strings.Contains(s.err.Error(), "digest received was wrong") {
				t.Fatalf("server error %q", s.err)
			}
			// The listener still works.
			ch = acceptOne(l)
			c, err := pipe.DialNetwork(addr[0], dialAddr(l, addr[0], addr[1]), key)
			must(t, err)
			c.Close()
			s = <-ch
			must(t, s.err)
			s.c.Close()
		})
	}
}

// TestNoAuthkey: a nil authkey on both sides means no handshake at all; an
// empty key is a key.
func TestNoAuthkey(t *testing.T) {
	l, err := pipe.ListenNetwork("unix", filepath.Join(t.TempDir(), "s"), nil)
	must(t, err)
	defer l.Close()
	ch := acceptOne(l)
	c, err := pipe.DialNetwork("unix", l.Addr().String(), nil)
	must(t, err)
	defer c.Close()
	s := <-ch
	must(t, s.err)
	defer s.c.Close()
	must(t, c.SendBytes([]byte("plain")))
	got, err := s.c.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("plain")) // the first message is ours, not a challenge

	l2, err := pipe.ListenNetwork("unix", filepath.Join(t.TempDir(), "e"), []byte{})
	must(t, err)
	defer l2.Close()
	ch = acceptOne(l2)
	_, err = pipe.DialNetwork("unix", l2.Addr().String(), []byte("not empty"))
	expectErr(t, err, pipe.ErrAuthentication)
	expectErr(t, (<-ch).err, pipe.ErrAuthentication)
}

// rawServer listens without an authkey and hands each accepted connection
// to serve, playing a handshake by hand.
func rawServer(t *testing.T, serve func(c *pipe.Conn)) (addr string) {
	l, err := pipe.ListenNetwork("unix", filepath.Join(t.TempDir(), "raw"), nil)
	must(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		serve(c)
	}()
	t.Cleanup(func() { <-done; l.Close() })
	return l.Addr().String()
}

func hmacOf(h func() hash.Hash, k, msg []byte) []byte {
	m := hmac.New(h, k)
	m.Write(msg)
	return m.Sum(nil)
}

func recv(t *testing.T, c *pipe.Conn) []byte {
	t.Helper()
	b, err := c.RecvBytes(0)
	if err != nil {
		t.Errorf("raw peer: %v", err)
	}
	return b
}

// TestAnswerer plays challengers of every kind against Dial: the response
// must be exactly CPython 3.12's, and bad challenges must be refused
// without an answer.
func TestAnswerer(t *testing.T) {
	nonce := bytes.Repeat([]byte{0xA5}, 40)
	good := []struct {
		name string
		body []byte
		want func(body []byte) []byte
	}{
		{"legacy 20 bytes", nonce[:20], func(b []byte) []byte { return hmacOf(md5.New, key, b) }},
		{"sha256", append([]byte("{sha256}"), nonce...), func(b []byte) []byte {
			return append([]byte("{sha256}"), hmacOf(sha256.New, key, b)...)
		}},
		{"sha3_384", append([]byte("{sha3_384}"), nonce...), func(b []byte) []byte {
			return append([]byte("{sha3_384}"), hmacOf(func() hash.Hash { return sha3.New384() }, key, b)...)
		}},
		{"md5 prefixed", append([]byte("{md5}"), nonce...), func(b []byte) []byte {
			return append([]byte("{md5}"), hmacOf(md5.New, key, b)...)
		}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(c *pipe.Conn) {
				must(t, c.SendBytes(append([]byte("#CHALLENGE#"), tc.body...)))
				if got := recv(t, c); !bytes.Equal(got, tc.want(tc.body)) {
					t.Errorf("response %x, want %x", got, tc.want(tc.body))
				}
				must(t, c.SendBytes([]byte("#WELCOME#")))
				// Now the client challenges us; answer it correctly.
				ch := recv(t, c)
				body, ok := bytes.CutPrefix(ch, []byte("#CHALLENGE#"))
				if !ok || !bytes.HasPrefix(body, []byte("{sha256}")) || len(body) != 48 {
					t.Errorf("client challenge %q", ch)
				}
				must(t, c.SendBytes(append([]byte("{sha256}"), hmacOf(sha256.New, key, body)...)))
				if got := recv(t, c); string(got) != "#WELCOME#" {
					t.Errorf("client said %q", got)
				}
			})
			c, err := pipe.DialNetwork("unix", addr, key)
			must(t, err)
			c.Close()
		})
	}

	bad := []struct {
		name    string
		msg     []byte
		answers bool // the client answers, and is then refused
		reply   []byte
		errs    []error
	}{
		{"no prefix", append([]byte("#CHALLENGX#"), nonce...), false, nil, nil},
		{"too short", append([]byte("#CHALLENGE#"), nonce[:19]...), false, nil, nil},
		{"16 bytes", append([]byte("#CHALLENGE#"), nonce[:16]...), false, nil, nil}, // 3.12 refuses it too
		{"unknown digest", append([]byte("#CHALLENGE#{sha1}"), nonce...), false, nil, nil},
		{"no closing brace", append([]byte("#CHALLENGE#{sha256"), nonce...), false, nil, nil},
		{"brace too far", append([]byte("#CHALLENGE#{sha3_2566}"), nonce...), false, nil, nil},
		{"oversize challenge", append([]byte("#CHALLENGE#"), make([]byte, 300)...), false, nil, []error{pipe.ErrMessageTooLarge}},
		{"failure", append([]byte("#CHALLENGE#"), nonce[:20]...), true, []byte("#FAILURE#"), nil},
		{"oversize reply", append([]byte("#CHALLENGE#"), nonce[:20]...), true, make([]byte, 257), []error{pipe.ErrMessageTooLarge}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(c *pipe.Conn) {
				must(t, c.SendBytes(tc.msg))
				got, err := c.RecvBytes(0)
				if !tc.answers {
					if err != io.EOF {
						t.Errorf("client answered a bad challenge: %x, %v", got, err)
					}
					return
				}
				if err != nil {
					t.Error(err)
				}
				c.SendBytes(tc.reply)
			})
			_, err := pipe.DialNetwork("unix", addr, key)
			expectErr(t, err, append(tc.errs, pipe.ErrAuthentication)...)
		})
	}
}

// TestChallenger plays answerers of every kind against Accept.
func TestChallenger(t *testing.T) {
	respond := func(body []byte) map[string][]byte {
		return map[string][]byte{
			"md5 raw (3.11 client)": hmacOf(md5.New, key, body),
			"sha256":                append([]byte("{sha256}"), hmacOf(sha256.New, key, body)...),
			"sha3_256":              append([]byte("{sha3_256}"), hmacOf(func() hash.Hash { return sha3.New256() }, key, body)...),
			"md5 prefixed":          append([]byte("{md5}"), hmacOf(md5.New, key, body)...),
		}
	}
	for _, legacy := range []bool{false, true} {
		for _, refuse := range []bool{false, true} {
			for _, kind := range []string{"md5 raw (3.11 client)", "sha256", "sha3_256", "md5 prefixed"} {
				name := fmt.Sprintf("legacy=%v/refuseMD5=%v/%s", legacy, refuse, kind)
				t.Run(name, func(t *testing.T) {
					cfg := pipe.DefaultConfig()
					cfg.LegacyChallenge, cfg.RefuseMD5 = legacy, refuse
					l, err := cfg.ListenNetwork("unix", filepath.Join(t.TempDir(), "s"), key)
					must(t, err)
					defer l.Close()
					ch := acceptOne(l)
					c, err := pipe.DialNetwork("unix", l.Addr().String(), nil)
					must(t, err)
					defer c.Close()
					msg := recv(t, c)
					body, ok := bytes.CutPrefix(msg, []byte("#CHALLENGE#"))
					wantLen := 48
					if legacy {
						wantLen = 20
					}
					if !ok || len(body) != wantLen || (!legacy && !bytes.HasPrefix(body, []byte("{sha256}"))) {
						t.Fatalf("challenge %q", msg)
					}
					must(t, c.SendBytes(respond(body)[kind]))
					reply := recv(t, c)
					refused := refuse && strings.Contains(kind, "md5")
					if refused {
						if string(reply) != "#FAILURE#" {
							t.Fatalf("MD5 answer with RefuseMD5: server said %q", reply)
						}
						expectErr(t, (<-ch).err, pipe.ErrAuthentication)
						return
					}
					if string(reply) != "#WELCOME#" {
						t.Fatalf("server said %q", reply)
					}
					// The server's own answer to our challenge.
					must(t, c.SendBytes(append([]byte("#CHALLENGE#"), bytes.Repeat([]byte{1}, 20)...)))
					got, err := c.RecvBytes(0)
					if refuse {
						// A legacy challenge is not answered with RefuseMD5.
						if err != io.EOF {
							t.Fatalf("server answered a legacy challenge: %x, %v", got, err)
						}
						expectErr(t, (<-ch).err, pipe.ErrAuthentication)
						return
					}
					must(t, err)
					expectBytes(t, got, hmacOf(md5.New, key, bytes.Repeat([]byte{1}, 20)))
					must(t, c.SendBytes([]byte("#WELCOME#")))
					s := <-ch
					must(t, s.err)
					s.c.Close()
				})
			}
		}
	}

	// Malformed, wrong-length and oversize responses: #FAILURE# first.
	for _, tc := range []struct {
		name string
		resp []byte
		errs []error
	}{
		{"garbage", []byte("garbage that is not a digest"), nil},
		{"20 bytes", make([]byte, 20), nil},
		{"short sha256", append([]byte("{sha256}"), make([]byte, 31)...), nil},
		{"empty", nil, nil},
		{"oversize", make([]byte, 1000), []error{pipe.ErrMessageTooLarge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := pipe.ListenNetwork("unix", filepath.Join(t.TempDir(), "s"), key)
			must(t, err)
			defer l.Close()
			ch := acceptOne(l)
			c, err := pipe.DialNetwork("unix", l.Addr().String(), nil)
			must(t, err)
			defer c.Close()
			recv(t, c)
			must(t, c.SendBytes(tc.resp))
			if got := recv(t, c); string(got) != "#FAILURE#" {
				t.Fatalf("server said %q, want #FAILURE#", got)
			}
			expectErr(t, (<-ch).err, append(tc.errs, pipe.ErrAuthentication)...)
		})
	}
}

// TestHandshakeTimeouts: a silent client does not hold Accept beyond the
// handshake timeout, and a cancelled context stops DialContext.
func TestHandshakeTimeouts(t *testing.T) {
	cfg := pipe.DefaultConfig()
	cfg.HandshakeTimeout = 50 * time.Millisecond
	l, err := cfg.ListenNetwork("unix", filepath.Join(t.TempDir(), "s"), key)
	must(t, err)
	defer l.Close()
	ch := acceptOne(l)
	silent, err := pipe.DialNetwork("unix", l.Addr().String(), nil)
	must(t, err)
	defer silent.Close()
	recv(t, silent) // the challenge; never answered
	expectErr(t, (<-ch).err, os.ErrDeadlineExceeded)

	ch = acceptOne(l)
	c, err := pipe.DialNetwork("unix", l.Addr().String(), key)
	must(t, err)
	c.Close()
	must(t, (<-ch).err)

	// A server that never challenges.
	mute, err := pipe.ListenNetwork("unix", filepath.Join(t.TempDir(), "m"), nil)
	must(t, err)
	defer mute.Close()
	ch = acceptOne(mute)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitBlocked(t, "AnswerChallenge")
		cancel()
	}()
	_, err = pipe.DefaultConfig().DialContext(ctx, "unix", mute.Addr().String(), key)
	expectErr(t, err, context.Canceled)
	if s := <-ch; s.err == nil {
		s.c.Close()
	}

	_, err = pipe.DialNetwork("udp", "127.0.0.1:1", key)
	var une interface{ Error() string }
	if !errors.As(err, &une) || !strings.Contains(err.Error(), "unknown network") {
		t.Fatalf("udp: %v", err)
	}
}

// TestListenerClose: Accept returns ErrClosed, and a Unix path is removed.
func TestListenerClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := pipe.ListenNetwork("unix", path, key)
	must(t, err)
	ch := acceptOne(l)
	waitBlocked(t, "Listener).Accept")
	must(t, l.Close())
	expectErr(t, (<-ch).err, pipe.ErrClosed)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket path left behind: %v", err)
	}
}

// Listen and Dial read addresses as Python's Listener and Client take
// them (ParseAddress), for TCP, a Unix path and an abstract name.
func TestListenDialAddressForms(t *testing.T) {
	key := []byte("k")
	for _, addr := range []string{
		"127.0.0.1:0",
		filepath.Join(t.TempDir(), "s"),
		fmt.Sprintf("@mproc-test-%d", os.Getpid()),
		"unix:" + filepath.Join(t.TempDir(), "u"),
		"tcp:127.0.0.1:0",
	} {
		l, err := pipe.Listen(addr, key)
		if err != nil {
			t.Fatalf("Listen(%q): %v", addr, err)
		}
		errc := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				err = c.SendBytes([]byte("hi"))
				c.Close()
			}
			errc <- err
		}()
		at := l.Addr().String()
		c, err := pipe.Dial(at, key)
		if err != nil {
			t.Fatalf("Dial(%q) (listening on %q): %v", at, addr, err)
		}
		if m, err := c.RecvBytes(0); err != nil || string(m) != "hi" {
			t.Errorf("%s: received %q, %v", addr, m, err)
		}
		c.Close()
		if err := <-errc; err != nil {
			t.Errorf("%s: accept: %v", addr, err)
		}
		l.Close()
	}
	for _, tc := range []struct{ in, network, address string }{
		{"127.0.0.1:80", "tcp", "127.0.0.1:80"},
		{"[::1]:80", "tcp", "[::1]:80"},
		{"/tmp/s", "unix", "/tmp/s"},
		{"./s", "unix", "./s"},
		{"@abs", "unix", "@abs"},
		{"\x00abs", "unix", "\x00abs"},
		{"unix:s", "unix", "s"},
		{"tcp:localhost:1", "tcp", "localhost:1"},
	} {
		n, a, err := pipe.ParseAddress(tc.in)
		if err != nil || n != tc.network || a != tc.address {
			t.Errorf("ParseAddress(%q) = %q, %q, %v; want %q, %q", tc.in, n, a, err, tc.network, tc.address)
		}
	}
	for _, bad := range []string{"", "sock", "tcp:nohost", "host:port:extra", "unix:"} {
		if _, _, err := pipe.ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q): no error", bad)
		}
		if l, err := pipe.Listen(bad, key); err == nil {
			l.Close()
			t.Errorf("Listen(%q): no error", bad)
		}
	}
}
