package pickle

import (
	"errors"
	"fmt"
	"reflect"
)

// Limit violations. Each is its own sentinel, and each also matches ErrLimit,
// so errors.Is(err, ErrLimit) tells "the input was refused by a limit" apart
// from "the input is malformed".
var (
	// ErrLimit is matched by every limit violation below.
	ErrLimit = errors.New("pickle: limit exceeded")

	// ErrTooLarge: the pickle, or a length it declares, goes past
	// Limits.MaxInputSize.
	ErrTooLarge error = &limitError{"pickle: input larger than MaxInputSize"}
	// ErrTooDeep: values nest deeper than Limits.MaxDepth (or
	// EncoderOptions.MaxDepth), or MARKs nest deeper than that.
	ErrTooDeep error = &limitError{"pickle: nesting deeper than MaxDepth"}
	// ErrTooManyItems: a container, or the unpickler stack, holds more than
	// Limits.MaxContainerLen items.
	ErrTooManyItems error = &limitError{"pickle: container longer than MaxContainerLen"}
	// ErrMemoLimit: the pickle stores more than Limits.MaxMemo memo entries.
	ErrMemoLimit error = &limitError{"pickle: memo larger than MaxMemo"}
	// ErrIntTooLarge: an integer is longer than Limits.MaxIntBytes bytes
	// (binary) or the equivalent number of decimal digits (text).
	ErrIntTooLarge error = &limitError{"pickle: integer larger than MaxIntBytes"}
)

// Malformed or unsupported input.
var (
	// ErrTruncated: the input ends before STOP, or a declared length is
	// longer than the input that remains.
	ErrTruncated = errors.New("pickle: truncated input")
	// ErrUnknownOpcode: a byte that is not an opcode of protocols 0-5.
	ErrUnknownOpcode = errors.New("pickle: unknown opcode")
	// ErrProtocol: a PROTO opcode names a protocol above 5, or an encoder
	// was asked for a protocol above 5.
	ErrProtocol = errors.New("pickle: unsupported protocol")
	// ErrStack: the unpickler stack underflows, or a MARK is missing.
	ErrStack = errors.New("pickle: stack underflow or missing MARK")
	// ErrMemoKey: GET of a memo key that was never PUT, or a key out of range.
	ErrMemoKey = errors.New("pickle: memo key not found")
	// ErrInvalid: an opcode argument is malformed (bad text number, invalid
	// UTF-8, negative length, odd SETITEMS, ...) or the stack holds the
	// wrong kind of value for an opcode (BUILD on a list, REDUCE with
	// non-tuple arguments, ...). The encoder uses it for values that cannot
	// be expressed (a str that is not UTF-8, a global name with a newline).
	ErrInvalid = errors.New("pickle: invalid pickle data")
	// ErrUnhashable: a list, dict, set or bytearray used as a dict key or set
	// member.
	ErrUnhashable = errors.New("pickle: unhashable type")
	// ErrPersistentID: PERSID/BINPERSID without DecoderOptions.PersistentLoad.
	ErrPersistentID = errors.New("pickle: persistent ID without a PersistentLoad hook")
	// ErrExtension: EXT1/EXT2/EXT4 with a code that DecoderOptions.Extensions
	// does not register.
	ErrExtension = errors.New("pickle: unregistered extension code")
	// ErrBuffer: NEXT_BUFFER without DecoderOptions.Buffers, or with all of
	// them used up.
	ErrBuffer = errors.New("pickle: out-of-band buffer not available")
)

// Encoding and conversion errors.
var (
	// ErrCycle: a value refers back to itself only through immutable values
	// (a Tuple holding itself, or an Object whose Args hold the Object), which
	// no pickle can express. Cycles through *List, *Dict, *Set, maps, slices
	// and struct pointers are fine.
	ErrCycle = errors.New("pickle: reference cycle through an immutable value")
	// ErrUnsupportedType: a Go value with no Python counterpart (chan, func,
	// unsafe.Pointer, ...).
	ErrUnsupportedType = errors.New("pickle: unsupported Go type")
	// ErrTypeMismatch: Unmarshal met a Python value that does not fit the Go
	// target (a str for an int field, an int that overflows int8, ...). The
	// error is an *UnmarshalTypeError.
	ErrTypeMismatch = errors.New("pickle: type mismatch")
	// ErrInvalidTarget: Unmarshal was given a nil or non-pointer target.
	ErrInvalidTarget = errors.New("pickle: Unmarshal target must be a non-nil pointer")
)

// limitError is a limit sentinel: itself, and also ErrLimit.
type limitError struct{ msg string }

// Error returns the message.
func (e *limitError) Error() string { return e.msg }

// Is makes every limit sentinel match ErrLimit.
func (e *limitError) Is(target error) bool { return target == ErrLimit }

// DecodeError reports where a pickle failed to decode. Err is one of the
// sentinels of this package (or an error returned by a hook), so callers
// test it with errors.Is.
type DecodeError struct {
	Offset int64  // byte offset of the failing opcode from the start of the pickle
	Opcode byte   // the failing opcode; 0 when the input ended before one
	Msg    string // what went wrong, for people
	Err    error  // sentinel or hook error
}

// Error returns "pickle: offset N (OPCODE): message".
func (e *DecodeError) Error() string {
	op := "end of input"
	if e.Opcode != 0 || e.Offset > 0 {
		op = opName(e.Opcode)
	}
	return fmt.Sprintf("pickle: offset %d (%s): %s", e.Offset, op, e.Msg)
}

// Unwrap returns the sentinel or hook error.
func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError reports a value that could not be pickled.
type EncodeError struct {
	Type string // Go type of the offending value
	Msg  string // what went wrong, for people
	Err  error  // sentinel, or the error of a MarshalPickle method
}

// Error returns "pickle: cannot encode TYPE: message".
func (e *EncodeError) Error() string {
	return fmt.Sprintf("pickle: cannot encode %s: %s", e.Type, e.Msg)
}

// Unwrap returns the sentinel.
func (e *EncodeError) Unwrap() error { return e.Err }

// UnmarshalTypeError reports a Python value that does not fit its Go target.
// It matches ErrTypeMismatch.
type UnmarshalTypeError struct {
	Value string       // the Python value, e.g. "str" or "int 300"
	Type  reflect.Type // the Go target type
	Path  string       // where in the target, e.g. ".Args[1]" or `["key"]`
}

// Error names the Python value, the Go type and the path.
func (e *UnmarshalTypeError) Error() string {
	at := ""
	if e.Path != "" {
		at = " at " + e.Path
	}
	return fmt.Sprintf("pickle: cannot unmarshal Python %s into Go value of type %s%s", e.Value, e.Type, at)
}

// Unwrap returns ErrTypeMismatch.
func (e *UnmarshalTypeError) Unwrap() error { return ErrTypeMismatch }
