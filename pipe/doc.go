// Package pipe is Python's multiprocessing.connection for Go: message
// connections over socketpairs, pipes, Unix and TCP sockets, speaking
// exactly CPython's wire format, so that a Go process and an unmodified
// Python process can talk.
//
//   - Pipe(duplex) returns two connected *Conn, as Python's Pipe does.
//   - A *Conn sends and receives messages: SendBytes / RecvBytes /
//     RecvBytesInto for raw bytes, Send / Recv for pickled values (through
//     package pickle), Poll, Fileno, Close, and deadlines in the net.Conn
//     style.
//   - Listen(address, authkey) and Dial(address, authkey) are Python's
//     Listener and Client, on Unix sockets (paths and Linux abstract
//     names) and TCP ("host:port"); ListenNetwork and DialNetwork take the
//     network apart, as net.Listen does. Both run the authkey handshake
//     in both its legacy HMAC-MD5 (Python 3.11 and earlier) and its
//     "{sha256}" (3.12 and later) forms.
//   - Wait is Python's multiprocessing.connection.wait.
//   - File and FromFile hand a connection to a child process (see package
//     process): the child's Conn keeps working on the inherited descriptor.
//
// The wire format, byte by byte, is in PROTOCOL.md next to this file, and its
// constants are in wire.go. In short: each message is a 4-byte big-endian
// signed length and the payload, or -1, an 8-byte length and the payload for
// messages over 2 GiB - 1.
//
// A call that has to wait (RecvBytes with nothing to read, SendBytes with a
// full kernel buffer, Poll) first blocks its thread in ppoll(2) for up to
// 20 ms, as a blocking read would, which makes a round trip between two
// processes as fast as with plain blocking system calls; a longer wait
// parks the goroutine in the Go runtime's netpoller, where it holds no OS
// thread (on a duplicate of the descriptor: the connection's own descriptor
// stays out of the netpoller, whose thread it would wake at every batch of
// bytes). Close and deadlines end either kind of wait. Receives read ahead
// (Config.ReadBufferSize), so a stream of small messages costs about one
// system call per batch.
//
// Unlike Python's Connection, a Conn may be used from several goroutines at
// once: each message is sent and received whole.
//
// Python peers trust each other with their authkey: a peer holding it can
// make a Python process unpickle anything, which runs code. Decoding pickles
// in Go (package pickle) runs nothing.
package pipe
