package queue

import "fmt"

// Limits of a queue's configuration.
const (
	// MinCapacity is the smallest ring, in bytes.
	MinCapacity = 512
	// MaxCapacity is the largest ring, in bytes. Items of any size still
	// go through a smaller ring: see MaxInline.
	MaxCapacity = 1 << 30
	// MaxMaxSize is the largest item bound a queue can have.
	MaxMaxSize = 1 << 30

	// defaultCapacity is 4 MiB so that, with MaxInline at a quarter of
	// it, a 1 MiB item travels in the ring (three or four in flight, so
	// the producer writes one while the consumer reads another) rather
	// than in a segment of its own, which costs about 20 times as much.
	defaultCapacity = 4 << 20
)

// Config holds a queue's knobs. A nil *Config means DefaultConfig(). Start
// from DefaultConfig and change what you need: a zero Capacity is an error,
// not a default.
//
// Capacity and MaxSize belong to the queue: they are fixed by the process
// that creates it and ignored by Open and Attach, which use the creator's.
// Codec and MaxInline belong to each handle; every handle must use a codec
// with the same fingerprint (see Codec), or opening fails with ErrType.
type Config[T any] struct {
	// Capacity is the ring's size in bytes (rounded up to a multiple of
	// 64), MinCapacity to MaxCapacity. Each item takes its encoded size
	// plus a 32-byte record header, rounded up to 32 bytes. The ring is
	// shared memory that is allocated and mapped when the queue is made
	// (and mapped again by each process that opens it), so its size is
	// the queue's memory cost.
	Capacity int
	// MaxSize bounds the number of items in the queue, as Python's
	// maxsize: 0 or less means bounded only by the ring's capacity.
	MaxSize int
	// MaxInline is the largest encoded item stored in the ring itself;
	// a larger item travels in a shared-memory segment of its own, which
	// is about twenty times slower (see the package documentation). 0
	// means Capacity/4. At most Capacity/2.
	MaxInline int
	// Codec turns items into bytes and back. Nil picks one by T: []byte
	// items are stored as they are, pointer-free fixed-size types are
	// copied as raw bytes (RawCodec), anything else is pickled
	// (PickleCodec).
	Codec Codec[T]
}

// DefaultConfig returns the defaults: a 4 MiB ring, no item bound, items
// up to 1 MiB inline, the codec chosen by T.
func DefaultConfig[T any]() *Config[T] {
	return &Config[T]{Capacity: defaultCapacity}
}

// settings is a validated Config with its derived values.
type settings struct {
	capacity  uint64
	maxSize   uint64
	maxInline uint64
}

// verify checks the fields that a creator fixes and returns the derived
// settings.
func (c *Config[T]) verify() (settings, error) {
	bad := func(format string, args ...any) (settings, error) {
		return settings{}, withDetail(ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.Capacity <= 0 {
		return bad("capacity %d bytes: must be positive (start from DefaultConfig)", c.Capacity)
	}
	if c.Capacity < MinCapacity || c.Capacity > MaxCapacity {
		return bad("capacity %d bytes: must be %d to %d", c.Capacity, MinCapacity, MaxCapacity)
	}
	capacity := uint64(roundUp(c.Capacity, 64))
	if c.MaxSize > MaxMaxSize {
		return bad("maxsize %d: at most %d", c.MaxSize, MaxMaxSize)
	}
	s := settings{capacity: capacity}
	if c.MaxSize > 0 {
		s.maxSize = uint64(c.MaxSize)
	}
	inline, err := c.inline(capacity)
	if err != nil {
		return settings{}, err
	}
	s.maxInline = inline
	return s, nil
}

// inline returns the handle's MaxInline for a ring of capacity bytes.
func (c *Config[T]) inline(capacity uint64) (uint64, error) {
	switch {
	case c.MaxInline < 0:
		return 0, withDetail(ErrConfig, fmt.Sprintf("max inline %d bytes: must not be negative", c.MaxInline))
	case c.MaxInline == 0:
		return capacity / 4, nil
	case uint64(c.MaxInline) > capacity/2:
		return 0, withDetail(ErrConfig, fmt.Sprintf("max inline %d bytes: at most half the %d-byte ring", c.MaxInline, capacity))
	}
	return uint64(c.MaxInline), nil
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }
