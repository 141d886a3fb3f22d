package pickle

import (
	"cmp"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Marshaler is implemented by Go types that pickle as some other value,
// typically an *Object (a Token, a Namespace) or a model container.
type Marshaler interface {
	MarshalPickle() (any, error)
}

// Unmarshaler is implemented by Go types that build themselves from a
// decoded value (in the value model, see value.go).
type Unmarshaler interface {
	UnmarshalPickle(v any) error
}

// Marshal returns the protocol-4 pickle of v, loadable by every Python 3.
//
// v may be a value of the model (see value.go) or an ordinary Go value:
//
//	nil, nil pointer/map/slice/interface  -> None (but a nil []byte is b"")
//	bool, all int/uint/float/complex kinds  -> bool, int, float, complex
//	string                                  -> str (must be UTF-8: ErrInvalid otherwise)
//	[]byte, [N]byte                         -> bytes
//	slice                                   -> list
//	array                                   -> tuple (fixed size and value semantics)
//	map                                     -> dict; keys sorted when they are strings, numbers or bools
//	struct                                  -> dict of its exported fields, keyed by field name or by
//	                                           the tag `pickle:"name,omitempty"` ("-" skips the field);
//	                                           untagged embedded structs are flattened
//	pointer                                 -> the value it points to
//	big.Int / *big.Int                      -> int
//	Marshaler                               -> whatever MarshalPickle returns
//
// The same pointer, map or slice reached twice becomes one shared Python
// object, so cycles through them encode (and decode) correctly. A cycle
// through immutable values only is ErrCycle; chans, funcs and the like are
// ErrUnsupportedType.
func Marshal(v any) ([]byte, error) { return Dumps(v, DefaultProtocol) }

var (
	bigIntType = reflect.TypeFor[big.Int]()
	itemType   = reflect.TypeFor[Item]()
)

// ---- Go values -> pickle ----

func (e *encoder) saveReflect(rv reflect.Value) error {
	if !rv.IsValid() {
		return e.saveNone()
	}
	switch rv.Kind() {
	case reflect.Bool:
		e.saveBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.saveInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.saveUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		e.saveFloat(rv.Float())
	case reflect.Complex64, reflect.Complex128:
		return e.saveComplex(rv.Complex())
	case reflect.String:
		return e.saveStr(rv.String())
	case reflect.Slice:
		if rv.IsNil() {
			return e.saveNone()
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return e.saveBytes(rv.Bytes())
		}
		return e.saveSlice(rv)
	case reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return e.saveBytes(b)
		}
		return e.saveArray(rv)
	case reflect.Map:
		if rv.IsNil() {
			return e.saveNone()
		}
		return e.saveMap(rv)
	case reflect.Struct:
		if rv.Type() == itemType {
			it := rv.Interface().(Item)
			return e.saveTuple(Tuple{it.Key, it.Value})
		}
		if rv.Type() == bigIntType {
			b := new(big.Int)
			if rv.CanAddr() {
				b = rv.Addr().Interface().(*big.Int)
			} else {
				x := rv.Interface().(big.Int)
				b.Set(&x)
			}
			return e.saveBig(b)
		}
		return e.saveStruct(rv, nil)
	case reflect.Pointer:
		if rv.IsNil() {
			return e.saveNone()
		}
		return e.savePointer(rv)
	case reflect.Interface:
		if rv.IsNil() {
			return e.saveNone()
		}
		return e.save(rv.Elem().Interface())
	default:
		return e.fail(rv.Interface(), ErrUnsupportedType, "no Python counterpart for kind %s", rv.Kind())
	}
	return nil
}

func (e *encoder) savePointer(rv reflect.Value) error {
	var key any = refKey{rv.Type(), rv.Pointer(), 0} // boxed once for all its uses
	elem := rv.Elem()
	if elem.Kind() == reflect.Struct {
		if e.getPtr(key) {
			return nil
		}
		if elem.Type() == bigIntType {
			return e.saveBig(rv.Interface().(*big.Int))
		}
		if elem.Type() == itemType {
			return e.saveReflect(elem)
		}
		return e.saveStruct(elem, key)
	}
	// Anything else is transparent; only a pointer cycle through it needs
	// catching.
	if err := enter(e, rv.Interface()); err != nil {
		return err
	}
	defer e.leave()
	pk := progKey{key: key}
	pm, err := beginImmutable(e, rv.Interface(), pk)
	if err != nil {
		return err
	}
	defer e.endImmutable(pk, pm)
	return e.save(elem.Interface())
}

