package pickle

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// EncoderOptions configure an Encoder. A nil *EncoderOptions means all
// defaults.
type EncoderOptions struct {
	// Protocol is the pickle protocol to write: 1-5, 0 for
	// DefaultProtocol (4), or a negative number for HighestProtocol (as in
	// Python). Protocol 0 itself is available through Dumps.
	// Protocol 5 needs Python 3.8+; 2-4 load in every Python 3.
	Protocol int
	// MaxDepth bounds the nesting of the value (default 1000, about what
	// CPython can load back). Deeper values fail with ErrTooDeep.
	MaxDepth int
	// PersistentID, if set, is asked about every value before it is
	// pickled; when it returns ok, the pickle holds pid (BINPERSID; PERSID
	// with a str pid at protocol 0) instead, for Python's persistent_load.
	PersistentID func(v any) (pid any, ok bool)
}

// Encoder writes pickles to a stream, one per Encode call.
type Encoder struct {
	w    io.Writer
	opts EncoderOptions
}

// NewEncoder returns an encoder writing to w. opts may be nil.
func NewEncoder(w io.Writer, opts *EncoderOptions) *Encoder {
	e := &Encoder{w: w}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.Protocol == 0 {
		e.opts.Protocol = DefaultProtocol
	}
	return e
}

// Encode writes the pickle of v (see Marshal for what v may be) in one Write.
func (e *Encoder) Encode(v any) error {
	b, err := dumps(v, e.opts.Protocol, e.opts.MaxDepth, e.opts.PersistentID)
	if err != nil {
		return err
	}
	_, err = e.w.Write(b)
	return err
}

// Dumps returns the pickle of v at protocol 0-5 (see Marshal for what v may
// be); a negative protocol means HighestProtocol, as in Python's
// pickle.dumps. Protocols 2-5 are what Python 3 programs use; 5 needs
// Python 3.8+.
func Dumps(v any, protocol int) ([]byte, error) {
	return dumps(v, protocol, 0, nil)
}

func dumps(v any, protocol, maxDepth int, pid func(any) (any, bool)) ([]byte, error) {
	if protocol < 0 {
		protocol = HighestProtocol
	}
	if protocol > HighestProtocol {
		return nil, fmt.Errorf("%w: protocol %d (want 0-%d, or negative for %d)", ErrProtocol, protocol, HighestProtocol, HighestProtocol)
	}
	if maxDepth <= 0 {
		maxDepth = DefaultLimits().MaxDepth
	}
	e := encoderPool.Get().(*encoder)
	defer e.release()
	e.proto, e.maxDepth, e.pid, e.lastMut, e.frameStart = protocol, maxDepth, pid, -1, -1
	if protocol >= 2 {
		e.buf = append(e.buf, opProto, byte(protocol))
	}
	if protocol >= 4 {
		e.openFrame()
	}
	if err := e.save(v); err != nil {
		return nil, err
	}
	e.buf = append(e.buf, opStop)
	if e.frameStart >= 0 {
		e.commitFrame()
	}
	return append([]byte(nil), e.buf...), nil
}

// encoderPool recycles encoders, their buffer and their memo maps.
var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// release clears e (dropping every reference to the encoded value) and
// returns it to the pool; oversized buffers and tables are let go. It resets
// field by field, touching only what was used: a new field of encoder
// must be reset here too.
func (e *encoder) release() {
	const keep = 1 << 12
	if cap(e.buf) > 1<<20 {
		e.buf = nil
	}
	e.buf = e.buf[:0]
	e.ptrMemo.reset(keep)
	e.strMemo.reset(keep)
	e.longStrMemo.reset(keep)
	e.tupMemo.reset(keep)
	e.globMemo.reset(keep)
	e.prog.reset()
	if len(e.byteMemo) >= keep {
		e.byteMemo = nil
	} else if len(e.byteMemo) > 0 {
		clear(e.byteMemo)
	}
	e.proto, e.maxDepth, e.depth, e.pid, e.inPID = 0, 0, 0, nil, false
	e.nextMemo, e.lastMut, e.frameStart = 0, 0, 0
	encoderPool.Put(e)
}

// frameTarget is the frame size CPython aims for (_FRAME_SIZE_TARGET).
const frameTarget = 64 << 10

// batchSize is how many items CPython puts in one APPENDS/SETITEMS.
const batchSize = 1000

// memo keys for values without a pointer of their own
type (
	frozenKey struct{ s *Set }
	baKey     struct {
		p *byte
		n int
	}
	refKey struct {
		t reflect.Type
		p uintptr
		n int
	}
)

