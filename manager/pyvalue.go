//go:build linux

package manager

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mproc/mproc/pickle"
)

// Python semantics over pickle's value model, for the referents: repr,
// ordering, integer and float conversion, truth.

// reprValue is Python's repr(v).
func reprValue(v any) string {
	var r reprState
	r.value(v)
	return r.b.String()
}

// reprState renders one value; active holds the containers being rendered,
// so that a list containing itself prints [[...]] as Python's does.
type reprState struct {
	b      strings.Builder
	active []any
}

func (r *reprState) enter(p any) bool {
	for _, a := range r.active {
		if a == p {
			return false
		}
	}
	r.active = append(r.active, p)
	return true
}

func (r *reprState) leave() { r.active = r.active[:len(r.active)-1] }

func (r *reprState) value(v any) {
	b := &r.b
	switch x := v.(type) {
	case nil, pickle.NoneType:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case *big.Int:
		b.WriteString(x.String())
	case float64:
		b.WriteString(reprFloat(x))
	case complex128:
		b.WriteString(reprComplex(x))
	case string:
		b.WriteString(reprStr(x))
	case []byte:
		b.WriteString(reprBytes(x))
	case pickle.ByteArray:
		b.WriteString("bytearray(" + reprBytes(x) + ")")
	case pickle.Tuple:
		b.WriteByte('(')
		r.seq(x)
		if len(x) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
	case *pickle.List:
		if !r.enter(x) {
			b.WriteString("[...]")
			return
		}
		b.WriteByte('[')
		r.seq(x.Items)
		b.WriteByte(']')
		r.leave()
	case *pickle.Dict:
		if !r.enter(x) {
			b.WriteString("{...}")
			return
		}
		b.WriteByte('{')
		i := 0
		for k, val := range x.All() {
			if i > 0 {
				b.WriteString(", ")
			}
			i++
			r.value(k)
			b.WriteString(": ")
			r.value(val)
		}
		b.WriteByte('}')
		r.leave()
	case *pickle.Set:
		if x.Len() == 0 {
			b.WriteString("set()")
			return
		}
		if !r.enter(x) {
			b.WriteString("set(...)")
			return
		}
		b.WriteByte('{')
		r.seq(x.Items())
		b.WriteByte('}')
		r.leave()
	case pickle.FrozenSet:
		if x.Len() == 0 {
			b.WriteString("frozenset()")
			return
		}
		b.WriteString("frozenset({")
		r.seq(x.Items())
		b.WriteString("})")
	case pickle.Global:
		b.WriteString("<class '" + x.String() + "'>")
	case *pickle.Object:
		if !r.enter(x) {
			b.WriteString("...")
			return
		}
		r.object(x)
		r.leave()
	case *Proxy:
		fmt.Fprintf(b, "<%s object, typeid %s at %#x>", x.proxyClass(), reprStr(x.TypeID()), x.addr())
	default:
		fmt.Fprintf(b, "<Go %T>", v)
	}
}

func (r *reprState) seq(items []any) {
	for i, it := range items {
		if i > 0 {
			r.b.WriteString(", ")
		}
		r.value(it)
	}
}

// object renders the objects the managers protocol knows (Namespace, Value,
// proxies, exceptions, slices) as Python does, and others as
// <module.Class object>.
func (r *reprState) object(o *pickle.Object) {
	b := &r.b
	g := o.Class()
	switch {
	case g == (pickle.Global{Module: modManagers, Name: nameNamespace}) && o.New:
		b.WriteString("Namespace(")
		if d, ok := o.State.(*pickle.Dict); ok {
			r.attrs(d)
		}
		b.WriteByte(')')
		return
	case g == (pickle.Global{Module: modManagers, Name: nameValue}) && o.New:
		if d, ok := o.State.(*pickle.Dict); ok {
			tc, _ := d.Get("_typecode")
			v, _ := d.Get("_value")
			b.WriteString("Value(")
			r.value(tc)
			b.WriteString(", ")
			r.value(v)
			b.WriteByte(')')
			return
		}
	case g == (pickle.Global{Module: modManagers, Name: nameRebuild}):
		if ref, ok := proxyRefOf(o); ok {
			fmt.Fprintf(b, "<%s object, typeid %s at %#x>", ref.class, reprStr(ref.token.TypeID), idAddr(ref.token.ID))
			return
		}
	case g == (pickle.Global{Module: "builtins", Name: "slice"}) && len(o.Args) == 3:
		b.WriteString("slice(")
		r.seq(o.Args)
		b.WriteByte(')')
		return
	}
	if pickle.IsException(o) {
		b.WriteString(g.Name)
		b.WriteByte('(')
		r.seq(o.Args)
		b.WriteByte(')')
		return
	}
	if g.Name != "" {
		fmt.Fprintf(b, "<%s object>", g)
		return
	}
	b.WriteString("<object>")
}