func (e *encoder) saveSlice(rv reflect.Value) error {
	n := rv.Len()
	var key any
	if n > 0 {
		key = refKey{rv.Type(), rv.Pointer(), n}
		if e.getPtr(key) {
			return nil
		}
	}
	if err := enter(e, rv.Interface()); err != nil {
		return err
	}
	defer e.leave()
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyList)
	} else {
		e.buf = append(e.buf, opMark, opList)
	}
	if key != nil {
		e.memoPtr(key)
	} else {
		e.memoize()
	}
	prev := e.beginMutable()
	defer func() { e.lastMut = prev }()
	if items, ok := rv.Interface().([]any); ok {
		return e.appendItems(n, func(i int) any { return items[i] })
	}
	return e.appendItems(n, func(i int) any { return rv.Index(i).Interface() })
}

func (e *encoder) saveArray(rv reflect.Value) error {
	n := rv.Len()
	if n == 0 {
		return e.saveTuple(Tuple{})
	}
	if err := enter(e, rv.Interface()); err != nil {
		return err
	}
	defer e.leave()
	items := make([]any, n)
	for i := range n {
		items[i] = rv.Index(i).Interface()
	}
	return e.saveArgs(items)
}

func (e *encoder) saveMap(rv reflect.Value) error {
	var key any = refKey{rv.Type(), rv.Pointer(), 0} // boxed once for all its uses
	if e.getPtr(key) {
		return nil
	}
	if err := enter(e, rv.Interface()); err != nil {
		return err
	}
	defer e.leave()
	switch rv.Type().Key().Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		if rv.Type().Key() != bigIntType {
			return e.fail(rv.Interface(), ErrUnhashable, "map key type %s becomes an unhashable Python value", rv.Type().Key())
		}
	}
	keys := rv.MapKeys()
	sortKeys(keys)
	e.emptyDict()
	e.memoPtr(key)
	prev := e.beginMutable()
	defer func() { e.lastMut = prev }()
	return e.setItems(len(keys), func(i int) (any, any) {
		return keys[i].Interface(), rv.MapIndex(keys[i]).Interface()
	})
}

func sortKeys(keys []reflect.Value) {
	if len(keys) < 2 {
		return
	}
	switch keys[0].Kind() {
	case reflect.String:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Int(), b.Int()) })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Uint(), b.Uint()) })
	case reflect.Float32, reflect.Float64:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Float(), b.Float()) })
	case reflect.Bool:
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			if a.Bool() == b.Bool() {
				return 0
			} else if !a.Bool() {
				return -1
			}
			return 1
		})
	}
}

func (e *encoder) saveStruct(rv reflect.Value, key any) error {
	if err := enter(e, rv.Interface()); err != nil {
		return err
	}
	defer e.leave()
	fields := typeFields(rv.Type())
	type kv struct {
		k string
		v any
	}
	pairs := make([]kv, 0, len(fields))
	for i := range fields {
		f := &fields[i]
		fv, ok := fieldByIndex(rv, f.index)
		if !ok || (f.omitEmpty && fv.IsZero()) || (f.omitEmpty && isEmptyLen(fv)) {
			continue
		}
		pairs = append(pairs, kv{f.name, fv.Interface()})
	}
	e.emptyDict()
	if key != nil {
		e.memoPtr(key)
		prev := e.beginMutable()
		defer func() { e.lastMut = prev }()
	} else {
		e.memoize()
	}
	return e.setItems(len(pairs), func(i int) (any, any) { return pairs[i].k, pairs[i].v })
}

func isEmptyLen(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Array:
		return v.Len() == 0
	}
	return false
}

func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// field is one pickled struct field.
type field struct {
	name      string
	index     []int
	omitEmpty bool
}

var fieldCache sync.Map // reflect.Type -> []field