// encoder is the state of one Dumps.
//
// Memo: values that Python would share come out once and are fetched from
// the memo afterwards: pointers (*List, *Dict, *Set, *Object, *big.Int, Go
// pointers, maps and slices) and tuples and frozensets by identity, strings
// and bytes by content, globals by name.
//
// Cycles: a mutable container is memoized before its items are written, so
// a cycle back to it becomes a GET. An immutable value (tuple, frozenset,
// object under construction) is only memoized after its items; coming back
// to it while it is in progress is fine if a mutable container was entered
// since (CPython then emits POP/POP_MARK + GET), and is an ErrCycle if not,
// since no pickle can express that. prog holds each in-progress immutable
// with the depth of its innermost entry; lastMut is the depth of the
// innermost mutable container on the current path.
//
// The memo tables are memoTables (memo.go) rather than Go maps: a request
// of a few dozen values makes a few dozen memo operations, and they were
// most of the time Dumps took.
type encoder struct {
	buf      []byte
	proto    int
	maxDepth int
	depth    int
	pid      func(any) (any, bool)
	inPID    bool

	nextMemo    uint32
	ptrMemo     memoTable[any]    // pointers and identities (frozenKey, baKey, refKey)
	strMemo     strTable          // strs of up to strKeyMax bytes
	longStrMemo memoTable[string] // longer strs
	byteMemo    map[string]uint32
	tupMemo     memoTable[tupleID]
	globMemo    memoTable[Global]

	prog    progSet
	lastMut int

	frameStart int // offset of the open FRAME header, -1 if none
}

// saveNone writes None (for nil pointers, maps, slices and interfaces).
func (e *encoder) saveNone() error {
	e.buf = append(e.buf, opNone)
	return nil
}

func (e *encoder) fail(v any, sentinel error, format string, args ...any) error {
	return &EncodeError{Type: fmt.Sprintf("%T", v), Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// ---- framing ----

func (e *encoder) openFrame() {
	e.frameStart = len(e.buf)
	e.buf = append(e.buf, opFrame, 0, 0, 0, 0, 0, 0, 0, 0)
}

// commitFrame closes the open frame; like CPython it drops frames of
// fewer than 4 bytes.
func (e *encoder) commitFrame() {
	fs := e.frameStart
	size := len(e.buf) - fs - 9
	if size < 4 {
		copy(e.buf[fs:], e.buf[fs+9:])
		e.buf = e.buf[:len(e.buf)-9]
	} else {
		binary.LittleEndian.PutUint64(e.buf[fs+1:], uint64(size))
	}
	e.frameStart = -1
}

// writeLarge writes an opcode with a big payload outside any frame, as
// CPython does, so the reader can take it without copying.
func writeLarge[T ~string | ~[]byte](e *encoder, header []byte, payload T) {
	if e.frameStart >= 0 && len(payload) >= frameTarget {
		e.commitFrame()
		e.buf = append(e.buf, header...)
		e.buf = append(e.buf, payload...)
		e.openFrame()
		return
	}
	e.buf = append(e.buf, header...)
	e.buf = append(e.buf, payload...)
}

// ---- memo ----

func (e *encoder) memoize() uint32 {
	idx := e.nextMemo
	e.nextMemo++
	switch {
	case e.proto >= 4:
		e.buf = append(e.buf, opMemoize)
	case e.proto >= 1 && idx < 256:
		e.buf = append(e.buf, opBinput, byte(idx))
	case e.proto >= 1:
		e.buf = append(e.buf, opLongBinput)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, idx)
	default:
		e.buf = append(e.buf, opPut)
		e.buf = strconv.AppendUint(e.buf, uint64(idx), 10)
		e.buf = append(e.buf, '\n')
	}
	return idx
}

func (e *encoder) get(idx uint32) {
	switch {
	case e.proto >= 1 && idx < 256:
		e.buf = append(e.buf, opBinget, byte(idx))
	case e.proto >= 1:
		e.buf = append(e.buf, opLongBinget)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, idx)
	default:
		e.buf = append(e.buf, opGet)
		e.buf = strconv.AppendUint(e.buf, uint64(idx), 10)
		e.buf = append(e.buf, '\n')
	}
}

// memoPtr memoizes the value on top of the stack under the identity p,
// which is not memoized yet.
func (e *encoder) memoPtr(p any) {
	e.ptrMemo.put(p, hashIdent(p), e.memoize())
}

// getPtr emits a GET if p is memoized.
func (e *encoder) getPtr(p any) bool {
	if idx, ok := e.ptrMemo.get(p, hashIdent(p)); ok {
		e.get(idx)
		return true
	}
	return false
}

// getOrMemoPtr emits a GET and returns true if p is memoized; otherwise it
// records p under the index of the next memoize, which the caller must then
// do (or fail).
func (e *encoder) getOrMemoPtr(p any) bool {
	if idx, ok := e.ptrMemo.getOrPut(p, hashIdent(p), e.nextMemo); ok {
		e.get(idx)
		return true
	}
	return false
}

// lookPtr returns the memo index of the identity p.
func (e *encoder) lookPtr(p any) (uint32, bool) {
	return e.ptrMemo.get(p, hashIdent(p))
}

// ---- depth and cycles ----

