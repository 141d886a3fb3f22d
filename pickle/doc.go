// Package pickle reads and writes Python's pickle format, protocols 0-5, so
// that Go programs can exchange values with Python's multiprocessing
// (connections and managers) and anything else that speaks pickle.
//
// # Safety
//
// Decoding never imports, calls or executes anything: a global (GLOBAL,
// STACK_GLOBAL, INST, EXT) is only a name, Global{Module, Name}, and a call
// (REDUCE, NEWOBJ, NEWOBJ_EX, BUILD, INST, OBJ) only records what would have
// been called, as an *Object (a few pure constructors of built-in types are
// evaluated, see value.go). Any byte string is safe to decode: the decoder
// never panics, and Limits (see DefaultLimits) bound input size, nesting,
// container length, memo size and integer size; each violation is a sentinel
// error (ErrTooLarge, ErrTooDeep, ErrTooManyItems, ErrMemoLimit,
// ErrIntTooLarge, all also matching ErrLimit), wrapped in a *DecodeError that
// gives the offset and opcode. A length declared by the pickle is checked
// against the input that remains before anything is allocated.
//
// Python, on the other hand, executes what a pickle tells it to: only send
// pickles to peers that trust you, and only load pickles from peers you
// trust. A pickle written by this package calls nothing but the globals held
// in its values plus builtins.set, frozenset, bytearray, bytes, complex and
// getattr, _codecs.encode and copyreg.__newobj__/__newobj_ex__ (used at low
// protocols).
//
// # Opcodes
//
// The decoder implements every opcode of protocols 0-5: MARK STOP POP
// POP_MARK DUP FLOAT INT BININT BININT1 BININT2 LONG LONG1 LONG4 NONE NEWTRUE
// NEWFALSE PERSID BINPERSID REDUCE STRING BINSTRING SHORT_BINSTRING UNICODE
// BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINBYTES SHORT_BINBYTES BINBYTES8
// BYTEARRAY8 NEXT_BUFFER READONLY_BUFFER APPEND APPENDS BUILD GLOBAL
// STACK_GLOBAL DICT EMPTY_DICT SETITEM SETITEMS LIST EMPTY_LIST TUPLE
// EMPTY_TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_SET ADDITEMS FROZENSET INST OBJ
// NEWOBJ NEWOBJ_EX GET BINGET LONG_BINGET PUT BINPUT LONG_BINPUT MEMOIZE
// PROTO FRAME EXT1 EXT2 EXT4 BINFLOAT. Persistent IDs need
// DecoderOptions.PersistentLoad (else ErrPersistentID), EXT codes need
// DecoderOptions.Extensions (else ErrExtension), out-of-band buffers need
// DecoderOptions.Buffers (else ErrBuffer). FRAME is treated as the
// read-ahead hint it is. Python 2 str opcodes decode per
// DecoderOptions.Encoding, and Python 2 module names are mapped to Python 3
// ones at protocols 0-2 (fix_imports).
//
// The encoder writes protocol 4 by default (DefaultProtocol, what CPython
// 3.8-3.13 write and every Python 3 reads) and protocols 0-5 on request,
// choosing the opcodes CPython's own pickler would, framing included.
//
// # API
//
// Loads and Dumps work on the value model (value.go): None, bool, int64,
// *big.Int, float64, complex128, string, []byte, ByteArray, Tuple, *List,
// *Dict, *Set, FrozenSet, Global and *Object. Marshal and Unmarshal work like
// encoding/json on ordinary Go values (structs with `pickle:"name,omitempty"`
// tags, maps, slices, pointers) and on the model. Encoder and Decoder do the
// same on streams, with EncoderOptions and DecoderOptions.
package pickle
