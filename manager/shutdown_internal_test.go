package manager

import (
	"context"
	"testing"
	"time"

	"github.com/mproc/mproc/pickle"
)

// TestNoRequestServedAfterShutdownBegins: Shutdown shuts the connections
// one by one, so a client whose other calls already failed (their
// connections shut first) may send a request on a connection not yet
// shut. It must not be served: the client sees the server gone, not an
// answer from a server that is stopping. Two connections are checked: one
// in its stream of method calls (after accept_connection), and one whose
// first request (a public call, CPython's one-shot dispatch) comes only
// now. The hook runs between the start of the shutdown and the shutting
// of the connections; it sends both requests and waits until the server
// has dropped both (testHookDropped) or answered one.
func TestNoRequestServedAfterShutdownBegins(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.Address = t.TempDir() + "/m.sock"
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := Connect(ctx, s.Addr().String(), s.Authkey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stream, err := m.dial(ctx) // a connection of its own, as a pooled one would be
	if err != nil {
		t.Fatal(err)
	}
	defer stream.close()
	if _, _, err := stream.roundTrip(ctx, m, pickle.Tuple{pickle.None, callAcceptConnection, pickle.Tuple{"t"}, pickle.NewDict()}); err != nil {
		t.Fatal(err)
	}
	first, err := m.dial(ctx) // authenticated, no request yet
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	// The hook runs under the server's lock, which a connection's move
	// from its handshake to serving (takeOver) takes too: wait until every
	// connection has made it.
	for served := false; !served; {
		s.mu.Lock()
		served = len(s.conns) >= 3 // the session's, stream, first
		for sc := range s.conns {
			served = served && sc.wc != nil
		}
		s.mu.Unlock()
		if !served {
			if ctx.Err() != nil {
				t.Fatal("the connections were not all served within 20 s")
			}
			time.Sleep(time.Millisecond)
		}
	}

	dropped := make(chan struct{}, 2)
	testHookDropped = func() { dropped <- struct{}{} }
	testHookShutdown = func() {
		answered := make(chan []byte, 2)
		for _, r := range []struct {
			c   *clientConn
			req pickle.Tuple
		}{
			{stream, pickle.Tuple{"0", "__len__", pickle.Tuple{}, pickle.NewDict()}},
			{first, pickle.Tuple{pickle.None, callNumberOfObjects, pickle.Tuple{}, pickle.NewDict()}},
		} {
			b, err := pickle.Dumps(r.req, 2)
			if err == nil {
				err = r.c.wc.add(b)
			}
			if err == nil {
				err = r.c.wc.flush()
			}
			if err != nil {
				t.Errorf("send: %v", err)
				return
			}
			go func(c *clientConn) {
				c.wc.setDeadline(time.Now().Add(10 * time.Second))
				if reply, err := c.wc.recv(); err == nil {
					answered <- reply
				}
			}(r.c)
		}
		for range 2 {
			select {
			case <-dropped:
			case reply := <-answered:
				t.Errorf("a request sent after the shutdown began was answered (%q)", reply)
				return
			case <-time.After(10 * time.Second):
				t.Error("a request sent after the shutdown began was neither dropped nor answered in 10 s")
				return
			}
		}
	}
	defer func() { testHookShutdown, testHookDropped = nil, nil }()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