// enter descends into a container. It is generic so that v is only boxed
// (allocated) on the error path.
func enter[T any](e *encoder, v T) error {
	e.depth++
	if e.depth > e.maxDepth {
		return e.fail(any(v), ErrTooDeep, "nesting deeper than MaxDepth %d", e.maxDepth)
	}
	return nil
}

func (e *encoder) leave() { e.depth-- }

// beginImmutable marks key as in progress; see encoder. The caller must
// call endImmutable with the mark unless it gets an error.
func beginImmutable[T any](e *encoder, v T, key progKey) (progMark, error) {
	if prev, had := e.prog.find(key); had && e.lastMut <= prev {
		return progMark{}, e.fail(any(v), ErrCycle, "the value contains itself through immutable values only")
	}
	return e.prog.push(key, e.depth), nil
}

func (e *encoder) endImmutable(key progKey, m progMark) { e.prog.pop(key, m) }

// beginMutable records that a memoized mutable container is on the path.
func (e *encoder) beginMutable() int {
	prev := e.lastMut
	e.lastMut = e.depth
	return prev
}

// ---- values ----

func (e *encoder) save(v any) error {
	if e.pid != nil && !e.inPID {
		if pid, ok := e.pid(v); ok {
			return e.savePersistent(v, pid)
		}
	}
	if e.frameStart >= 0 && len(e.buf)-e.frameStart-9 >= frameTarget {
		e.commitFrame()
		e.openFrame()
	}
	switch x := v.(type) {
	case nil, NoneType:
		e.buf = append(e.buf, opNone)
	case bool:
		e.saveBool(x)
	case int:
		e.saveInt(int64(x))
	case int64:
		e.saveInt(x)
	case int32:
		e.saveInt(int64(x))
	case int16:
		e.saveInt(int64(x))
	case int8:
		e.saveInt(int64(x))
	case uint8:
		e.saveInt(int64(x))
	case uint16:
		e.saveInt(int64(x))
	case uint32:
		e.saveInt(int64(x))
	case uint:
		e.saveUint(uint64(x))
	case uint64:
		e.saveUint(x)
	case float64:
		e.saveFloat(x)
	case float32:
		e.saveFloat(float64(x))
	case complex128:
		return e.saveComplex(x)
	case complex64:
		return e.saveComplex(complex128(x))
	case string:
		return e.saveStr(x)
	case []byte:
		return e.saveBytes(x)
	case ByteArray:
		return e.saveByteArray(x)
	case *big.Int:
		if x == nil {
			return e.saveNone()
		}
		return e.saveBig(x)
	case Tuple:
		return e.saveTuple(x)
	case Item:
		// A key/value pair is a 2-tuple, as dict.items() yields.
		return e.saveTuple(Tuple{x.Key, x.Value})
	case *List:
		if x == nil {
			return e.saveNone()
		}
		return e.saveList(x)
	case *Dict:
		if x == nil {
			return e.saveNone()
		}
		return e.saveDict(x)
	case *Set:
		if x == nil {
			return e.saveNone()
		}
		return e.saveSet(x)
	case FrozenSet:
		return e.saveFrozenSet(x)
	case Global:
		return e.saveGlobal(x)
	case *Object:
		if x == nil {
			return e.saveNone()
		}
		return e.saveObject(x)
	case []any:
		if x == nil {
			return e.saveNone()
		}
		return e.saveReflect(reflect.ValueOf(x))
	case Marshaler:
		return e.saveMarshaler(x)
	default:
		return e.saveReflect(reflect.ValueOf(v))
	}
	return nil
}

func (e *encoder) savePersistent(v, pid any) error {
	if e.proto == 0 {
		s, ok := pid.(string)
		if !ok || strings.ContainsAny(s, "\n") || !isASCII([]byte(s)) {
			return e.fail(v, ErrInvalid, "protocol 0 persistent IDs must be ASCII str without newlines")
		}
		e.buf = append(e.buf, opPersid)
		e.buf = append(e.buf, s...)
		e.buf = append(e.buf, '\n')
		return nil
	}
	e.inPID = true
	err := e.save(pid)
	e.inPID = false
	if err != nil {
		return err
	}
	e.buf = append(e.buf, opBinpersid)
	return nil
}

func (e *encoder) saveMarshaler(m Marshaler) error {
	pv, err := m.MarshalPickle()
	if err != nil {
		return &EncodeError{Type: fmt.Sprintf("%T", m), Msg: "MarshalPickle: " + err.Error(), Err: err}
	}
	if err := enter(e, m); err != nil {
		return err
	}
	defer e.leave()
	return e.save(pv)
}

func (e *encoder) saveBool(b bool) {
	switch {
	case e.proto >= 2 && b:
		e.buf = append(e.buf, opNewtrue)
	case e.proto >= 2:
		e.buf = append(e.buf, opNewfalse)
	case b:
		e.buf = append(e.buf, "I01\n"...)
	default:
		e.buf = append(e.buf, "I00\n"...)
	}
}

