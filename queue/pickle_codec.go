package queue

import (
	"fmt"
	"reflect"

	"github.com/mproc/mproc/pickle"
)

// PickleCodec encodes items with the pickle package (Python's pickle
// format), the default for item types that are neither []byte nor
// fixed-size and pointer-free. The zero value is ready to use. Its
// fingerprint names T, so a queue of one Go type cannot be opened as a
// queue of another.
type PickleCodec[T any] struct{}

// Encode pickles v.
func (PickleCodec[T]) Encode(v T) ([]byte, error) {
	b, err := pickle.Marshal(v)
	if err != nil {
		return nil, withCause(ErrEncode, err)
	}
	return b, nil
}

// Decode unpickles data into a T.
func (PickleCodec[T]) Decode(data []byte) (T, error) {
	var v T
	if err := pickle.Unmarshal(data, &v); err != nil {
		return v, withCause(ErrEncode, err)
	}
	return v, nil
}

// Fingerprint implements Fingerprinter.
func (PickleCodec[T]) Fingerprint() string {
	return fmt.Sprintf("pickle:%v", reflect.TypeFor[T]())
}
