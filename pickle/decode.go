package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Limits bound what a decoder accepts. A zero field means its default (see
// DefaultLimits); to lift a limit, set it very high.
//
// MaxDepth is checked on the structure as the decoder builds it. For pickles
// written by Python (children complete before they are added) that is the
// value's true nesting. A hand-made pickle can deepen a container after it
// was added to another; every recursive walk in this package (encoding,
// hashing keys, Unmarshal, Equal) checks its own depth, so such a value still
// fails cleanly with ErrTooDeep instead of exhausting the stack.
type Limits struct {
	// MaxInputSize bounds the bytes of one pickle (default 256 MiB).
	// Violations: ErrTooLarge.
	MaxInputSize int64
	// MaxDepth bounds value nesting and MARK nesting (default 1000, about
	// CPython's recursion limit). Violations: ErrTooDeep.
	MaxDepth int
	// MaxContainerLen bounds the items of one tuple, list, dict, set or
	// object, and of the unpickler stack (default 16 Mi). Violations:
	// ErrTooManyItems.
	MaxContainerLen int
	// MaxMemo bounds the memo entries (default 16 Mi). Violations:
	// ErrMemoLimit.
	MaxMemo int
	// MaxIntBytes bounds the two's-complement size of an int, binary or text
	// (default 64 KiB, about 157,000 decimal digits). Violations:
	// ErrIntTooLarge.
	MaxIntBytes int
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxInputSize:    256 << 20,
		MaxDepth:        1000,
		MaxContainerLen: 16 << 20,
		MaxMemo:         16 << 20,
		MaxIntBytes:     64 << 10,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxInputSize <= 0 {
		l.MaxInputSize = d.MaxInputSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxDepth > math.MaxInt32/2 {
		l.MaxDepth = math.MaxInt32 / 2
	}
	if l.MaxContainerLen <= 0 {
		l.MaxContainerLen = d.MaxContainerLen
	}
	if l.MaxMemo <= 0 {
		l.MaxMemo = d.MaxMemo
	}
	if l.MaxIntBytes <= 0 {
		l.MaxIntBytes = d.MaxIntBytes
	}
	return l
}

// DecoderOptions configure a Decoder, LoadsWith and UnmarshalWith. A nil
// *DecoderOptions means all defaults.
type DecoderOptions struct {
	// Limits bound the input; zero fields take DefaultLimits.
	Limits Limits
	// PersistentLoad resolves a persistent ID (PERSID: a str; BINPERSID:
	// any value). Without it such pickles fail with ErrPersistentID. A nil
	// result is None.
	PersistentLoad func(pid any) (any, error)
	// Extensions is the extension registry for EXT1/EXT2/EXT4 (copyreg's
	// inverted registry: code -> global). Unregistered codes fail with
	// ErrExtension.
	Extensions map[int]Global
	// Buffers are the out-of-band buffers for NEXT_BUFFER, in order. A
	// buffer arrives as a ByteArray sharing memory with the slice (or as
	// []byte after READONLY_BUFFER). Without them NEXT_BUFFER fails with
	// ErrBuffer.
	Buffers [][]byte
	// Encoding decodes Python 2 str (STRING, BINSTRING, SHORT_BINSTRING),
	// as Unpickler(encoding=...) does: "ASCII" (the default), "latin1",
	// "utf-8", or "bytes" (they become []byte).
	Encoding string
}

func (o *DecoderOptions) normalized() (DecoderOptions, error) {
	var opts DecoderOptions
	if o != nil {
		opts = *o
	}
	opts.Limits = opts.Limits.withDefaults()
	switch opts.Encoding {
	case "", "ASCII", "ascii":
		opts.Encoding = "ascii"
	case "latin1", "latin-1", "iso-8859-1", "latin_1", "L1":
		opts.Encoding = "latin1"
	case "utf-8", "utf8", "UTF-8", "UTF8":
		opts.Encoding = "utf-8"
	case "bytes":
	default:
		return opts, fmt.Errorf("%w: unsupported DecoderOptions.Encoding %q", ErrInvalid, opts.Encoding)
	}
	return opts, nil
}

// Decoder reads pickles from a stream, one per Decode or Load call. Like
// json.Decoder it may read past the end of a pickle; the extra bytes are kept
// for the next call and available from Buffered.
type Decoder struct {
	r       io.Reader
	opts    DecoderOptions
	optErr  error
	buf     []byte
	off     int
	rerr    error // sticky error from r
	nextBuf int
}

// NewDecoder returns a decoder reading from r. opts may be nil.
func NewDecoder(r io.Reader, opts *DecoderOptions) *Decoder {
	d := &Decoder{r: r}
	d.opts, d.optErr = opts.normalized()
	return d
}

// Buffered returns the bytes read from r but not yet decoded.
func (d *Decoder) Buffered() io.Reader { return bytes.NewReader(d.buf[d.off:]) }

// Load decodes the next pickle and returns it in the value model (see
// value.go). At the end of the stream, before any byte of a pickle, it
// returns io.EOF.
func (d *Decoder) Load() (v any, err error) {
	if d.optErr != nil {
		return nil, d.optErr
	}
	m := getMachine()
	m.dec, m.data, m.pos, m.base, m.opts, m.nextBuf = d, d.buf, d.off, -int64(d.off), &d.opts, &d.nextBuf
	defer func() {
		d.buf, d.off = m.data, m.pos
		m.release()
	}()
	if d.off == len(d.buf) {
		if err := m.fill(1); err != nil {
			if errors.Is(err, ErrTruncated) && d.rerr == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
	}
	return m.run()
}

// Decode decodes the next pickle into v, as Unmarshal does.
func (d *Decoder) Decode(v any) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	val, err := d.Load()
	if err != nil {
		return err
	}
	return unmarshalValue(val, v, d.opts.Limits.MaxDepth)
}

// Loads decodes one pickle of any protocol 0-5 with default options and
// returns it in the value model (see value.go). Bytes after STOP are ignored,
// as Python does.
func Loads(data []byte) (any, error) { return LoadsWith(data, nil) }

// LoadsWith is Loads with options.
func LoadsWith(data []byte, opts *DecoderOptions) (any, error) {
	m := getMachine()
	defer m.release()
	o := &defaultOptions
	if opts != nil {
		n, err := opts.normalized()
		if err != nil {
			return nil, err
		}
		m.ownOpts = n
		o = &m.ownOpts
	}
	m.data, m.opts, m.nextBuf = data, o, &m.ownNext
	if int64(len(data)) > o.Limits.MaxInputSize {
		m.realLen = len(data)
		m.data = data[:o.Limits.MaxInputSize]
	}
	return m.run()
}

// defaultOptions are the normalized nil *DecoderOptions (read only).
var defaultOptions, _ = (*DecoderOptions)(nil).normalized()

// machinePool recycles the unpickler's stack, marks, memo and string cache.
var machinePool = sync.Pool{New: func() any { return new(machine) }}

func getMachine() *machine { return machinePool.Get().(*machine) }

// release clears m, dropping every reference to decoded values, and returns
// it to the pool; oversized slices are let go. Only the parts of the stack
// and memo that were used are cleared (popMark leaves items above the
// stack's length; stackHigh says how far).
func (m *machine) release() {
	const keep = 1 << 12
	clear(m.stack[:max(len(m.stack), m.stackHigh)])
	clear(m.memo)
	m.stack, m.marks, m.memo = m.stack[:0], m.marks[:0], m.memo[:0]
	if cap(m.stack) > keep {
		m.stack = nil
	}
	if cap(m.marks) > keep {
		m.marks = nil
	}
	if cap(m.memo) > keep {
		m.memo = nil
	}
	// Field by field (a new field of machine must be reset here too):
	// cheaper than zeroing the whole struct, and the slices and strs stay.
	m.data, m.pos, m.base, m.realLen, m.dec, m.opts, m.nextBuf, m.ownNext = nil, 0, 0, 0, nil, nil, nil, 0
	m.ownOpts = DecoderOptions{}
	m.stackHigh, m.memoMap, m.memoLen, m.proto, m.op, m.opPos = 0, nil, 0, 0, 0, 0
	m.h, m.copied, m.oob = hasher{}, 0, 0
	machinePool.Put(m)
}

// slot is one stack or memo entry: a value and, for immutable values, the
// nesting depth it was built with (containers carry their own).
type slot struct {
	v any
	d int32
}

func (s slot) depth() int32 { return depthOf(s.v, s.d) }

// machine is the unpickling virtual machine for one pickle.
type machine struct {
	data    []byte // input; data[pos:] is unread
	pos     int
	base    int64    // offset of data[0] from the start of the pickle
	realLen int      // >0: data was cut at MaxInputSize from this length
	dec     *Decoder // nil when data is the whole input
	opts    *DecoderOptions
	nextBuf *int
	ownNext int            // nextBuf for LoadsWith
	ownOpts DecoderOptions // opts for LoadsWith, normalized

	stack     []slot
	stackHigh int // stack[:stackHigh] may hold references (see release)
	marks     []int
	memo      []slot
	memoMap   map[uint64]slot
	memoLen   int
	proto     int
	op        byte
	opPos     int64
	h         hasher
	copied    int64     // items and bytes copied by constructors; see spend
	oob       int64     // bytes received as out-of-band buffers
	strs      *strCache // kept across pickles by the pool; see strCache
}

// spend accounts for n items or bytes copied by a constructor (set(x),
// list(x), bytearray(x), ...). A pickle can apply one to the same memoized
// x again and again, so copies are limited to what the input (and the
// out-of-band buffers) could have supplied, plus some slack; beyond that the
// decoded value would be disproportionately larger than the pickle.
func (m *machine) spend(n int) error {
	m.copied += int64(n)
	if m.copied > m.base+int64(m.pos)+m.oob+1<<16 {
		return m.fail(ErrTooLarge, "constructors copy more than the pickle holds (%d items or bytes)", m.copied)
	}
	return nil
}

func (m *machine) lim() *Limits { return &m.opts.Limits }

func (m *machine) fail(sentinel error, format string, args ...any) error {
	return &DecodeError{Offset: m.opPos, Opcode: m.op, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (m *machine) wrap(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		msg = err.Error()
	} else {
		msg += ": " + err.Error()
	}
	return &DecodeError{Offset: m.opPos, Opcode: m.op, Msg: msg, Err: err}
}

// ---- input ----

// fill makes at least n unread bytes available from the stream, growing the
// buffer only as data actually arrives.
func (m *machine) fill(n int) error {
	if m.dec == nil {
		return m.short(n)
	}
	if m.base+int64(m.pos)+int64(n) > m.lim().MaxInputSize {
		return m.fail(ErrTooLarge, "need %d more bytes, past MaxInputSize %d", n, m.lim().MaxInputSize)
	}
	if m.pos > 0 {
		k := copy(m.data, m.data[m.pos:])
		m.data = m.data[:k]
		m.base += int64(m.pos)
		m.pos = 0
	}
	stalls := 0
	for len(m.data) < n {
		if m.dec.rerr != nil {
			if m.dec.rerr == io.EOF {
				return m.fail(ErrTruncated, "input ended %d bytes short", n-len(m.data))
			}
			return m.wrap(m.dec.rerr, "read")
		}
		if len(m.data) == cap(m.data) {
			grow := max(len(m.data), 4096)
			nb := make([]byte, len(m.data), len(m.data)+grow)
			copy(nb, m.data)
			m.data = nb
		}
		k, err := m.dec.r.Read(m.data[len(m.data):cap(m.data)])
		m.data = m.data[:len(m.data)+k]
		if err != nil {
			m.dec.rerr = err
		}
		if k == 0 && err == nil {
			if stalls++; stalls > 100 {
				m.dec.rerr = io.ErrNoProgress
			}
		}
	}
	return nil
}

// short reports that the whole-slice input lacks n bytes.
func (m *machine) short(n int) error {
	if m.realLen > 0 && m.pos+n <= m.realLen {
		return m.fail(ErrTooLarge, "pickle runs past MaxInputSize %d", m.lim().MaxInputSize)
	}
	return m.fail(ErrTruncated, "need %d bytes, %d remain", n, len(m.data)-m.pos)
}

func (m *machine) read(n int) ([]byte, error) {
	if m.dec != nil && m.base+int64(m.pos+n) > m.lim().MaxInputSize {
		return nil, m.fail(ErrTooLarge, "pickle runs past MaxInputSize %d", m.lim().MaxInputSize)
	}
	if len(m.data)-m.pos < n {
		if err := m.fill(n); err != nil {
			return nil, err
		}
	}
	b := m.data[m.pos : m.pos+n]
	m.pos += n
	return b, nil
}

// readLen reads a payload whose length n was declared by the pickle. The
// length is checked against the remaining input (or MaxInputSize, for a
// stream) before anything is allocated.
func (m *machine) readLen(n uint64) ([]byte, error) {
	remain := uint64(len(m.data) - m.pos)
	if n > remain {
		if m.dec == nil {
			if m.realLen > 0 && n <= uint64(m.realLen-m.pos) {
				return nil, m.fail(ErrTooLarge, "declared length %d runs past MaxInputSize %d", n, m.lim().MaxInputSize)
			}
			return nil, m.fail(ErrTruncated, "declared length %d, but %d bytes remain", n, remain)
		}
		room := m.lim().MaxInputSize - (m.base + int64(m.pos))
		if room < 0 || n > uint64(room) {
			return nil, m.fail(ErrTooLarge, "declared length %d runs past MaxInputSize %d", n, m.lim().MaxInputSize)
		}
	}
	return m.read(int(n))
}

func (m *machine) readLine() ([]byte, error) {
	searched := 0
	for {
		if i := bytes.IndexByte(m.data[m.pos+searched:], '\n'); i >= 0 {
			if m.dec != nil && m.base+int64(m.pos+searched+i+1) > m.lim().MaxInputSize {
				return nil, m.fail(ErrTooLarge, "pickle runs past MaxInputSize %d", m.lim().MaxInputSize)
			}
			line := m.data[m.pos : m.pos+searched+i]
			m.pos += searched + i + 1
			return line, nil
		}
		searched = len(m.data) - m.pos
		if m.dec == nil {
			return nil, m.short(searched + 1)
		}
		if err := m.fill(searched + 1); err != nil {
			return nil, err
		}
	}
}

func (m *machine) readU8() (int, error) {
	b, err := m.read(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (m *machine) readU16() (int, error) {
	b, err := m.read(2)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(b)), nil
}

func (m *machine) readU32() (uint32, error) {
	b, err := m.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (m *machine) readU64() (uint64, error) {
	b, err := m.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// ---- stack ----

func (m *machine) push(v any, d int32) error {
	if len(m.stack) >= m.lim().MaxContainerLen {
		return m.fail(ErrTooManyItems, "stack holds more than %d items", m.lim().MaxContainerLen)
	}
	m.stack = append(m.stack, slot{v, d})
	return nil
}

func (m *machine) fence() int {
	if len(m.marks) == 0 {
		return 0
	}
	return m.marks[len(m.marks)-1]
}

func (m *machine) pop() (slot, error) {
	if len(m.stack) <= m.fence() {
		return slot{}, m.fail(ErrStack, "stack underflow")
	}
	s := m.stack[len(m.stack)-1]
	m.stack[len(m.stack)-1] = slot{}
	m.stack = m.stack[:len(m.stack)-1]
	return s, nil
}

func (m *machine) top() (*slot, error) {
	if len(m.stack) <= m.fence() {
		return nil, m.fail(ErrStack, "stack underflow")
	}
	return &m.stack[len(m.stack)-1], nil
}

// popMark removes and returns the items above the top mark. The returned
// slice aliases the stack: use it before the next push.
func (m *machine) popMark() ([]slot, error) {
	if len(m.marks) == 0 {
		return nil, m.fail(ErrStack, "no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := m.stack[k:]
	m.stackHigh = max(m.stackHigh, len(m.stack))
	m.stack = m.stack[:k]
	return items, nil
}

func (m *machine) checkDepth(d int32) error {
	if int(d) > m.lim().MaxDepth {
		return m.fail(ErrTooDeep, "nesting depth %d exceeds MaxDepth %d", d, m.lim().MaxDepth)
	}
	return nil
}

func (m *machine) checkLen(n int) error {
	if n > m.lim().MaxContainerLen {
		return m.fail(ErrTooManyItems, "container of %d items exceeds MaxContainerLen %d", n, m.lim().MaxContainerLen)
	}
	return nil
}

// ---- memo ----

func (m *machine) memoPut(idx uint64, s slot) error {
	if idx == uint64(len(m.memo)) && m.memoMap == nil {
		// the usual case: memo indices 0, 1, 2, ... in order
		if err := m.memoGrow(); err != nil {
			return err
		}
		m.memo = append(m.memo, s)
		return nil
	}
	if idx < uint64(len(m.memo)) {
		if m.memo[idx].v == nil {
			if err := m.memoGrow(); err != nil {
				return err
			}
		}
		m.memo[idx] = s
		return nil
	}
	if _, ok := m.memoMap[idx]; !ok {
		if err := m.memoGrow(); err != nil {
			return err
		}
	}
	if idx == uint64(len(m.memo)) {
		delete(m.memoMap, idx)
		m.memo = append(m.memo, s)
		return nil
	}
	if m.memoMap == nil {
		m.memoMap = make(map[uint64]slot)
	}
	m.memoMap[idx] = s
	return nil
}

func (m *machine) memoGrow() error {
	if m.memoLen >= m.lim().MaxMemo {
		return m.fail(ErrMemoLimit, "more than %d memo entries", m.lim().MaxMemo)
	}
	m.memoLen++
	return nil
}

func (m *machine) memoGet(idx uint64) error {
	var s slot
	if idx < uint64(len(m.memo)) {
		s = m.memo[idx]
	} else {
		s = m.memoMap[idx]
	}
	if s.v == nil {
		return m.fail(ErrMemoKey, "memo key %d not found", idx)
	}
	return m.push(s.v, s.d)
}

func (m *machine) textIndex() (uint64, error) {
	line, err := m.readLine()
	if err != nil {
		return 0, err
	}
	s := trimSpace(string(line))
	s = string(bytes.TrimPrefix([]byte(s), []byte("+")))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, m.fail(ErrMemoKey, "memo key %q is not a non-negative decimal int", line)
	}
	return v, nil
}

// ---- the loop ----

func (m *machine) run() (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			// Last resort only: every input is meant to be checked above.
			result, err = nil, &DecodeError{Offset: m.opPos, Opcode: m.op, Msg: fmt.Sprintf("internal error: %v", r), Err: ErrInvalid}
		}
	}()
	m.h.maxDepth = m.lim().MaxDepth
	for {
		m.opPos = m.base + int64(m.pos)
		m.op = 0
		if m.pos >= len(m.data) {
			if err := m.fill(1); err != nil {
				return nil, err
			}
		}
		if m.dec != nil && m.base+int64(m.pos) >= m.lim().MaxInputSize {
			return nil, m.fail(ErrTooLarge, "pickle runs past MaxInputSize %d", m.lim().MaxInputSize)
		}
		op := m.data[m.pos]
		m.pos++
		m.op = op
		switch op {
		case opStop:
			s, err := m.pop()
			if err != nil {
				return nil, err
			}
			return s.v, nil
		// Fast paths for what Python's pickles are mostly made of, when
		// all the operands are at hand; step does the general case.
		case opMemoize:
			if n := len(m.stack); n > m.fence() && m.memoMap == nil && m.memoLen < m.lim().MaxMemo {
				m.memo = append(m.memo, m.stack[n-1])
				m.memoLen++
				continue
			}
		case opShortBinunicode:
			if p := m.pos + 1; m.inWindow(p) {
				if end := p + int(m.data[p-1]); m.inWindow(end) {
					m.pos = end
					if err := m.pushStr(m.data[p:end]); err != nil {
						return nil, err
					}
					continue
				}
			}
		case opBinget:
			if p := m.pos + 1; m.inWindow(p) {
				if idx := int(m.data[p-1]); idx < len(m.memo) && m.memo[idx].v != nil {
					m.pos = p
					if err := m.push(m.memo[idx].v, m.memo[idx].d); err != nil {
						return nil, err
					}
					continue
				}
			}
		}
		if err := m.step(op); err != nil {
			return nil, err
		}
	}
}

// inWindow reports whether data[:end] is read and within MaxInputSize.
func (m *machine) inWindow(end int) bool {
	return end <= len(m.data) && (m.dec == nil || m.base+int64(end) <= m.lim().MaxInputSize)
}

func (m *machine) step(op byte) error {
	switch op {
	case opProto:
		p, err := m.readU8()
		if err != nil {
			return err
		}
		if p > HighestProtocol {
			return m.fail(ErrProtocol, "unsupported pickle protocol %d", p)
		}
		m.proto = p
	case opFrame:
		n, err := m.readU64()
		if err != nil {
			return err
		}
		// A frame is a read-ahead hint: make sure it is all there.
		if n > uint64(len(m.data)-m.pos) {
			if m.dec == nil {
				if m.realLen > 0 && n <= uint64(m.realLen-m.pos) {
					return m.fail(ErrTooLarge, "frame of %d bytes runs past MaxInputSize", n)
				}
				return m.fail(ErrTruncated, "frame of %d bytes, but %d bytes remain", n, len(m.data)-m.pos)
			}
			room := m.lim().MaxInputSize - (m.base + int64(m.pos))
			if room < 0 || n > uint64(room) {
				return m.fail(ErrTooLarge, "frame of %d bytes runs past MaxInputSize", n)
			}
			if err := m.fill(int(n)); err != nil {
				return err
			}
		}
	case opMark:
		if len(m.marks) >= m.lim().MaxDepth {
			return m.fail(ErrTooDeep, "MARKs nest deeper than MaxDepth %d", m.lim().MaxDepth)
		}
		m.marks = append(m.marks, len(m.stack))
	case opPop:
		if len(m.stack) > m.fence() {
			_, err := m.pop()
			return err
		}
		_, err := m.popMark()
		return err
	case opPopMark:
		_, err := m.popMark()
		return err
	case opDup:
		t, err := m.top()
		if err != nil {
			return err
		}
		return m.push(t.v, t.d)

	// ---- memo ----
	case opPut, opBinput, opLongBinput, opMemoize:
		var idx uint64
		switch op {
		case opPut:
			v, err := m.textIndex()
			if err != nil {
				return err
			}
			idx = v
		case opBinput:
			v, err := m.readU8()
			if err != nil {
				return err
			}
			idx = uint64(v)
		case opLongBinput:
			v, err := m.readU32()
			if err != nil {
				return err
			}
			idx = uint64(v)
		case opMemoize:
			idx = uint64(m.memoLen)
		}
		t, err := m.top()
		if err != nil {
			return err
		}
		return m.memoPut(idx, *t)
	case opGet:
		idx, err := m.textIndex()
		if err != nil {
			return err
		}
		return m.memoGet(idx)
	case opBinget:
		idx, err := m.readU8()
		if err != nil {
			return err
		}
		return m.memoGet(uint64(idx))
	case opLongBinget:
		idx, err := m.readU32()
		if err != nil {
			return err
		}
		return m.memoGet(uint64(idx))

	// ---- scalars ----
	case opNone:
		return m.push(None, 0)
	case opNewtrue:
		return m.push(true, 0)
	case opNewfalse:
		return m.push(false, 0)
	case opInt:
		line, err := m.readLine()
		if err != nil {
			return err
		}
		switch string(line) {
		case "00":
			return m.push(false, 0)
		case "01":
			return m.push(true, 0)
		}
		return m.textInt(line)
	case opLong:
		line, err := m.readLine()
		if err != nil {
			return err
		}
		if len(line) > 0 && line[len(line)-1] == 'L' {
			line = line[:len(line)-1]
		}
		return m.textInt(line)
	case opBinint:
		v, err := m.readU32()
		if err != nil {
			return err
		}
		return m.push(int64(int32(v)), 0)
	case opBinint1:
		v, err := m.readU8()
		if err != nil {
			return err
		}
		return m.push(int64(v), 0)
	case opBinint2:
		v, err := m.readU16()
		if err != nil {
			return err
		}
		return m.push(int64(v), 0)
	case opLong1, opLong4:
		var n uint64
		if op == opLong1 {
			v, err := m.readU8()
			if err != nil {
				return err
			}
			n = uint64(v)
		} else {
			v, err := m.readU32()
			if err != nil {
				return err
			}
			if int32(v) < 0 {
				return m.fail(ErrInvalid, "LONG4 has negative byte count %d", int32(v))
			}
			n = uint64(v)
		}
		if n > uint64(m.lim().MaxIntBytes) {
			return m.fail(ErrIntTooLarge, "int of %d bytes exceeds MaxIntBytes %d", n, m.lim().MaxIntBytes)
		}
		b, err := m.readLen(n)
		if err != nil {
			return err
		}
		return m.push(decodeLong(b), 0)
	case opFloat:
		line, err := m.readLine()
		if err != nil {
			return err
		}
		f, err := parseFloatText(string(line))
		if err != nil {
			return m.fail(ErrInvalid, "bad float literal %q", line)
		}
		return m.push(f, 0)
	case opBinfloat:
		b, err := m.read(8)
		if err != nil {
			return err
		}
		return m.push(math.Float64frombits(binary.BigEndian.Uint64(b)), 0)

	// ---- strings ----
	case opString:
		line, err := m.readLine()
		if err != nil {
			return err
		}
		if len(line) < 2 || line[0] != line[len(line)-1] || (line[0] != '\'' && line[0] != '"') {
			return m.fail(ErrInvalid, "the STRING opcode argument must be quoted")
		}
		b, err := escapeDecode(line[1 : len(line)-1])
		if err != nil {
			return m.fail(ErrInvalid, "bad escape in STRING %q", line)
		}
		return m.py2str(b)
	case opBinstring:
		n, err := m.readU32()
		if err != nil {
			return err
		}
		if int32(n) < 0 {
			return m.fail(ErrInvalid, "BINSTRING has negative byte count %d", int32(n))
		}
		b, err := m.readLen(uint64(n))
		if err != nil {
			return err
		}
		return m.py2str(b)
	case opShortBinstring:
		n, err := m.readU8()
		if err != nil {
			return err
		}
		b, err := m.readLen(uint64(n))
		if err != nil {
			return err
		}
		return m.py2str(b)
	case opUnicode:
		line, err := m.readLine()
		if err != nil {
			return err
		}
		s, err := rawUnicodeEscapeDecode(line)
		if err != nil {
			return m.fail(ErrInvalid, "bad raw-unicode-escape in UNICODE")
		}
		return m.push(s, 0)
	case opBinunicode, opShortBinunicode, opBinunicode8:
		n, err := m.lenArg(op == opShortBinunicode, op == opBinunicode8)
		if err != nil {
			return err
		}
		b, err := m.readLen(n)
		if err != nil {
			return err
		}
		return m.pushStr(b)
	case opBinbytes, opShortBinbytes, opBinbytes8, opBytearray8:
		n, err := m.lenArg(op == opShortBinbytes, op == opBinbytes8 || op == opBytearray8)
		if err != nil {
			return err
		}
		b, err := m.readLen(n)
		if err != nil {
			return err
		}
		if op == opBytearray8 {
			return m.push(ByteArray(append([]byte{}, b...)), 0)
		}
		return m.push(append([]byte{}, b...), 0)
	case opNextBuffer:
		bufs := m.opts.Buffers
		if bufs == nil {
			return m.fail(ErrBuffer, "pickle refers to out-of-band data but DecoderOptions.Buffers is nil")
		}
		if *m.nextBuf >= len(bufs) {
			return m.fail(ErrBuffer, "not enough out-of-band buffers (%d given)", len(bufs))
		}
		b := bufs[*m.nextBuf]
		*m.nextBuf++
		m.oob += int64(len(b))
		if b == nil {
			b = []byte{}
		}
		return m.push(ByteArray(b), 0)
	case opReadonlyBuffer:
		t, err := m.top()
		if err != nil {
			return err
		}
		switch x := t.v.(type) {
		case ByteArray:
			t.v = []byte(x)
		case []byte:
		default:
			return m.fail(ErrInvalid, "READONLY_BUFFER on %s, not a buffer", TypeName(t.v))
		}

	// ---- containers ----
	case opEmptyTuple:
		return m.push(Tuple{}, 1)
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(m.stack)-m.fence() < n {
			return m.fail(ErrStack, "stack underflow")
		}
		items := m.stack[len(m.stack)-n:]
		t, d := makeTuple(items)
		clear(items)
		m.stack = m.stack[:len(m.stack)-n]
		if err := m.checkDepth(d); err != nil {
			return err
		}
		return m.push(t, d)
	case opTuple:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		t, d := makeTuple(items)
		if err := m.checkDepth(d); err != nil {
			return err
		}
		return m.push(t, d)
	case opEmptyList:
		return m.push(&List{Items: []any{}, depth: 1}, 0)
	case opList:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		l := &List{Items: make([]any, 0, len(items)), depth: 1}
		if err := m.appendList(l, items); err != nil {
			return err
		}
		return m.push(l, 0)
	case opAppend:
		v, err := m.pop()
		if err != nil {
			return err
		}
		return m.appendTo([]slot{v})
	case opAppends:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		return m.appendTo(items)
	case opEmptyDict:
		return m.push(&Dict{depth: 1}, 0)
	case opDict:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return m.fail(ErrInvalid, "DICT with an odd number (%d) of items", len(items))
		}
		d := &Dict{depth: 1}
		if err := m.setItems(d, items); err != nil {
			return err
		}
		return m.push(d, 0)
	case opSetitem:
		v, err := m.pop()
		if err != nil {
			return err
		}
		k, err := m.pop()
		if err != nil {
			return err
		}
		return m.setItemsTo([]slot{k, v})
	case opSetitems:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return m.fail(ErrInvalid, "SETITEMS with an odd number (%d) of items", len(items))
		}
		return m.setItemsTo(items)
	case opEmptySet:
		return m.push(&Set{depth: 1}, 0)
	case opAdditems:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		t, err := m.top()
		if err != nil {
			return err
		}
		s, ok := t.v.(*Set)
		if !ok {
			return m.fail(ErrInvalid, "ADDITEMS on %s, not a set", TypeName(t.v))
		}
		return m.addItems(s, items)
	case opFrozenset:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		s := &Set{depth: 1}
		if err := m.addItems(s, items); err != nil {
			return err
		}
		return m.push(freeze(s), s.depth)

	// ---- globals and objects ----
	case opGlobal:
		mod, err := m.readLine()
		if err != nil {
			return err
		}
		name, err := m.readLine()
		if err != nil {
			return err
		}
		if !utf8.Valid(mod) || !utf8.Valid(name) {
			return m.fail(ErrInvalid, "GLOBAL names are not UTF-8")
		}
		return m.push(m.global(string(mod), string(name)), 0)
	case opStackGlobal:
		name, err := m.pop()
		if err != nil {
			return err
		}
		mod, err := m.pop()
		if err != nil {
			return err
		}
		ms, ok1 := mod.v.(string)
		ns, ok2 := name.v.(string)
		if !ok1 || !ok2 {
			return m.fail(ErrInvalid, "STACK_GLOBAL requires str, got %s and %s", TypeName(mod.v), TypeName(name.v))
		}
		return m.push(m.global(ms, ns), 0)
	case opExt1, opExt2, opExt4:
		var code int
		switch op {
		case opExt1:
			v, err := m.readU8()
			if err != nil {
				return err
			}
			code = v
		case opExt2:
			v, err := m.readU16()
			if err != nil {
				return err
			}
			code = v
		default:
			v, err := m.readU32()
			if err != nil {
				return err
			}
			code = int(int32(v))
		}
		g, ok := m.opts.Extensions[code]
		if !ok {
			return m.fail(ErrExtension, "%s code %d is not registered (DecoderOptions.Extensions)", opName(op), code)
		}
		return m.push(g, 0)
	case opReduce:
		args, err := m.pop()
		if err != nil {
			return err
		}
		fn, err := m.pop()
		if err != nil {
			return err
		}
		var t Tuple
		switch a := args.v.(type) {
		case Tuple:
			t = a
		case *List:
			// Pickles only ever append to a list, so the capped slice
			// stays as it is: no copy needed.
			t = Tuple(a.Items[:len(a.Items):len(a.Items)])
		default:
			return m.fail(ErrInvalid, "REDUCE arguments are %s, not a tuple", TypeName(args.v))
		}
		return m.call(fn, t, args.depth())
	case opNewobj:
		args, err := m.pop()
		if err != nil {
			return err
		}
		cls, err := m.pop()
		if err != nil {
			return err
		}
		t, ok := args.v.(Tuple)
		if !ok {
			return m.fail(ErrInvalid, "NEWOBJ expected an argument tuple, got %s", TypeName(args.v))
		}
		return m.newObject(cls, t, args.depth(), nil, 0)
	case opNewobjEx:
		kw, err := m.pop()
		if err != nil {
			return err
		}
		args, err := m.pop()
		if err != nil {
			return err
		}
		cls, err := m.pop()
		if err != nil {
			return err
		}
		t, ok := args.v.(Tuple)
		if !ok {
			return m.fail(ErrInvalid, "NEWOBJ_EX expected an argument tuple, got %s", TypeName(args.v))
		}
		d, ok := kw.v.(*Dict)
		if !ok {
			return m.fail(ErrInvalid, "NEWOBJ_EX expected a keyword dict, got %s", TypeName(kw.v))
		}
		return m.newObject(cls, t, args.depth(), d, d.depth)
	case opInst:
		mod, err := m.readLine()
		if err != nil {
			return err
		}
		name, err := m.readLine()
		if err != nil {
			return err
		}
		if !isASCII(mod) || !isASCII(name) {
			return m.fail(ErrInvalid, "INST names are not ASCII")
		}
		items, err := m.popMark()
		if err != nil {
			return err
		}
		g := m.global(string(mod), string(name))
		return m.instantiate(slot{g, 0}, items)
	case opObj:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return m.fail(ErrStack, "OBJ without a class")
		}
		return m.instantiate(items[0], items[1:])
	case opBuild:
		state, err := m.pop()
		if err != nil {
			return err
		}
		t, err := m.top()
		if err != nil {
			return err
		}
		o, ok := t.v.(*Object)
		if !ok {
			return m.fail(ErrInvalid, "BUILD on %s, not an object", TypeName(t.v))
		}
		if o.State != nil {
			return m.fail(ErrInvalid, "BUILD applied twice to one object")
		}
		o.State = state.v
		return m.deepen(&o.depth, state.depth())
	case opPersid:
		line, err := m.readLine()
		if err != nil {
			return err
		}
		if !isASCII(line) {
			return m.fail(ErrInvalid, "PERSID is not ASCII")
		}
		return m.persistent(string(line))
	case opBinpersid:
		pid, err := m.pop()
		if err != nil {
			return err
		}
		return m.persistent(pid.v)
	default:
		return m.fail(ErrUnknownOpcode, "unknown opcode %s", quoteByte(op))
	}
	return nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func (m *machine) lenArg(short, long bool) (uint64, error) {
	switch {
	case short:
		n, err := m.readU8()
		return uint64(n), err
	case long:
		return m.readU64()
	}
	n, err := m.readU32()
	return uint64(n), err
}

func (m *machine) textInt(line []byte) error {
	v, err := parseIntText(string(line), m.lim().MaxIntBytes)
	if err == ErrIntTooLarge {
		return m.fail(ErrIntTooLarge, "int literal exceeds MaxIntBytes %d", m.lim().MaxIntBytes)
	}
	if err != nil {
		return m.fail(ErrInvalid, "bad int literal %q", line)
	}
	return m.push(v, 0)
}

// decodeLong decodes a little-endian two's-complement integer.
func decodeLong(b []byte) any {
	n := len(b)
	if n == 0 {
		return int64(0)
	}
	if n <= 8 {
		var u uint64
		for i := n - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		shift := uint(64 - 8*n)
		return int64(u<<shift) >> shift
	}
	be := make([]byte, n)
	for i, c := range b {
		be[n-1-i] = c
	}
	x := new(big.Int).SetBytes(be)
	if b[n-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	return normBig(x)
}

func (m *machine) py2str(b []byte) error {
	switch m.opts.Encoding {
	case "bytes":
		return m.push(append([]byte{}, b...), 0)
	case "latin1":
		return m.push(latin1(b), 0)
	case "utf-8":
		if !utf8.Valid(b) {
			return m.fail(ErrInvalid, "Python 2 str is not UTF-8 (DecoderOptions.Encoding)")
		}
		return m.push(string(b), 0)
	}
	if !isASCII(b) {
		return m.fail(ErrInvalid, "Python 2 str is not ASCII (set DecoderOptions.Encoding)")
	}
	return m.push(string(b), 0)
}

func (m *machine) global(mod, name string) Global {
	g := Global{mod, name}
	if m.proto < 3 {
		return fromPython2(g)
	}
	return g
}

// fromPython2 is the global that a Python 2 (module, name) in a pickle of
// protocol 0-2 stands for (Python's fix_imports).
func fromPython2(g Global) Global {
	if g2, ok := compatNames[g]; ok {
		return g2
	}
	if m2, ok := compatModules[g.Module]; ok {
		g.Module = m2
	}
	return g
}

func (m *machine) persistent(pid any) error {
	if m.opts.PersistentLoad == nil {
		return m.fail(ErrPersistentID, "persistent ID %s without DecoderOptions.PersistentLoad", repr(pid, 0))
	}
	v, err := m.opts.PersistentLoad(pid)
	if err != nil {
		return m.wrap(err, "PersistentLoad")
	}
	if v == nil {
		v = None
	}
	return m.push(v, 0)
}

func makeTuple(items []slot) (Tuple, int32) {
	t := make(Tuple, len(items))
	d := int32(0)
	for i, s := range items {
		t[i] = s.v
		d = max(d, s.depth())
	}
	return t, d + 1
}

// deepen records that a container at *depth now holds a child of depth d.
func (m *machine) deepen(depth *int32, d int32) error {
	if d+1 > *depth {
		*depth = d + 1
		return m.checkDepth(*depth)
	}
	return nil
}

func (m *machine) appendList(l *List, items []slot) error {
	return m.appendItems(&l.Items, &l.depth, items)
}

// appendItems appends items to *dst (a list's items, or an object's
// list items), checking the length limit and raising *depth.
func (m *machine) appendItems(dst *[]any, depth *int32, items []slot) error {
	if err := m.checkLen(len(*dst) + len(items)); err != nil {
		return err
	}
	*dst = slices.Grow(*dst, len(items))
	for _, s := range items {
		*dst = append(*dst, s.v)
		if err := m.deepen(depth, s.depth()); err != nil {
			return err
		}
	}
	return nil
}

func (m *machine) appendTo(items []slot) error {
	t, err := m.top()
	if err != nil {
		return err
	}
	switch x := t.v.(type) {
	case *List:
		return m.appendList(x, items)
	case *Object:
		return m.appendItems(&x.ListItems, &x.depth, items)
	}
	return m.fail(ErrInvalid, "APPEND to %s, not a list", TypeName(t.v))
}

func (m *machine) setItems(d *Dict, items []slot) error {
	d.t.reserve(len(items) / 2)
	for i := 0; i < len(items); i += 2 {
		k, v := items[i], items[i+1]
		added, err := d.t.insertWith(&m.h, k.v, v.v, true)
		if err != nil {
			return m.wrap(err, "dict key")
		}
		if added {
			if err := m.checkLen(d.t.live); err != nil {
				return err
			}
		}
		if err := m.deepen(&d.depth, max(k.depth(), v.depth())); err != nil {
			return err
		}
	}
	return nil
}

func (m *machine) setItemsTo(items []slot) error {
	t, err := m.top()
	if err != nil {
		return err
	}
	switch x := t.v.(type) {
	case *Dict:
		return m.setItems(x, items)
	case *Object:
		if err := m.checkLen(len(x.DictItems) + len(items)/2); err != nil {
			return err
		}
		for i := 0; i < len(items); i += 2 {
			x.DictItems = append(x.DictItems, Item{items[i].v, items[i+1].v})
			if err := m.deepen(&x.depth, max(items[i].depth(), items[i+1].depth())); err != nil {
				return err
			}
		}
		return nil
	}
	return m.fail(ErrInvalid, "SETITEM on %s, not a dict", TypeName(t.v))
}

func (m *machine) addItems(s *Set, items []slot) error {
	s.t.reserve(len(items))
	for _, it := range items {
		added, err := s.t.insertWith(&m.h, it.v, nil, false)
		if err != nil {
			return m.wrap(err, "set member")
		}
		if added {
			if err := m.checkLen(s.t.live); err != nil {
				return err
			}
		}
		if err := m.deepen(&s.depth, it.depth()); err != nil {
			return err
		}
	}
	return nil
}

// instantiate implements INST and OBJ: a call with arguments, or
// cls.__new__(cls) without (Python's _instantiate).
func (m *machine) instantiate(cls slot, items []slot) error {
	if len(items) == 0 {
		return m.newObject(cls, Tuple{}, 1, nil, 0)
	}
	t, d := makeTuple(items)
	if err := m.checkDepth(d); err != nil {
		return err
	}
	return m.call(cls, t, d)
}

func (m *machine) newObject(cls slot, args Tuple, argsDepth int32, kw *Dict, kwDepth int32) error {
	o := &Object{Callable: cls.v, Args: args, Kwargs: kw, New: true}
	o.depth = max(argsDepth, cls.depth()+1, kwDepth+1, 1)
	if err := m.checkDepth(o.depth); err != nil {
		return err
	}
	return m.push(o, 0)
}

// call implements REDUCE: Callable(*args). A few pure constructors of
// built-in types are evaluated (see value.go); everything else becomes an
// *Object.
func (m *machine) call(fn slot, args Tuple, argsDepth int32) error {
	switch fn.v {
	case Global{"copyreg", "__newobj__"}:
		// cls.__new__(cls, *args): the same as NEWOBJ
		if len(args) >= 1 {
			return m.newObject(slot{args[0], argsDepth - 1}, args[1:], argsDepth, nil, 0)
		}
	case Global{"copyreg", "__newobj_ex__"}:
		if len(args) == 3 {
			a, ok1 := args[1].(Tuple)
			kw, ok2 := args[2].(*Dict)
			if ok1 && ok2 {
				return m.newObject(slot{args[0], argsDepth - 1}, a, argsDepth-1, kw, kw.depth)
			}
		}
	}
	if g, ok := fn.v.(Global); ok && g.Module != "" && (g.Module == "builtins" || g.Module == "_codecs") {
		v, d, ok, err := m.builtin(g, args, argsDepth)
		if err != nil {
			return err
		}
		if ok {
			if err := m.checkDepth(d); err != nil {
				return err
			}
			if err := m.spend(copiedSize(v)); err != nil {
				return err
			}
			return m.push(v, d)
		}
	}
	o := &Object{Callable: fn.v, Args: args}
	o.depth = max(argsDepth, fn.depth()+1, 1)
	if err := m.checkDepth(o.depth); err != nil {
		return err
	}
	return m.push(o, 0)
}

func (m *machine) builtin(g Global, args Tuple, argsDepth int32) (v any, depth int32, ok bool, err error) {
	switch g {
	case Global{"builtins", "bytearray"}:
		switch len(args) {
		case 0:
			return ByteArray{}, 0, true, nil
		case 1:
			switch b := args[0].(type) {
			case []byte:
				return ByteArray(append([]byte{}, b...)), 0, true, nil
			case ByteArray:
				return ByteArray(append([]byte{}, b...)), 0, true, nil
			}
		case 2:
			s, ok1 := args[0].(string)
			enc, ok2 := args[1].(string)
			if ok1 && ok2 && isLatin1Name(enc) {
				if b, ok := fromLatin1(s); ok {
					return ByteArray(b), 0, true, nil
				}
			}
		}
	case Global{"builtins", "bytes"}:
		if len(args) == 0 {
			return []byte{}, 0, true, nil
		}
	case Global{"_codecs", "encode"}:
		if len(args) == 2 {
			s, ok1 := args[0].(string)
			enc, ok2 := args[1].(string)
			if ok1 && ok2 && isLatin1Name(enc) {
				if b, ok := fromLatin1(s); ok {
					return b, 0, true, nil
				}
			}
		}
	case Global{"builtins", "set"}, Global{"builtins", "frozenset"}:
		var items []any
		switch len(args) {
		case 0:
		case 1:
			switch x := args[0].(type) {
			case *List:
				items = x.Items
			case Tuple:
				items = x
			default:
				return nil, 0, false, nil
			}
		default:
			return nil, 0, false, nil
		}
		s := &Set{depth: max(1, argsDepth-1)}
		for _, it := range items {
			if _, err := s.t.insertWith(&m.h, it, nil, false); err != nil {
				return nil, 0, false, m.wrap(err, "%s member", g)
			}
		}
		if err := m.checkLen(s.t.live); err != nil {
			return nil, 0, false, err
		}
		if g.Name == "set" {
			return s, 0, true, nil
		}
		return freeze(s), s.depth, true, nil
	case Global{"builtins", "complex"}:
		if len(args) == 2 {
			re, ok1 := realOf(args[0])
			im, ok2 := realOf(args[1])
			if ok1 && ok2 {
				return complex(re, im), 0, true, nil
			}
		}
	case Global{"builtins", "list"}:
		if len(args) == 1 {
			switch x := args[0].(type) {
			case *List:
				return &List{Items: append([]any{}, x.Items...), depth: x.depth}, 0, true, nil
			case Tuple:
				return &List{Items: append([]any{}, x...), depth: max(1, argsDepth-1)}, 0, true, nil
			}
		}
	case Global{"builtins", "getattr"}:
		if len(args) == 2 {
			owner, ok1 := args[0].(Global)
			attr, ok2 := args[1].(string)
			if ok1 && ok2 && attr != "" {
				return Global{owner.Module, owner.Name + "." + attr}, 0, true, nil
			}
		}
	}
	return nil, 0, false, nil
}

func isLatin1Name(enc string) bool {
	switch enc {
	case "latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1":
		return true
	}
	return false
}

// realOf returns an int or float argument as float64 (complex() takes both).
func realOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// copiedSize is how many items or bytes a constructor result copied.
func copiedSize(v any) int {
	switch x := v.(type) {
	case []byte:
		return len(x)
	case ByteArray:
		return len(x)
	case *Set:
		return x.Len()
	case FrozenSet:
		return x.Len()
	case *List:
		return len(x.Items)
	case Global:
		return len(x.Module) + len(x.Name)
	}
	return 1
}
