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
	answered := make(chan error, 1)
	testHookShutdown = func() {
		// The request reaches a serving goroutine whose connection is
		// not shut yet; wait long enough for it to be answered if it is
		// going to be.
		req, err := pickle.Dumps(pickle.Tuple{"0", "__len__", pickle.Tuple{}, pickle.NewDict()}, 2)
		if err == nil {
			err = c.wc.add(req)
		}
		if err == nil {
			err = c.wc.flush()
		}
		if err != nil {
			t.Errorf("send: %v", err)
		}
		c.wc.setDeadline(time.Now().Add(300 * time.Millisecond))
		reply, err := c.wc.recv()
		if err == nil {
			t.Errorf("a request sent after the shutdown began was answered (%q)", reply)
		}
		answered <- err
	}
	defer func() { testHookShutdown = nil }()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-answered
}