func (e *encoder) saveInt(i int64) {
	if e.proto >= 1 {
		switch {
		case 0 <= i && i < 256:
			e.buf = append(e.buf, opBinint1, byte(i))
			return
		case 0 <= i && i < 65536:
			e.buf = append(e.buf, opBinint2, byte(i), byte(i>>8))
			return
		case math.MinInt32 <= i && i <= math.MaxInt32:
			e.buf = append(e.buf, opBinint)
			e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(int32(i)))
			return
		}
	}
	if e.proto >= 2 {
		var tmp [9]byte
		n := 8
		binary.LittleEndian.PutUint64(tmp[:], uint64(i))
		// Trim redundant sign bytes, as CPython's encode_long does.
		for n > 1 && ((tmp[n-1] == 0 && tmp[n-2]&0x80 == 0) || (tmp[n-1] == 0xff && tmp[n-2]&0x80 != 0)) {
			n--
		}
		e.buf = append(e.buf, opLong1, byte(n))
		e.buf = append(e.buf, tmp[:n]...)
		return
	}
	if math.MinInt32 <= i && i <= math.MaxInt32 {
		e.buf = append(e.buf, opInt)
		e.buf = strconv.AppendInt(e.buf, i, 10)
		e.buf = append(e.buf, '\n')
		return
	}
	e.buf = append(e.buf, opLong)
	e.buf = strconv.AppendInt(e.buf, i, 10)
	e.buf = append(e.buf, 'L', '\n')
}

func (e *encoder) saveUint(u uint64) {
	if u <= math.MaxInt64 {
		e.saveInt(int64(u))
		return
	}
	_ = e.saveBig(new(big.Int).SetUint64(u))
}

// encodeLong returns x as little-endian two's complement in the fewest bytes
// (CPython's encode_long); 0 is empty.
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	n := x.BitLen()/8 + 1
	y := x
	if x.Sign() < 0 {
		y = new(big.Int).Lsh(big.NewInt(1), uint(8*n))
		y.Add(y, x)
	}
	out := make([]byte, n)
	be := y.Bytes()
	for i, c := range be {
		out[len(be)-1-i] = c
	}
	if x.Sign() < 0 && n > 1 && out[n-1] == 0xff && out[n-2]&0x80 != 0 {
		out = out[:n-1]
	}
	return out
}

func (e *encoder) saveBig(x *big.Int) error {
	if x.IsInt64() {
		e.saveInt(x.Int64())
		return nil
	}
	if e.getPtr(x) {
		return nil
	}
	if e.proto >= 2 {
		b := encodeLong(x)
		if len(b) < 256 {
			e.buf = append(e.buf, opLong1, byte(len(b)))
			e.buf = append(e.buf, b...)
		} else {
			if uint64(len(b)) > math.MaxInt32 {
				return e.fail(x, ErrInvalid, "int too large for LONG4")
			}
			var h [5]byte
			h[0] = opLong4
			binary.LittleEndian.PutUint32(h[1:], uint32(len(b)))
			writeLarge(e, h[:], b)
		}
	} else {
		e.buf = append(e.buf, opLong)
		e.buf = x.Append(e.buf, 10)
		e.buf = append(e.buf, 'L', '\n')
	}
	if x.BitLen() > 256 {
		e.memoPtr(x) // long ints are worth sharing
	}
	return nil
}

func (e *encoder) saveFloat(f float64) {
	if e.proto >= 1 {
		e.buf = append(e.buf, opBinfloat)
		e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
		return
	}
	e.buf = append(e.buf, opFloat)
	e.buf = append(e.buf, formatFloatText(f)...)
	e.buf = append(e.buf, '\n')
}

func (e *encoder) saveComplex(c complex128) error {
	return e.saveCall(Global{"builtins", "complex"}, real(c), imag(c))
}

// saveCall writes fn(*args) as REDUCE, not memoized.
func (e *encoder) saveCall(fn Global, args ...any) error {
	if err := e.saveGlobal(fn); err != nil {
		return err
	}
	if err := e.saveArgs(args); err != nil {
		return err
	}
	e.buf = append(e.buf, opReduce)
	return nil
}

// saveArgs writes a tuple that has no identity of its own (call
// arguments, Go arrays); like CPython it memoizes a non-empty tuple.
func (e *encoder) saveArgs(args []any) error {
	n := len(args)
	switch {
	case n == 0 && e.proto >= 1:
		e.buf = append(e.buf, opEmptyTuple)
		return nil
	case n <= 3 && n > 0 && e.proto >= 2:
		for _, a := range args {
			if err := e.save(a); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opTuple1+byte(n-1))
		e.memoize()
		return nil
	}
	e.buf = append(e.buf, opMark)
	for _, a := range args {
		if err := e.save(a); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, opTuple)
	if n > 0 {
		e.memoize()
	}
	return nil
}