// typeFields lists the exported fields of struct type t, with untagged
// embedded structs flattened as encoding/json does; a shallower field hides
// a deeper one of the same name.
func typeFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var out []field
	seen := map[string]bool{}
	type level struct {
		t     reflect.Type
		index []int
	}
	current := []level{{t, nil}}
	visited := map[reflect.Type]bool{}
	for len(current) > 0 {
		var next []level
		var found []field
		for _, lv := range current {
			if visited[lv.t] {
				continue
			}
			visited[lv.t] = true
			for i := range lv.t.NumField() {
				sf := lv.t.Field(i)
				tag := sf.Tag.Get("pickle")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(append([]int{}, lv.index...), i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
					if ft.Kind() == reflect.Struct && name == "" {
						next = append(next, level{ft, index})
						continue
					}
				}
				if !sf.IsExported() {
					continue
				}
				if name == "" {
					name = sf.Name
				}
				found = append(found, field{name: name, index: index, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
			}
		}
		for _, f := range found {
			if !seen[f.name] {
				seen[f.name] = true
				out = append(out, f)
			}
		}
		current = next
	}
	fieldCache.Store(t, out)
	return out
}

// ---- pickle -> Go values ----

// Unmarshal decodes one pickle into v, which must be a non-nil pointer.
//
// Into *any (or an `any` field) the value-model value is stored as is (see
// value.go). Typed targets convert: int into int kinds (with overflow check;
// bool counts as int, as in Python), int or float into float kinds, str into
// string, bytes or bytearray into []byte and [N]byte, tuple/list/set/
// frozenset into slices and arrays (arrays need the exact length), dict into
// maps (keys converted too) and structs (by field name or tag, falling back
// to a case-insensitive match; unknown keys are ignored), None into nil
// pointers, maps, slices and non-empty interfaces (None itself into `any`;
// other targets are left alone), and
// an *Object into a struct from its *Dict State (instances, Namespace) or
// into a map from its DictItems (OrderedDict). Model types (*List, Tuple,
// *Object, Global, ...) are assigned directly. A target implementing
// Unmarshaler receives the model value. Anything else is an
// *UnmarshalTypeError (ErrTypeMismatch) naming the Python type, the Go type
// and the path.
//
// A list or dict referenced twice converts once: the two targets share the
// Go slice or map.
func Unmarshal(data []byte, v any) error { return UnmarshalWith(data, v, nil) }

// UnmarshalWith is Unmarshal with decoder options.
func UnmarshalWith(data []byte, v any, opts *DecoderOptions) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	val, err := LoadsWith(data, opts)
	if err != nil {
		return err
	}
	depth := DefaultLimits().MaxDepth
	if opts != nil && opts.Limits.MaxDepth > 0 {
		depth = opts.Limits.MaxDepth
	}
	return unmarshalValue(val, v, depth)
}

// UnmarshalValue converts a model value (from Loads, say) into v as
// Unmarshal does. The result may share memory with val (byte slices,
// strings, and model values stored into `any` targets are not copied).
func UnmarshalValue(val any, v any) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	return unmarshalValue(val, v, DefaultLimits().MaxDepth)
}

func checkTarget(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w, got %T", ErrInvalidTarget, v)
	}
	return nil
}

func unmarshalValue(val any, v any, maxDepth int) error {
	u := unmarshaler{maxDepth: maxDepth}
	return u.assign(reflect.ValueOf(v).Elem(), val, 0)
}

type convKey struct {
	src any
	t   reflect.Type
}

type unmarshaler struct {
	maxDepth int
	memo     map[convKey]reflect.Value
}

func (u *unmarshaler) mismatch(dst reflect.Value, src any, why string) error {
	val := TypeName(src)
	switch src.(type) {
	case int64, *big.Int, float64:
		val += " " + repr(src, 0)
	}
	if why != "" {
		val += " (" + why + ")"
	}
	return &UnmarshalTypeError{Value: val, Type: dst.Type()}
}

func withPath(err error, seg string) error {
	if te, ok := err.(*UnmarshalTypeError); ok {
		te.Path = seg + te.Path
	}
	return err
}

func identity(src any) any {
	switch x := src.(type) {
	case *List, *Dict, *Set, *Object:
		return x
	case Tuple:
		if len(x) > 0 {
			return idOf(x)
		}
	case FrozenSet:
		if x.s != nil {
			return frozenKey{x.s}
		}
	}
	return nil
}

func (u *unmarshaler) remember(src any, dst reflect.Value) {
	if id := identity(src); id != nil {
		if u.memo == nil {
			u.memo = make(map[convKey]reflect.Value)
		}
		u.memo[convKey{id, dst.Type()}] = dst
	}
}

