package manager

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/pickle"
)

// TestNoRequestServedAfterShutdownBegins: Shutdown shuts the connections
// one by one, so a client whose other calls already failed (their
// connections shut first) may send a request on a connection not yet
// shut. It must not be served: the client sees the server gone, not an
// answer from a server that is stopping. The hook runs between the start
// of the shutdown and the shutting of the connections.
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
	c, err := m.dial(ctx) // a connection of its own, as a pooled one would be
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if _, _, err := c.roundTrip(ctx, m, pickle.Tuple{pickle.None, callAcceptConnection, pickle.Tuple{"t"}, pickle.NewDict()}); err != nil {
		t.Fatal(err)
	}
	// The hook sends a request on a connection not yet shut and waits
	// until the server has either dropped it (testHookDropped) or answered
	// it; the 10 s deadline only guards against a hang.
	dropped := make(chan struct{})
	var once sync.Once
	testHookDropped = func() { once.Do(func() { close(dropped) }) }
	testHookShutdown = func() {
		req, err := pickle.Dumps(pickle.Tuple{"0", "__len__", pickle.Tuple{}, pickle.NewDict()}, 2)
		if err == nil {
			err = c.wc.add(req)
		}
		if err == nil {
			err = c.wc.flush()
		}
		if err != nil {
			t.Errorf("send: %v", err)
			return
		}
		answered := make(chan []byte, 1)
		go func() {
			c.wc.setDeadline(time.Now().Add(10 * time.Second))
			reply, err := c.wc.recv()
			if err == nil {
				answered <- reply
			}
			close(answered)
		}()
		select {
		case <-dropped:
		case reply, ok := <-answered:
			if ok {
				t.Errorf("a request sent after the shutdown began was answered (%q)", reply)
			} else {
				t.Error("the connection ended before the request was dropped")
			}
		}
	}
	defer func() { testHookShutdown, testHookDropped = nil, nil }()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