func (e *encoder) saveStr(s string) error {
	// One probe both looks s up and reserves its entry, under the index
	// the memoize below will give it. (On an error the encoder is thrown
	// away, entry and all.)
	if n := len(s); n <= 16 && e.proto >= 4 && len(e.strMemo.data) <= math.MaxUint32-strKeyMax {
		// the usual str, in one go: hashed and checked for ASCII together
		h, ascii := shortHashASCII(s)
		if idx, ok := e.strMemo.getOrPut(s, fold(h), e.nextMemo); ok {
			e.get(idx)
			return nil
		}
		if !ascii && !validStr(s) {
			return e.fail(s, ErrInvalid, "str is not valid UTF-8")
		}
		// (appends to e.buf in place: no write barrier unless it grows)
		e.buf = append(e.buf, opShortBinunicode, byte(n))
		e.buf = append(e.buf, s...)
		e.buf = append(e.buf, opMemoize)
		e.nextMemo++
		return nil
	}
	var idx uint32
	var ok bool
	if len(s) <= strKeyMax && len(e.strMemo.data) <= math.MaxUint32-strKeyMax {
		idx, ok = e.strMemo.getOrPut(s, hashStr(s), e.nextMemo)
	} else {
		idx, ok = e.longStrMemo.getOrPut(s, hashStr(s), e.nextMemo)
	}
	if ok {
		e.get(idx)
		return nil
	}
	if !validStr(s) {
		return e.fail(s, ErrInvalid, "str is not valid UTF-8")
	}
	n := len(s)
	switch {
	case e.proto == 0:
		e.buf = append(e.buf, opUnicode)
		e.buf, _ = rawUnicodeEscapeEncode(e.buf, s)
		e.buf = append(e.buf, '\n')
	case e.proto >= 4 && n < 256:
		e.buf = append(e.buf, opShortBinunicode, byte(n))
		e.buf = append(e.buf, s...)
	case n <= math.MaxUint32:
		var h [5]byte
		h[0] = opBinunicode
		binary.LittleEndian.PutUint32(h[1:], uint32(n))
		writeLarge(e, h[:], s)
	case e.proto >= 4:
		var h [9]byte
		h[0] = opBinunicode8
		binary.LittleEndian.PutUint64(h[1:], uint64(n))
		writeLarge(e, h[:], s)
	default:
		return e.fail(s, ErrInvalid, "str over 4 GiB needs protocol 4")
	}
	e.memoize()
	return nil
}

func (e *encoder) saveBytes(b []byte) error {
	if idx, ok := e.byteMemo[string(b)]; ok {
		e.get(idx)
		return nil
	}
	n := len(b)
	switch {
	case e.proto < 3:
		var err error
		if n == 0 {
			err = e.saveCall(Global{"builtins", "bytes"})
		} else {
			err = e.saveCall(Global{"_codecs", "encode"}, latin1(b), "latin1")
		}
		if err != nil {
			return err
		}
	case n < 256:
		e.buf = append(e.buf, opShortBinbytes, byte(n))
		e.buf = append(e.buf, b...)
	case n <= math.MaxUint32:
		var h [5]byte
		h[0] = opBinbytes
		binary.LittleEndian.PutUint32(h[1:], uint32(n))
		writeLarge(e, h[:], b)
	case e.proto >= 4:
		var h [9]byte
		h[0] = opBinbytes8
		binary.LittleEndian.PutUint64(h[1:], uint64(n))
		writeLarge(e, h[:], b)
	default:
		return e.fail(b, ErrInvalid, "bytes over 4 GiB need protocol 4")
	}
	if e.byteMemo == nil {
		e.byteMemo = make(map[string]uint32)
	}
	e.byteMemo[string(b)] = e.memoize()
	return nil
}

func (e *encoder) saveByteArray(b ByteArray) error {
	var key any
	if len(b) > 0 {
		key = baKey{&b[0], len(b)}
		if e.getPtr(key) {
			return nil
		}
	}
	var err error
	switch {
	case e.proto >= 5:
		var h [9]byte
		h[0] = opBytearray8
		binary.LittleEndian.PutUint64(h[1:], uint64(len(b)))
		writeLarge(e, h[:], b)
	case len(b) == 0:
		err = e.saveCall(Global{"builtins", "bytearray"})
	case e.proto >= 3:
		err = e.saveCall(Global{"builtins", "bytearray"}, []byte(b))
	default:
		err = e.saveCall(Global{"builtins", "bytearray"}, latin1(b), "latin-1")
	}
	if err != nil {
		return err
	}
	if key != nil {
		e.memoPtr(key)
	} else {
		e.memoize()
	}
	return nil
}

// needsCycleCheck reports whether items may lead back to their container:
// only containers and non-basic Go values can.
func needsCycleCheck(items []any) bool {
	for _, it := range items {
		switch it.(type) {
		case nil, NoneType, bool, int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8,
			float64, float32, complex128, complex64, string, []byte, ByteArray, Global, *big.Int:
		default:
			return true
		}
	}
	return false
}