func (u *unmarshaler) assign(dst reflect.Value, src any, depth int) error {
	if depth > u.maxDepth {
		return fmt.Errorf("%w: Unmarshal deeper than %d", ErrTooDeep, u.maxDepth)
	}
	if dst.CanAddr() {
		if um, ok := dst.Addr().Interface().(Unmarshaler); ok {
			return um.UnmarshalPickle(src)
		}
	}
	switch src.(type) {
	case nil, NoneType:
		switch dst.Kind() {
		case reflect.Interface:
			if dst.NumMethod() == 0 {
				dst.Set(reflect.ValueOf(None)) // as Loads returns it
			} else {
				dst.SetZero()
			}
		case reflect.Pointer, reflect.Map, reflect.Slice:
			dst.SetZero()
		}
		return nil
	}
	sv := reflect.ValueOf(src)
	if sv.Type() == dst.Type() {
		dst.Set(sv)
		return nil
	}
	if dst.Kind() == reflect.Interface {
		if sv.Type().AssignableTo(dst.Type()) {
			dst.Set(sv)
			return nil
		}
		return u.mismatch(dst, src, "")
	}
	switch dst.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if id := identity(src); id != nil {
			if v, ok := u.memo[convKey{id, dst.Type()}]; ok {
				dst.Set(v)
				return nil
			}
		}
	}
	switch dst.Kind() {
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		u.remember(src, dst)
		return u.assign(dst.Elem(), src, depth+1)
	case reflect.Bool:
		b, ok := src.(bool)
		if !ok {
			return u.mismatch(dst, src, "")
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := intOf(src)
		if !ok || dst.OverflowInt(i) {
			return u.mismatch(dst, src, overflowWhy(ok))
		}
		dst.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var n uint64
		ok := false
		switch x := src.(type) {
		case *big.Int:
			if x.Sign() >= 0 && x.IsUint64() {
				n, ok = x.Uint64(), true
			}
		default:
			if i, isInt := intOf(src); isInt && i >= 0 {
				n, ok = uint64(i), true
			} else if isInt {
				return u.mismatch(dst, src, "negative")
			}
		}
		if !ok || dst.OverflowUint(n) {
			_, isInt := intOf(src)
			_, isBig := src.(*big.Int)
			return u.mismatch(dst, src, overflowWhy(!(isInt || isBig)))
		}
		dst.SetUint(n)
	case reflect.Float32, reflect.Float64:
		var f float64
		switch x := src.(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		case bool:
			if x {
				f = 1
			}
		case *big.Int:
			f, _ = new(big.Float).SetInt(x).Float64()
		default:
			return u.mismatch(dst, src, "")
		}
		if dst.OverflowFloat(f) {
			return u.mismatch(dst, src, "overflows")
		}
		dst.SetFloat(f)
	case reflect.Complex64, reflect.Complex128:
		var c complex128
		switch x := src.(type) {
		case complex128:
			c = x
		case float64:
			c = complex(x, 0)
		case int64:
			c = complex(float64(x), 0)
		default:
			return u.mismatch(dst, src, "")
		}
		dst.SetComplex(c)
	case reflect.String:
		s, ok := src.(string)
		if !ok {
			return u.mismatch(dst, src, "")
		}
		dst.SetString(s)
	case reflect.Slice:
		if dst.Type().Elem().Kind() == reflect.Uint8 {
			switch b := src.(type) {
			case []byte:
				dst.Set(reflect.ValueOf(b).Convert(dst.Type()))
				return nil
			case ByteArray:
				dst.Set(reflect.ValueOf([]byte(b)).Convert(dst.Type()))
				return nil
			}
		}
		items, ok := seqItems(src)
		if !ok {
			return u.mismatch(dst, src, "")
		}
		s := reflect.MakeSlice(dst.Type(), len(items), len(items))
		dst.Set(s)
		u.remember(src, s)
		for i, it := range items {
			if err := u.assign(s.Index(i), it, depth+1); err != nil {
				return withPath(err, fmt.Sprintf("[%d]", i))
			}
		}
	case reflect.Array:
		if dst.Type().Elem().Kind() == reflect.Uint8 {
			var b []byte
			switch x := src.(type) {
			case []byte:
				b = x
			case ByteArray:
				b = x
			}
			if b != nil {
				if len(b) != dst.Len() {
					return u.mismatch(dst, src, fmt.Sprintf("length %d", len(b)))
				}
				reflect.Copy(dst, reflect.ValueOf(b))
				return nil
			}
		}
		items, ok := seqItems(src)
		if !ok {
			return u.mismatch(dst, src, "")
		}
		if len(items) != dst.Len() {
			return u.mismatch(dst, src, fmt.Sprintf("length %d", len(items)))
		}
		for i, it := range items {
			if err := u.assign(dst.Index(i), it, depth+1); err != nil {
				return withPath(err, fmt.Sprintf("[%d]", i))
			}
		}
	case reflect.Map:
		items, ok := dictItems(src)
		if !ok {
			return u.mismatch(dst, src, "")
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(dst.Type(), len(items)))
		}
		u.remember(src, dst)
		kt, vt := dst.Type().Key(), dst.Type().Elem()
		for _, it := range items {
			k := reflect.New(kt).Elem()
			if err := u.assign(k, it.Key, depth+1); err != nil {
				return withPath(err, "[key "+repr(it.Key, 0)+"]")
			}
			v := reflect.New(vt).Elem()
			if err := u.assign(v, it.Value, depth+1); err != nil {
				return withPath(err, "["+repr(it.Key, 0)+"]")
			}
			dst.SetMapIndex(k, v)
		}
	case reflect.Struct:
		if dst.Type() == bigIntType {
			switch x := src.(type) {
			case int64:
				dst.Addr().Interface().(*big.Int).SetInt64(x)
			case *big.Int:
				dst.Addr().Interface().(*big.Int).Set(x)
			default:
				return u.mismatch(dst, src, "")
			}
			return nil
		}
		if dst.Type() == itemType {
			// An Item is a (key, value) pair: it marshals as a 2-tuple.
			pair, ok := seqItems(src)
			if !ok || len(pair) != 2 {
				return u.mismatch(dst, src, "not a (key, value) pair")
			}
			it := dst.Addr().Interface().(*Item)
			it.Key, it.Value = pair[0], pair[1]
			return nil
		}
		items, ok := structItems(src)
		if !ok {
			return u.mismatch(dst, src, "")
		}
		fields := typeFields(dst.Type())
		for _, it := range items {
			name, ok := it.Key.(string)
			if !ok {
				continue
			}
			f := lookupField(fields, name)
			if f == nil {
				continue
			}
			fv, ok := fieldForSet(dst, f.index)
			if !ok {
				continue
			}
			if err := u.assign(fv, it.Value, depth+1); err != nil {
				return withPath(err, "."+name)
			}
		}
	default:
		return u.mismatch(dst, src, "unsupported target kind "+dst.Kind().String())
	}
	return nil
}