// attrs renders Namespace's attributes: name=value for names not starting
// with '_', sorted, as Namespace.__repr__ does.
func (r *reprState) attrs(d *pickle.Dict) {
	var parts []string
	for k, v := range d.All() {
		name, ok := k.(string)
		if !ok || strings.HasPrefix(name, "_") {
			continue
		}
		parts = append(parts, name+"="+reprValue(v))
	}
	sortStrings(parts)
	r.b.WriteString(strings.Join(parts, ", "))
}

// sortStrings sorts by code point, as Python sorts str.
func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// idAddr turns an object id into the number shown as its "address".
func idAddr(id string) uint64 {
	n, _ := strconv.ParseUint(id, 16, 64)
	return n
}

// reprFloat is Python's repr(float): the shortest string that round-trips,
// in positional form for exponents in [-4, 16) with ".0" added to integral
// values, else in exponent form with at least two exponent digits.
func reprFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±dd
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	sign := ""
	if neg {
		sign = "-"
	}
	decpt := exp + 1
	if decpt <= -4 || decpt > 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es = "-"
			exp = -exp
		}
		e := strconv.Itoa(exp)
		if len(e) < 2 {
			e = "0" + e
		}
		return sign + m + "e" + es + e
	}
	switch {
	case decpt <= 0:
		return sign + "0." + strings.Repeat("0", -decpt) + digits
	case decpt >= len(digits):
		return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
	default:
		return sign + digits[:decpt] + "." + digits[decpt:]
	}
}

// reprComplex is Python's repr(complex).
func reprComplex(c complex128) string {
	re, im := real(c), imag(c)
	imS := reprFloat(im)
	imS = strings.TrimSuffix(imS, ".0")
	if re == 0 && !math.Signbit(re) {
		return imS + "j"
	}
	reS := strings.TrimSuffix(reprFloat(re), ".0")
	if !strings.HasPrefix(imS, "-") {
		imS = "+" + imS
	}
	return "(" + reS + imS + "j)"
}

// reprStr is Python's repr(str): single quotes unless the text holds a
// single quote and no double quote; \t \n \r \\ and non-printable
// characters escaped.
func reprStr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// A lone surrogate as pickle keeps it (3-byte sequence) or
			// invalid UTF-8: show the byte.
			fmt.Fprintf(&b, "\\x%02x", s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		case r < 0x7f:
			b.WriteRune(r)
		case isPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, "\\x%02x", r)
		case r <= 0xffff:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			fmt.Fprintf(&b, "\\U%08x", r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// isPrintable approximates Python's str.isprintable for one character.
func isPrintable(r rune) bool {
	if r == ' ' {
		return true
	}
	if unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) {
		return false
	}
	return unicode.IsPrint(r)
}

// reprBytes is Python's repr(bytes).
func reprBytes(p []byte) string {
	q := byte('\'')
	if bytes.IndexByte(p, '\'') >= 0 && bytes.IndexByte(p, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte('b')
	b.WriteByte(q)
	for _, c := range p {
		switch {
		case c == q || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// typeName is the Python type name used in error messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil, pickle.NoneType:
		return "NoneType"
	case int64, int, *big.Int:
		return "int"
	case *pickle.Object:
		if g := x.Class(); g.Name != "" {
			if i := strings.LastIndexByte(g.Name, '.'); i >= 0 {
				return g.Name[i+1:]
			}
			return g.Name
		}
		return "object"
	case pickle.Global:
		return "type"
	}
	return pickle.TypeName(v)
}

// asInt converts a Python int (or bool) to int64; ok is false for other
// types. big reports an int outside the int64 range.
func asInt(v any) (n int64, big_ bool, ok bool) {
	switch x := v.(type) {
	case int64:
		return x, false, true
	case int:
		return int64(x), false, true
	case bool:
		if x {
			return 1, false, true
		}
		return 0, false, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), false, true
		}
		if x.Sign() < 0 {
			return math.MinInt64, true, true
		}
		return math.MaxInt64, true, true
	}
	return 0, false, false
}

// asIndex converts a list index, with Python's TypeError for other types;
// what names the container in the message ("list indices").
func asIndex(v any, what string) (int64, error) {
	n, _, ok := asInt(v)
	if !ok {
		return 0, pyErrf(excTypeError, "%s must be integers or slices, not %s", what, typeName(v))
	}
	return n, nil
}

// asIntArg converts an int argument ("'str' object cannot be interpreted as
// an integer" otherwise).
func asIntArg(v any) (int64, error) {
	n, big_, ok := asInt(v)
	if !ok {
		return 0, pyErrf(excTypeError, "'%s' object cannot be interpreted as an integer", typeName(v))
	}
	if big_ {
		return 0, pyErr(excOverflowError, "Python int too large to convert to C ssize_t")
	}
	return n, nil
}