func (e *encoder) saveTuple(t Tuple) error {
	n := len(t)
	if n == 0 {
		if e.proto >= 1 {
			e.buf = append(e.buf, opEmptyTuple)
		} else {
			e.buf = append(e.buf, opMark, opTuple)
		}
		return nil
	}
	id := idOf(t)
	h := hashTupleID(id)
	if idx, ok := e.tupMemo.get(id, h); ok {
		e.get(idx)
		return nil
	}
	// No defers on the hot paths: after an error the encoder is thrown
	// away, so depth, lastMut and prog need restoring on success only.
	if err := enter(e, t); err != nil {
		return err
	}
	short := n <= 3 && e.proto >= 2
	if !needsCycleCheck(t) {
		// Only scalars: nothing inside can lead back here.
		if !short {
			e.buf = append(e.buf, opMark)
		}
		for _, it := range t {
			if err := e.save(it); err != nil {
				return err
			}
		}
		e.leave()
		if short {
			e.buf = append(e.buf, opTuple1+byte(n-1))
		} else {
			e.buf = append(e.buf, opTuple)
		}
		e.tupMemo.put(id, h, e.memoize())
		return nil
	}
	key := progKey{tup: id}
	m, err := beginImmutable(e, t, key)
	if err != nil {
		return err
	}
	if !short {
		e.buf = append(e.buf, opMark)
	}
	for _, it := range t {
		if err := e.save(it); err != nil {
			return err
		}
	}
	e.endImmutable(key, m)
	e.leave()
	if idx, ok := e.tupMemo.get(id, h); ok {
		// The tuple was written while writing its items (a recursive tuple):
		// drop what we pushed and fetch that one.
		switch {
		case short:
			for range n {
				e.buf = append(e.buf, opPop)
			}
		case e.proto >= 1:
			e.buf = append(e.buf, opPopMark)
		default:
			for range n + 1 {
				e.buf = append(e.buf, opPop)
			}
		}
		e.get(idx)
		return nil
	}
	if short {
		e.buf = append(e.buf, opTuple1+byte(n-1))
	} else {
		e.buf = append(e.buf, opTuple)
	}
	e.tupMemo.put(id, h, e.memoize())
	return nil
}

func (e *encoder) saveList(l *List) error {
	if e.getOrMemoPtr(l) {
		return nil
	}
	if err := enter(e, l); err != nil {
		return err
	}
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyList)
	} else {
		e.buf = append(e.buf, opMark, opList)
	}
	e.memoize()
	prev := e.beginMutable()
	if err := e.appendSlice(l.Items); err != nil {
		return err // the encoder is thrown away: no need to restore
	}
	e.lastMut = prev
	e.leave()
	return nil
}

// appendSlice is appendItems for a slice (the common case, without the
// indirect call per item).
func (e *encoder) appendSlice(items []any) error {
	n := len(items)
	if e.proto == 0 || n == 1 {
		return e.appendItems(n, func(i int) any { return items[i] })
	}
	for start := 0; start < n; start += batchSize {
		batch := items[start:min(start+batchSize, n)]
		if len(batch) == 1 {
			if err := e.save(batch[0]); err != nil {
				return err
			}
			e.buf = append(e.buf, opAppend)
			continue
		}
		e.buf = append(e.buf, opMark)
		for _, it := range batch {
			if err := e.save(it); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opAppends)
	}
	return nil
}