func overflowWhy(isNumber bool) string {
	if isNumber {
		return "overflows"
	}
	return ""
}

func intOf(src any) (int64, bool) {
	switch x := src.(type) {
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
		return 0, true // overflow: caller reports it
	}
	return 0, false
}

func seqItems(src any) ([]any, bool) {
	switch x := src.(type) {
	case Tuple:
		return x, true
	case *List:
		return x.Items, true
	case *Set:
		return x.Items(), true
	case FrozenSet:
		return x.Items(), true
	}
	return nil, false
}

func dictItems(src any) ([]Item, bool) {
	switch x := src.(type) {
	case *Dict:
		return x.Items(), true
	case *Object:
		if !x.New && len(x.Args) == 0 && x.DictItems != nil {
			return x.DictItems, true // OrderedDict and friends
		}
		if len(x.Args) == 0 && x.DictItems == nil {
			if d, ok := x.State.(*Dict); ok {
				return d.Items(), true
			}
		}
	}
	return nil, false
}

func structItems(src any) ([]Item, bool) {
	if items, ok := dictItems(src); ok {
		return items, true
	}
	if o, ok := src.(*Object); ok {
		// __slots__ state: (dict or None, slots dict)
		if t, ok := o.State.(Tuple); ok && len(t) == 2 {
			var items []Item
			for _, part := range t {
				if d, ok := part.(*Dict); ok {
					items = append(items, d.Items()...)
				}
			}
			return items, true
		}
	}
	return nil, false
}

func lookupField(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].name, name) {
			return &fields[i]
		}
	}
	return nil
}

// fieldForSet walks index, allocating nil embedded struct pointers.
func fieldForSet(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, v.CanSet()
}
