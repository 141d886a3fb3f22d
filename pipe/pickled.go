//go:build linux

package pipe

import (
	"fmt"

	"github.com/mproc/mproc/pickle"
)

// Send pickles v with pickle.Marshal and sends it as one message (Python's
// Connection.send). Python's recv loads it.
func (c *Conn) Send(v any) error {
	if err := c.sendable(); err != nil {
		return err
	}
	b, err := pickle.Marshal(v)
	if err != nil {
		return fmt.Errorf("pipe: send: %w", err)
	}
	return c.SendBytes(b)
}

// Recv receives one message and unpickles it into v with pickle.Unmarshal
// (Python's Connection.recv); v is typically a pointer to a Go value, or a
// *any for the Python value model. The message length is bounded by the
// Config's MaxMessageSize. A message that does not unpickle into v is
// consumed all the same: the error is returned and the connection stays
// usable.
func (c *Conn) Recv(v any) error {
	b, err := c.RecvBytes(0)
	if err != nil {
		return err
	}
	if err := pickle.Unmarshal(b, v); err != nil {
		return fmt.Errorf("pipe: recv: %w", err)
	}
	return nil
}