// appendItems writes APPEND/APPENDS for items onto the list-like value on
// top of the stack, in CPython's batches.
func (e *encoder) appendItems(n int, item func(int) any) error {
	if e.proto == 0 {
		for i := range n {
			if err := e.save(item(i)); err != nil {
				return err
			}
			e.buf = append(e.buf, opAppend)
		}
		return nil
	}
	for start := 0; start < n; start += batchSize {
		end := min(start+batchSize, n)
		if end-start == 1 {
			if err := e.save(item(start)); err != nil {
				return err
			}
			e.buf = append(e.buf, opAppend)
			continue
		}
		e.buf = append(e.buf, opMark)
		for i := start; i < end; i++ {
			if err := e.save(item(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opAppends)
	}
	return nil
}

// setItems writes SETITEM/SETITEMS for n pairs onto the dict-like value on
// top of the stack.
func (e *encoder) setItems(n int, pair func(int) (any, any)) error {
	one := func(i int) error {
		k, v := pair(i)
		if err := e.save(k); err != nil {
			return err
		}
		return e.save(v)
	}
	if e.proto == 0 {
		for i := range n {
			if err := one(i); err != nil {
				return err
			}
			e.buf = append(e.buf, opSetitem)
		}
		return nil
	}
	for start := 0; start < n; start += batchSize {
		end := min(start+batchSize, n)
		if end-start == 1 {
			if err := one(start); err != nil {
				return err
			}
			e.buf = append(e.buf, opSetitem)
			continue
		}
		e.buf = append(e.buf, opMark)
		for i := start; i < end; i++ {
			if err := one(i); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opSetitems)
	}
	return nil
}

func (e *encoder) saveDict(d *Dict) error {
	if e.getOrMemoPtr(d) {
		return nil
	}
	if err := enter(e, d); err != nil {
		return err
	}
	e.emptyDict()
	e.memoize()
	prev := e.beginMutable()
	if err := e.saveDictItems(d); err != nil {
		return err // the encoder is thrown away: no need to restore
	}
	e.lastMut = prev
	e.leave()
	return nil
}

func (e *encoder) saveDictItems(d *Dict) error {
	entries := d.t.entries
	if d.t.live == len(entries) && e.proto > 0 && len(entries) > 1 {
		// SETITEMS batches straight from the table (no deleted entries).
		for start := 0; start < len(entries); start += batchSize {
			batch := entries[start:min(start+batchSize, len(entries))]
			if len(batch) == 1 {
				break // a last single item: SETITEM, below
			}
			e.buf = append(e.buf, opMark)
			for i := range batch {
				if err := e.save(batch[i].key); err != nil {
					return err
				}
				if err := e.save(batch[i].value); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, opSetitems)
		}
		if len(entries)%batchSize != 1 {
			return nil
		}
		last := &entries[len(entries)-1]
		if err := e.save(last.key); err != nil {
			return err
		}
		if err := e.save(last.value); err != nil {
			return err
		}
		e.buf = append(e.buf, opSetitem)
		return nil
	}
	if d.t.live == len(entries) {
		return e.setItems(len(entries), func(i int) (any, any) { return entries[i].key, entries[i].value })
	}
	items := d.Items()
	return e.setItems(len(items), func(i int) (any, any) { return items[i].Key, items[i].Value })
}

func (e *encoder) emptyDict() {
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyDict)
	} else {
		e.buf = append(e.buf, opMark, opDict)
	}
}

func (e *encoder) saveSet(s *Set) error {
	if e.getPtr(s) {
		return nil
	}
	if err := enter(e, s); err != nil {
		return err
	}
	defer e.leave()
	items := s.Items()
	if e.proto >= 4 {
		e.buf = append(e.buf, opEmptySet)
		e.memoPtr(s)
		prev := e.beginMutable()
		defer func() { e.lastMut = prev }()
		for start := 0; start < len(items); start += batchSize {
			e.buf = append(e.buf, opMark)
			for _, it := range items[start:min(start+batchSize, len(items))] {
				if err := e.save(it); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, opAdditems)
		}
		return nil
	}
	return e.saveSetCall(s, s, Global{"builtins", "set"}, items)
}

// saveSetCall writes set(list) / frozenset(list), CPython's form below
// protocol 4, memoized under key.
func (e *encoder) saveSetCall(v, key any, fn Global, items []any) error {
	pk := progKey{key: key}
	pm, err := beginImmutable(e, v, pk)
	if err != nil {
		return err
	}
	defer e.endImmutable(pk, pm)
	if err := e.saveGlobal(fn); err != nil {
		return err
	}
	if e.proto < 2 {
		e.buf = append(e.buf, opMark)
	}
	// the fresh list(obj) argument
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyList)
	} else {
		e.buf = append(e.buf, opMark, opList)
	}
	e.memoize()
	prevMut := e.beginMutable()
	err = e.appendItems(len(items), func(i int) any { return items[i] })
	e.lastMut = prevMut
	if err != nil {
		return err
	}
	if e.proto >= 2 {
		e.buf = append(e.buf, opTuple1)
	} else {
		e.buf = append(e.buf, opTuple)
	}
	e.memoize()
	e.buf = append(e.buf, opReduce)
	if idx, ok := e.lookPtr(key); ok {
		e.buf = append(e.buf, opPop)
		e.get(idx)
		return nil
	}
	e.memoPtr(key)
	return nil
}

func (e *encoder) saveFrozenSet(f FrozenSet) error {
	if f.s == nil {
		if e.proto >= 4 {
			e.buf = append(e.buf, opMark, opFrozenset)
			return nil
		}
		return e.saveCall(Global{"builtins", "frozenset"})
	}
	var key any = frozenKey{f.s} // boxed once for all its uses
	if e.getPtr(key) {
		return nil
	}
	if err := enter(e, f); err != nil {
		return err
	}
	defer e.leave()
	items := f.s.Items()
	if e.proto < 4 {
		return e.saveSetCall(f, key, Global{"builtins", "frozenset"}, items)
	}
	pk := progKey{key: key}
	pm, err := beginImmutable(e, f, pk)
	if err != nil {
		return err
	}
	defer e.endImmutable(pk, pm)
	e.buf = append(e.buf, opMark)
	for _, it := range items {
		if err := e.save(it); err != nil {
			return err
		}
	}
	if idx, ok := e.lookPtr(key); ok {
		e.buf = append(e.buf, opPopMark)
		e.get(idx)
		return nil
	}
	e.buf = append(e.buf, opFrozenset)
	e.memoPtr(key)
	return nil
}