// asFloat converts a Python real number (int, float, bool) to float64.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	}
	if n, _, ok := asInt(v); ok {
		return float64(n), true
	}
	return 0, false
}

// asTimeout converts a Python timeout argument: None is no timeout, a
// number is seconds (negative allowed; the caller decides what it means).
func asTimeout(v any) (timeout, error) {
	if isNone(v) {
		return timeout{}, nil
	}
	f, ok := asFloat(v)
	if !ok {
		return timeout{}, pyErrf(excTypeError, "'%s' object cannot be interpreted as an integer", typeName(v))
	}
	if math.IsNaN(f) {
		return timeout{}, pyErr(excValueError, "Invalid value NaN (not a number)")
	}
	const maxSeconds = float64(math.MaxInt64/int64(time.Second)) - 1
	if f > maxSeconds {
		return timeout{}, nil // longer than any run: no timeout
	}
	if f < -maxSeconds {
		f = -maxSeconds
	}
	return timeout{d: time.Duration(f * float64(time.Second)), set: true}, nil
}

// isNone reports Python's None (or Go nil).
func isNone(v any) bool {
	switch v.(type) {
	case nil, pickle.NoneType:
		return true
	}
	return false
}

// truth is Python's bool(v) for the value model.
func truth(v any) bool {
	switch x := v.(type) {
	case nil, pickle.NoneType:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case int:
		return x != 0
	case *big.Int:
		return x.Sign() != 0
	case float64:
		return x != 0
	case complex128:
		return x != 0
	case string:
		return x != ""
	case []byte:
		return len(x) > 0
	case pickle.ByteArray:
		return len(x) > 0
	case pickle.Tuple:
		return len(x) > 0
	case *pickle.List:
		return len(x.Items) > 0
	case *pickle.Dict:
		return x.Len() > 0
	case *pickle.Set:
		return x.Len() > 0
	case pickle.FrozenSet:
		return x.Len() > 0
	}
	return true
}

// compare orders a and b as Python's < does for the types it orders
// (numbers, str, bytes, tuples and lists element-wise, sets by inclusion
// are not supported), or fails with Python's TypeError.
func compare(a, b any) (int, error) {
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa.cmp(fb), nil
		}
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil // UTF-8 byte order is code point order
		}
	case []byte:
		switch y := b.(type) {
		case []byte:
			return bytes.Compare(x, y), nil
		case pickle.ByteArray:
			return bytes.Compare(x, y), nil
		}
	case pickle.ByteArray:
		switch y := b.(type) {
		case []byte:
			return bytes.Compare(x, y), nil
		case pickle.ByteArray:
			return bytes.Compare(x, y), nil
		}
	case pickle.Tuple:
		if y, ok := b.(pickle.Tuple); ok {
			return compareSeq(x, y)
		}
	case *pickle.List:
		if y, ok := b.(*pickle.List); ok {
			return compareSeq(x.Items, y.Items)
		}
	}
	return 0, pyErrf(excTypeError, "'<' not supported between instances of '%s' and '%s'", typeName(a), typeName(b))
}

func compareSeq(x, y []any) (int, error) {
	for i := 0; i < len(x) && i < len(y); i++ {
		if pickle.Equal(x[i], y[i]) {
			continue
		}
		return compare(x[i], y[i])
	}
	return cmp.Compare(len(x), len(y)), nil
}

// num is a real number for ordering: an exact integer or a float.
type num struct {
	i     *big.Int
	f     float64
	float bool
}

func number(v any) (num, bool) {
	switch x := v.(type) {
	case float64:
		return num{f: x, float: true}, true
	case *big.Int:
		return num{i: x}, true
	}
	if n, _, ok := asInt(v); ok {
		return num{i: big.NewInt(n)}, true
	}
	return num{}, false
}

func (a num) cmp(b num) int {
	switch {
	case !a.float && !b.float:
		return a.i.Cmp(b.i)
	case a.float && b.float:
		return cmp.Compare(a.f, b.f)
	case a.float:
		return -b.cmpFloat(a.f)
	default:
		return a.cmpFloat(b.f)
	}
}

// cmpFloat compares the integer a with f exactly.
func (a num) cmpFloat(f float64) int {
	switch {
	case math.IsNaN(f):
		return 0 // unordered; Python's sort treats it as not less
	case math.IsInf(f, 1):
		return -1
	case math.IsInf(f, -1):
		return 1
	}
	bf := new(big.Float).SetInt(a.i)
	return bf.Cmp(big.NewFloat(f))
}
