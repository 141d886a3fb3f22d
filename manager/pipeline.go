//go:build linux

package manager

import (
	"context"
	"fmt"

	"github.com/mproc/mproc/pickle"
)

// A Pipeline sends many method calls on one connection before reading
// their replies, so a batch costs about one network round trip rather than
// one per call. The managers protocol answers the requests of a connection
// in order, so this works against CPython's server as well as mproc's.
//
// Queue calls with Call or CallKw, then Flush; each Pending holds its
// call's result once Flush returns. A Pipeline is not safe for concurrent
// use; it may be reused after Flush. Do not queue blocking calls whose
// release depends on a later call of the same batch.
type Pipeline struct {
	m     *Manager
	calls []*Pending
}

// Pending is the future result of one pipelined call.
type Pending struct {
	proxy  *Proxy
	req    []byte
	result any
	err    error
	done   bool
}

// Pipeline returns an empty pipeline.
func (m *Manager) Pipeline() *Pipeline { return &Pipeline{m: m} }

// Call queues p.method(*args).
func (pl *Pipeline) Call(p *Proxy, method string, args ...any) *Pending {
	return pl.CallKw(p, method, args, nil)
}

// CallKw queues p.method(*args, **kwargs).
func (pl *Pipeline) CallKw(p *Proxy, method string, args []any, kwargs []Kwarg) *Pending {
	pc := &Pending{proxy: p}
	if !p.valid() {
		pc.err, pc.done = errNilProxy, true
		pl.calls = append(pl.calls, pc)
		return pc
	}
	l := p.s.life
	switch {
	case l.m != pl.m:
		pc.err, pc.done = fmt.Errorf("%w: proxy of another manager in a pipeline", ErrConfig), true
	case l.closed.Load():
		pc.err, pc.done = ErrClosed, true
	default:
		b, err := pickle.Dumps(pickle.Tuple{l.tok.ID, method, pickle.Tuple(args), kwDict(kwargs)}, pickleProtocol)
		if err != nil {
			pc.err, pc.done = fmt.Errorf("manager: cannot pickle request: %w", err), true
		}
		pc.req = b
	}
	pl.calls = append(pl.calls, pc)
	return pc
}

// Len returns the number of queued calls.
func (pl *Pipeline) Len() int { return len(pl.calls) }

// Flush sends every queued call and reads every reply, then empties the
// pipeline. It returns the first error of the batch (a call's error, or
// the connection's); each Pending has its own.
func (pl *Pipeline) Flush(ctx context.Context) error {
	calls := pl.calls
	pl.calls = nil
	var todo []*Pending
	for _, pc := range calls {
		if !pc.done {
			todo = append(todo, pc)
		}
	}
	if len(todo) > 0 {
		if err := pl.m.flush(ctx, todo); err != nil {
			for _, pc := range todo {
				if !pc.done {
					pc.err, pc.done = err, true
				}
			}
		}
	}
	for _, pc := range calls {
		if pc.err != nil {
			return pc.err
		}
	}
	return nil
}

// flush runs a batch on one connection: a goroutine writes the requests
// while this one reads the replies, so that neither side's socket buffer
// fills while the other waits.
func (m *Manager) flush(ctx context.Context, calls []*Pending) error {
	c, err := m.conn(ctx)
	if err != nil {
		return err
	}
	stop := c.arm(ctx)
	sent := make(chan error, 1)
	go func() {
		for _, pc := range calls {
			if err := c.wc.add(pc.req); err != nil {
				c.close() // stops the reader too
				sent <- err
				return
			}
		}
		err := c.wc.flush()
		if err != nil {
			c.close()
		}
		sent <- err
	}()
	var ioErr error
	for _, pc := range calls {
		b, err := c.wc.recv()
		if err != nil {
			ioErr = err
			break
		}
		kind, res, err := m.decodeReply(b)
		switch {
		case err != nil:
			pc.err = err
		case kind == kindReturn:
			pc.result, pc.err = m.adopt(ctx, res)
		case kind == kindProxy:
			pc.result, pc.err = m.proxyFromReply(res)
		default:
			pc.err = replyError(kind, res)
		}
		pc.done = true
	}
	if ioErr != nil {
		c.close()
	}
	sendErr := <-sent
	stop()
	if ioErr == nil && sendErr != nil {
		ioErr = sendErr
	}
	if ioErr != nil {
		err := c.ioError(ctx, ioErr)
		c.close()
		return err
	}
	m.put(c)
	return nil
}

// Result returns the call's result and error (ErrNotFlushed before
// Flush).
func (pc *Pending) Result() (any, error) {
	if !pc.done {
		return nil, ErrNotFlushed
	}
	return pc.result, pc.err
}

// Err returns the call's error.
func (pc *Pending) Err() error {
	_, err := pc.Result()
	return err
}

// Decode stores the result in out, as pickle.UnmarshalValue does.
func (pc *Pending) Decode(out any) error {
	v, err := pc.Result()
	if err != nil {
		return err
	}
	return decodeInto(v, out)
}
