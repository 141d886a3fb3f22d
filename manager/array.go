//go:build linux

package manager

import (
	"encoding/binary"
	"math"
	"math/big"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mproc/mproc/pickle"
)

// arrayObj is the referent of a managed Array: Python's array.array(typecode,
// sequence) in the server (SyncManager's Array ignores its lock argument).
// Items are kept as Python values checked against the typecode's C type
// exactly as array.array checks them (OverflowError, TypeError); an array
// travels as array.array(typecode, bytes), the reducer managers.py
// registers with ForkingPickler (machine format: little-endian, C long and
// wchar_t of 8 and 4 bytes, as on Linux x86-64).
type arrayObj struct {
	mu    sync.Mutex
	tc    byte
	items []any
}

// arrayTypecodes lists the typecodes and their item sizes.
var arrayTypecodes = map[byte]int{
	'b': 1, 'B': 1, 'u': 4, 'w': 4, 'h': 2, 'H': 2, 'i': 4, 'I': 4,
	'l': 8, 'L': 8, 'q': 8, 'Q': 8, 'f': 4, 'd': 8,
}

func badTypecode() error {
	return pyErr(excValueError, "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)")
}

func newArray(c *Call) (referent, error) {
	a, err := bind("Array", c.Args, c.Kwargs, []string{"typecode", "sequence", "lock"}, []any{true}, false)
	if err != nil {
		return nil, err
	}
	return makeArray(c, a[0], a[1])
}