func (e *encoder) saveGlobal(g Global) error {
	h := hashGlobal(g)
	if idx, ok := e.globMemo.get(g, h); ok {
		e.get(idx)
		return nil
	}
	if g.Module == "" || g.Name == "" || !validStr(g.Module) || !validStr(g.Name) ||
		strings.ContainsAny(g.Module, "\n") || strings.ContainsAny(g.Name, "\n") {
		return e.fail(g, ErrInvalid, "bad global name %q", g.String())
	}
	switch {
	case e.proto >= 4:
		if err := e.saveStr(g.Module); err != nil {
			return err
		}
		if err := e.saveStr(g.Name); err != nil {
			return err
		}
		e.buf = append(e.buf, opStackGlobal)
	case strings.Contains(g.Name, "."):
		// Nested names: getattr(parent, last), as CPython writes them.
		i := strings.LastIndexByte(g.Name, '.')
		if err := e.saveCall(Global{"builtins", "getattr"}, Global{g.Module, g.Name[:i]}, g.Name[i+1:]); err != nil {
			return err
		}
	default:
		mod, name := g.Module, g.Name
		if e.proto < 3 {
			if r, ok := compatReverseNames[g]; ok {
				mod, name = r.Module, r.Name
			} else if r, ok := compatReverseModules[mod]; ok {
				mod = r
			}
			// A reader maps Python 2 names to Python 3 ones at these
			// protocols, so a global that already has a Python 2 name
			// (decoded from a protocol 3+ pickle, say __builtin__.set)
			// would be read back as another (builtins.set): refuse it,
			// as CPython cannot pickle such a name either.
			if fromPython2(Global{mod, name}) != g {
				return e.fail(g, ErrInvalid, "global %q would be read back as %q at protocol %d", g.String(), fromPython2(Global{mod, name}).String(), e.proto)
			}
		}
		e.buf = append(e.buf, opGlobal)
		e.buf = append(e.buf, mod...)
		e.buf = append(e.buf, '\n')
		e.buf = append(e.buf, name...)
		e.buf = append(e.buf, '\n')
	}
	e.globMemo.put(g, h, e.memoize())
	return nil
}

func (e *encoder) saveObject(o *Object) error {
	if e.getPtr(o) {
		return nil
	}
	if o.Callable == nil {
		return e.fail(o, ErrInvalid, "Object without Callable")
	}
	if o.Kwargs != nil && !o.New {
		return e.fail(o, ErrInvalid, "Object with Kwargs must have New set")
	}
	if err := enter(e, o); err != nil {
		return err
	}
	defer e.leave()
	pk := progKey{key: o}
	pm, err := beginImmutable(e, o, pk)
	if err != nil {
		return err
	}
	err = e.saveConstruction(o)
	e.endImmutable(pk, pm)
	if err != nil {
		return err
	}
	if idx, ok := e.lookPtr(o); ok {
		e.buf = append(e.buf, opPop)
		e.get(idx)
		return nil
	}
	e.memoPtr(o)
	prevMut := e.beginMutable()
	defer func() { e.lastMut = prevMut }()
	if len(o.ListItems) > 0 {
		if err := e.appendItems(len(o.ListItems), func(i int) any { return o.ListItems[i] }); err != nil {
			return err
		}
	}
	if len(o.DictItems) > 0 {
		items := o.DictItems
		if err := e.setItems(len(items), func(i int) (any, any) { return items[i].Key, items[i].Value }); err != nil {
			return err
		}
	}
	if o.State != nil {
		if err := e.save(o.State); err != nil {
			return err
		}
		e.buf = append(e.buf, opBuild)
	}
	return nil
}

// saveConstruction writes what builds o: REDUCE, NEWOBJ or NEWOBJ_EX, or
// their copyreg equivalents at protocols without them.
func (e *encoder) saveConstruction(o *Object) error {
	args := o.Args
	if args == nil {
		args = Tuple{}
	}
	switch {
	case !o.New:
		if err := e.save(o.Callable); err != nil {
			return err
		}
		if err := e.save(args); err != nil {
			return err
		}
		e.buf = append(e.buf, opReduce)
	case o.Kwargs != nil && e.proto >= 4:
		for _, v := range []any{o.Callable, args, o.Kwargs} {
			if err := e.save(v); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opNewobjEx)
	case o.Kwargs != nil:
		return e.saveCall(Global{"copyreg", "__newobj_ex__"}, o.Callable, args, o.Kwargs)
	case e.proto >= 2:
		if err := e.save(o.Callable); err != nil {
			return err
		}
		if err := e.save(args); err != nil {
			return err
		}
		e.buf = append(e.buf, opNewobj)
	default:
		return e.saveCall(Global{"copyreg", "__newobj__"}, append([]any{o.Callable}, args...)...)
	}
	return nil
}