func makeArray(c *Call, tcv, seq any) (*arrayObj, error) {
	tcs, ok := tcv.(string)
	if !ok || utf8.RuneCountInString(tcs) != 1 {
		return nil, pyErrf(excTypeError, "array() argument 1 must be a unicode character, not %s", typeName(tcv))
	}
	if len(tcs) != 1 || arrayTypecodes[tcs[0]] == 0 {
		return nil, badTypecode()
	}
	a := &arrayObj{tc: tcs[0]}
	switch x := seq.(type) {
	case []byte:
		return a, a.fromBytes(x)
	case pickle.ByteArray:
		return a, a.fromBytes(x)
	case string:
		if a.tc != 'u' && a.tc != 'w' {
			return nil, pyErrf(excTypeError, "cannot use a str to initialize an array with typecode '%c'", a.tc)
		}
	}
	items, err := c.iterate(seq)
	if err != nil {
		return nil, err
	}
	a.items = make([]any, len(items))
	for i, v := range items {
		if a.items[i], err = a.check(v); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// arrayFromObject reads an array.array(typecode, bytes) object.
func arrayFromObject(o *pickle.Object) (*arrayObj, error) {
	if o.Class() != (pickle.Global{Module: "array", Name: "array"}) || len(o.Args) != 2 {
		return nil, pyErr(excTypeError, "not an array")
	}
	tcs, ok := o.Args[0].(string)
	if !ok || len(tcs) != 1 || arrayTypecodes[tcs[0]] == 0 {
		return nil, badTypecode()
	}
	a := &arrayObj{tc: tcs[0]}
	switch b := o.Args[1].(type) {
	case []byte:
		return a, a.fromBytes(b)
	case pickle.ByteArray:
		return a, a.fromBytes(b)
	case *pickle.List:
		var err error
		a.items = make([]any, len(b.Items))
		for i, v := range b.Items {
			if a.items[i], err = a.check(v); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	return nil, pyErr(excTypeError, "not an array")
}

// fromBytes is array.frombytes.
func (a *arrayObj) fromBytes(b []byte) error {
	size := arrayTypecodes[a.tc]
	if len(b)%size != 0 {
		return pyErr(excValueError, "bytes length not a multiple of item size")
	}
	a.items = make([]any, 0, len(b)/size)
	le := binary.LittleEndian
	for off := 0; off < len(b); off += size {
		p := b[off : off+size]
		var v any
		switch a.tc {
		case 'b':
			v = int64(int8(p[0]))
		case 'B':
			v = int64(p[0])
		case 'h':
			v = int64(int16(le.Uint16(p)))
		case 'H':
			v = int64(le.Uint16(p))
		case 'i':
			v = int64(int32(le.Uint32(p)))
		case 'I':
			v = int64(le.Uint32(p))
		case 'l', 'q':
			v = int64(le.Uint64(p))
		case 'L', 'Q':
			v = uintValue(le.Uint64(p))
		case 'f':
			v = float64(math.Float32frombits(le.Uint32(p)))
		case 'd':
			v = math.Float64frombits(le.Uint64(p))
		case 'u', 'w':
			r := rune(le.Uint32(p))
			if !utf8.ValidRune(r) {
				return pyErrf(excValueError, "character U+%x is not in range [U+0000; U+10ffff]", uint32(r))
			}
			v = string(r)
		}
		a.items = append(a.items, v)
	}
	return nil
}

func uintValue(u uint64) any {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return new(big.Int).SetUint64(u)
}

// toBytes is array.tobytes.
func (a *arrayObj) toBytes() []byte {
	size := arrayTypecodes[a.tc]
	out := make([]byte, len(a.items)*size)
	le := binary.LittleEndian
	for i, v := range a.items {
		p := out[i*size : (i+1)*size]
		switch a.tc {
		case 'b', 'B':
			n, _, _ := asInt(v)
			p[0] = byte(n)
		case 'h', 'H':
			n, _, _ := asInt(v)
			le.PutUint16(p, uint16(n))
		case 'i', 'I':
			n, _, _ := asInt(v)
			le.PutUint32(p, uint32(n))
		case 'l', 'q':
			n, _, _ := asInt(v)
			le.PutUint64(p, uint64(n))
		case 'L', 'Q':
			switch x := v.(type) {
			case *big.Int:
				le.PutUint64(p, x.Uint64())
			default:
				n, _, _ := asInt(v)
				le.PutUint64(p, uint64(n))
			}
		case 'f':
			f, _ := asFloat(v)
			le.PutUint32(p, math.Float32bits(float32(f)))
		case 'd':
			f, _ := asFloat(v)
			le.PutUint64(p, math.Float64bits(f))
		case 'u', 'w':
			r, _ := utf8.DecodeRuneInString(v.(string))
			le.PutUint32(p, uint32(r))
		}
	}
	return out
}

// check converts v to an item of the array's type, with array.array's
// errors.
func (a *arrayObj) check(v any) (any, error) {
	switch a.tc {
	case 'f', 'd':
		f, ok := asFloat(v)
		if !ok {
			return nil, pyErrf(excTypeError, "must be real number, not %s", typeName(v))
		}
		if a.tc == 'f' {
			f = float64(float32(f))
		}
		return f, nil
	case 'u', 'w':
		s, ok := v.(string)
		if !ok || utf8.RuneCountInString(s) != 1 {
			return nil, pyErr(excTypeError, "array item must be unicode character")
		}
		return s, nil
	}
	if _, isFloat := v.(float64); isFloat {
		return nil, pyErrf(excTypeError, "'float' object cannot be interpreted as an integer")
	}
	n, big_, ok := asInt(v)
	if !ok {
		return nil, pyErrf(excTypeError, "'%s' object cannot be interpreted as an integer", typeName(v))
	}
	var bi *big.Int
	if big_ {
		bi = v.(*big.Int)
	}
	over := func(msg string) error { return pyErr(excOverflowError, msg) }
	switch a.tc {
	case 'b', 'h', 'i', 'l':
		if big_ {
			return nil, over("Python int too large to convert to C long")
		}
		lo, hi, name := int64(math.MinInt64), int64(math.MaxInt64), ""
		switch a.tc {
		case 'b':
			lo, hi, name = math.MinInt8, math.MaxInt8, "signed char"
		case 'h':
			lo, hi, name = math.MinInt16, math.MaxInt16, "signed short integer"
		case 'i':
			lo, hi, name = math.MinInt32, math.MaxInt32, "signed integer"
		}
		if n > hi {
			return nil, over(name + " is greater than maximum")
		}
		if n < lo {
			return nil, over(name + " is less than minimum")
		}
		return n, nil
	case 'B', 'H':
		if big_ {
			return nil, over("Python int too large to convert to C long")
		}
		hi, name := int64(math.MaxUint8), "unsigned byte integer"
		if a.tc == 'H' {
			hi, name = math.MaxUint16, "unsigned short"
		}
		if n < 0 {
			return nil, over(name + " is less than minimum")
		}
		if n > hi {
			return nil, over(name + " is greater than maximum")
		}
		return n, nil
	case 'I', 'L':
		if (big_ && bi.Sign() < 0) || n < 0 {
			return nil, over("can't convert negative value to unsigned int")
		}
		if big_ && bi.BitLen() > 64 {
			return nil, over("Python int too large to convert to C unsigned long")
		}
		if a.tc == 'I' && (big_ || n > math.MaxUint32) {
			return nil, over("unsigned int is greater than maximum")
		}
		if big_ {
			return new(big.Int).Set(bi), nil
		}
		return n, nil
	case 'q':
		if big_ {
			return nil, over("int too big to convert")
		}
		return n, nil
	case 'Q':
		if (big_ && bi.Sign() < 0) || n < 0 {
			return nil, over("can't convert negative int to unsigned")
		}
		if big_ && bi.BitLen() > 64 {
			return nil, over("int too big to convert")
		}
		if big_ {
			return new(big.Int).Set(bi), nil
		}
		return n, nil
	}
	return nil, badTypecode()
}

// object returns the array as array.array(typecode, bytes).
func (a *arrayObj) object() *pickle.Object {
	return pickle.NewObject("array", "array", string(a.tc), a.toBytes())
}

var arrayMethods = methodTable[*arrayObj]{
	"__len__": func(a *arrayObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return int64(len(a.items)), nil
	},
	"__getitem__": func(a *arrayObj, c *Call) (any, error) {
		args, err := c.posOnly([]string{"index"})
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if s, ok := sliceOf(args[0]); ok {
			start, _, step, n, err := s.indices(len(a.items))
			if err != nil {
				return nil, err
			}
			out := &arrayObj{tc: a.tc, items: make([]any, n)}
			for i := range out.items {
				out.items[i] = a.items[start+i*step]
			}
			return out.object(), nil
		}
		i, err := a.index(args[0], "array index out of range")
		if err != nil {
			return nil, err
		}
		return a.items[i], nil
	},
	"__setitem__": func(a *arrayObj, c *Call) (any, error) {
		args, err := c.posOnly([]string{"index", "value"})
		if err != nil {
			return nil, err
		}
		if s, ok := sliceOf(args[0]); ok {
			o, isObj := args[1].(*pickle.Object)
			var src *arrayObj
			if isObj {
				src, err = arrayFromObject(o)
			}
			if !isObj || err != nil {
				return nil, pyErrf(excTypeError, "can only assign array (not \"%s\") to array slice", typeName(args[1]))
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if src.tc != a.tc {
				return nil, pyErr(excTypeError, "bad argument type for built-in operation")
			}
			l := &listObj{items: a.items}
			if err := l.assignSlice(s, src.items); err != nil {
				return nil, err
			}
			a.items = l.items
			return pickle.None, nil
		}
		v, err := a.check(args[1])
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		i, err := a.index(args[0], "array assignment index out of range")
		if err != nil {
			return nil, err
		}
		a.items[i] = v
		return pickle.None, nil
	},
}

// index resolves an array index. The caller holds a.mu.
func (a *arrayObj) index(v any, msg string) (int, error) {
	i, big_, ok := asInt(v)
	if !ok {
		return 0, pyErr(excTypeError, "array indices must be integers")
	}
	n := int64(len(a.items))
	if i < 0 {
		i += n
	}
	if big_ || i < 0 || i >= n {
		return 0, pyErr(excIndexError, msg)
	}
	return int(i), nil
}

// snapshot returns a copy of the items, for iterate.
func (a *arrayObj) snapshot() []any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return copyItems(a.items)
}

func (a *arrayObj) call(c *Call) (any, error) { return dispatch(arrayMethods, a, c, "array.array") }

func (a *arrayObj) repr(string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.items) == 0 {
		return "array('" + string(a.tc) + "')"
	}
	if a.tc == 'u' || a.tc == 'w' {
		var b strings.Builder
		for _, v := range a.items {
			b.WriteString(v.(string))
		}
		return "array('" + string(a.tc) + "', " + reprStr(b.String()) + ")"
	}
	return "array('" + string(a.tc) + "', " + reprValue(pickle.NewList(a.items...)) + ")"
}

func (a *arrayObj) str(id string) string { return a.repr(id) }

func (a *arrayObj) value() (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.object(), nil
}

func (a *arrayObj) scan(func(string)) {}
