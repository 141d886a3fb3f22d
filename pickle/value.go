package pickle

// The value model: how Python values look in Go.
//
// Loads, Decoder.Decode into *any, and Unmarshal into an `any` field produce
// these types; Dumps, Marshal and Encoder accept them (and ordinary Go values,
// see Marshal). A decoded value re-encodes to a pickle that Python loads as an
// equal value, with shared references and cycles intact.
//
//	Python                         Go                          notes
//	-----------------------------  --------------------------  -----------------------------------------
//	None                           NoneType (the value None)   Go nil also encodes as None
//	bool                           bool
//	int                            int64, or *big.Int          *big.Int only outside the int64 range
//	float                          float64                     inf, nan and -0.0 kept
//	complex                        complex128
//	str                            string                      UTF-8; lone surrogates as 3-byte sequences
//	bytes                          []byte
//	bytearray                      ByteArray                   a distinct []byte type
//	tuple                          Tuple                       []any; immutable by convention
//	list                           *List                       pointer: shared refs and cycles stay shared
//	dict                           *Dict                       insertion-ordered, Python key equality
//	set                            *Set                        same key rules as Dict
//	frozenset                      FrozenSet                   immutable, hashable
//	class / function reference     Global{Module, Name}        a name only: nothing is imported
//	instance, exception, datetime  *Object                     REDUCE/NEWOBJ/NEWOBJ_EX/BUILD/INST/OBJ
//	  Decimal, OrderedDict, Token, ...                         result, re-encoded with the same opcodes
//	py2 str (STRING opcodes)       string, or []byte           per DecoderOptions.Encoding
//	persistent ID                  whatever PersistentLoad returns
//	out-of-band buffer             ByteArray (writable) or []byte (after READONLY_BUFFER)
//
// Some calls are pure constructors of built-in types, and the decoder
// evaluates them instead of keeping an *Object, because CPython writes these
// types that way at low protocols:
//
//	builtins.set(list)             -> *Set         (protocols 0-3)
//	builtins.frozenset(list)       -> FrozenSet    (protocols 0-3)
//	builtins.bytearray(...)        -> ByteArray    (protocols 0-4)
//	builtins.bytes()               -> []byte{}     (protocols 0-2)
//	_codecs.encode(str, 'latin1')  -> []byte       (protocols 0-2)
//	builtins.complex(re, im)       -> complex128
//	builtins.list(list)            -> *List        (ForkingPickler's dict_keys/values/items)
//	builtins.getattr(Global, str)  -> Global       (nested class names, protocols 0-3)
//	copyreg.__newobj__(cls, *args)              -> *Object with New (protocols 0-1)
//	copyreg.__newobj_ex__(cls, args, kwargs)    -> *Object with New and Kwargs (0-3)
//
// Python 2 names in pickles of protocols 0-2 are mapped to Python 3 names
// as CPython's fix_imports does (__builtin__ -> builtins, exceptions.KeyError
// -> builtins.KeyError, copy_reg -> copyreg).
//
// Dict keys and Set members follow Python's equality and hashing: 1, 1.0,
// True and (1+0j) are the same key; "1" and b"1" are different keys; a Tuple
// or FrozenSet of hashable values is hashable; *List, *Dict, *Set and
// ByteArray are not (ErrUnhashable). An *Object key is compared by identity
// (pointer), as Python does for classes without __eq__; Global keys compare by
// name. Go integer and float types of any size are accepted as keys and
// stored as int64 (or *big.Int) and float64.

import (
	"fmt"
	"iter"
	"math/big"
	"strings"
)

// NoneType is the type of None, Python's None. Its only value is None.
type NoneType struct{}

// None is Python's None.
var None = NoneType{}

// String returns "None".
func (NoneType) String() string { return "None" }

// ByteArray is Python's bytearray: a mutable byte string, distinct from bytes
// ([]byte) on the wire.
type ByteArray []byte

// Tuple is Python's tuple. Treat it as immutable: a decoded Tuple may be
// shared by several parents.
type Tuple []any

// List is Python's list. It is a pointer type so that a list referenced twice
// (or by itself) decodes to one *List and encodes back as one list.
type List struct {
	Items []any // the list's items, in order
	depth int32 // decoder bookkeeping: nesting depth as built
}

// NewList returns a list holding items.
func NewList(items ...any) *List { return &List{Items: items} }

// Len returns the number of items.
func (l *List) Len() int { return len(l.Items) }

// Append appends items.
func (l *List) Append(items ...any) { l.Items = append(l.Items, items...) }

// Global is a reference to a module-level class or function, e.g.
// Global{"builtins", "KeyError"}. Decoding never imports or calls it. Name may
// be dotted ("Outer.Inner") for nested classes.
type Global struct {
	Module string // e.g. "builtins", "multiprocessing.managers"
	Name   string // e.g. "KeyError", "Token"; dotted for nested names
}

// String returns "module.name".
func (g Global) String() string { return g.Module + "." + g.Name }

// Item is one key/value pair of a Dict or of Object.DictItems. Marshal
// writes an Item as the 2-tuple (key, value), as Python's dict.items()
// yields it, and Unmarshal reads a 2-tuple or 2-list into one.
type Item struct {
	Key   any // a hashable value (in a Dict)
	Value any // any value
}

// Dict is Python's dict: insertion-ordered, with Python's key equality and
// hashing (see the package notes above). The zero Dict is an empty dict ready
// to use. A Dict is not safe for concurrent use.
type Dict struct {
	t     table
	depth int32
}

// NewDict returns an empty dict.
func NewDict() *Dict { return &Dict{} }

// DictOf returns a dict of the key/value pairs kv (k1, v1, k2, v2, ...). It
// panics if kv has odd length or a key is unhashable; use NewDict and Set for
// keys that are not known to be hashable.
func DictOf(kv ...any) *Dict {
	if len(kv)%2 != 0 {
		panic("pickle: DictOf: odd number of arguments")
	}
	d := &Dict{}
	for i := 0; i < len(kv); i += 2 {
		if err := d.Set(kv[i], kv[i+1]); err != nil {
			panic("pickle: DictOf: " + err.Error())
		}
	}
	return d
}

// Len returns the number of items.
func (d *Dict) Len() int { return d.t.live }

// Get returns the value stored under key. An unhashable key is never found.
func (d *Dict) Get(key any) (value any, ok bool) {
	i, err := d.t.find(key)
	if err != nil || i < 0 {
		return nil, false
	}
	return d.t.entries[i].value, true
}

// Has reports whether key is in the dict.
func (d *Dict) Has(key any) bool {
	_, ok := d.Get(key)
	return ok
}

// Set stores value under key. As in Python, when an equal key is already
// present (1 and 1.0, say) the first key is kept and only the value changes;
// a new key goes last. It fails with ErrUnhashable for a list, dict, set or
// bytearray key.
func (d *Dict) Set(key, value any) error {
	_, err := d.t.insert(key, value, true, defaultHashDepth)
	return err
}

// Delete removes key and reports whether it was present.
func (d *Dict) Delete(key any) bool { return d.t.remove(key) }

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []any {
	out := make([]any, 0, d.t.live)
	for _, e := range d.t.entries {
		if e.isLive() {
			out = append(out, e.key)
		}
	}
	return out
}

// Values returns the values in insertion order.
func (d *Dict) Values() []any {
	out := make([]any, 0, d.t.live)
	for _, e := range d.t.entries {
		if e.isLive() {
			out = append(out, e.value)
		}
	}
	return out
}

// Items returns the key/value pairs in insertion order.
func (d *Dict) Items() []Item {
	out := make([]Item, 0, d.t.live)
	for _, e := range d.t.entries {
		if e.isLive() {
			out = append(out, Item{e.key, e.value})
		}
	}
	return out
}

// All iterates over the key/value pairs in insertion order. The dict must not
// be modified during the iteration.
func (d *Dict) All() iter.Seq2[any, any] {
	return func(yield func(any, any) bool) {
		for _, e := range d.t.entries {
			if e.isLive() && !yield(e.key, e.value) {
				return
			}
		}
	}
}

// Set is Python's set: insertion-ordered here (Python's order is
// unspecified), with the key rules of Dict. The zero Set is empty and ready to
// use. A Set is not safe for concurrent use.
type Set struct {
	t     table
	depth int32
	// frozen hash, set once when the Set backs a FrozenSet
	fhash uint64
}

// NewSet returns a set of items, or ErrUnhashable.
func NewSet(items ...any) (*Set, error) {
	s := &Set{}
	for _, it := range items {
		if err := s.Add(it); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetOf is NewSet that panics on an unhashable item.
func SetOf(items ...any) *Set {
	s, err := NewSet(items...)
	if err != nil {
		panic("pickle: SetOf: " + err.Error())
	}
	return s
}

// Len returns the number of members.
func (s *Set) Len() int { return s.t.live }

// Add adds item (no change if an equal item is present).
func (s *Set) Add(item any) error {
	_, err := s.t.insert(item, nil, false, defaultHashDepth)
	return err
}

// Has reports whether item is a member.
func (s *Set) Has(item any) bool {
	i, err := s.t.find(item)
	return err == nil && i >= 0
}

// Delete removes item and reports whether it was present.
func (s *Set) Delete(item any) bool { return s.t.remove(item) }

// Items returns the members in insertion order.
func (s *Set) Items() []any {
	out := make([]any, 0, s.t.live)
	for _, e := range s.t.entries {
		if e.isLive() {
			out = append(out, e.key)
		}
	}
	return out
}

// All iterates over the members in insertion order.
func (s *Set) All() iter.Seq[any] {
	return func(yield func(any) bool) {
		for _, e := range s.t.entries {
			if e.isLive() && !yield(e.key) {
				return
			}
		}
	}
}

// FrozenSet is Python's frozenset: an immutable set, itself hashable. The
// zero FrozenSet is empty. Copying a FrozenSet copies a reference.
type FrozenSet struct {
	s *Set // nil when empty; never modified after construction
}

// NewFrozenSet returns a frozenset of items, or ErrUnhashable.
func NewFrozenSet(items ...any) (FrozenSet, error) {
	s, err := NewSet(items...)
	if err != nil {
		return FrozenSet{}, err
	}
	return freeze(s), nil
}

// FrozenSetOf is NewFrozenSet that panics on an unhashable item.
func FrozenSetOf(items ...any) FrozenSet {
	f, err := NewFrozenSet(items...)
	if err != nil {
		panic("pickle: FrozenSetOf: " + err.Error())
	}
	return f
}

func freeze(s *Set) FrozenSet {
	if s.t.live == 0 {
		return FrozenSet{}
	}
	var h uint64
	for _, e := range s.t.entries {
		if e.isLive() {
			h += mix(e.hash)
		}
	}
	s.fhash = h
	return FrozenSet{s}
}

// Len returns the number of members.
func (f FrozenSet) Len() int {
	if f.s == nil {
		return 0
	}
	return f.s.Len()
}

// Has reports whether item is a member.
func (f FrozenSet) Has(item any) bool { return f.s != nil && f.s.Has(item) }

// Items returns the members.
func (f FrozenSet) Items() []any {
	if f.s == nil {
		return []any{}
	}
	return f.s.Items()
}

// Object is a Python object that the pickle built by calling something: an
// instance of a class, an exception, a datetime, a Decimal, an OrderedDict, a
// multiprocessing Token... It records how it was built, so that it re-encodes
// to the same construction and Python gets back an equal object:
//
//	New == false:  Callable(*Args)                     REDUCE (or INST/OBJ with arguments)
//	New == true:   Callable.__new__(Callable, *Args)   NEWOBJ (or INST/OBJ without arguments)
//	Kwargs != nil: ... with **Kwargs                   NEWOBJ_EX (always New)
//	then           obj.extend(ListItems)               APPENDS
//	               obj[k] = v for DictItems            SETITEMS
//	               obj.__setstate__(State)             BUILD, when State != nil
//
// State is what BUILD received: usually a *Dict of attributes, a Tuple for
// classes with __getstate__ (Token) or with __slots__ ((dict or None, slots
// dict)), or None.
type Object struct {
	Callable  any    // usually a Global: the class or the function called
	Args      Tuple  // positional arguments
	Kwargs    *Dict  // keyword arguments (NEWOBJ_EX); nil for none
	New       bool   // built with cls.__new__ rather than by a call
	State     any    // argument of BUILD; nil when there was no BUILD
	ListItems []any  // items appended to the object after creation (APPENDS)
	DictItems []Item // items set on the object after creation (SETITEMS)
	depth     int32
}

// NewObject returns callable(*args) for the global module.name, i.e. what
// REDUCE builds: NewObject("decimal", "Decimal", "1.5"),
// NewObject("datetime", "timedelta", 1, 0, 0).
func NewObject(module, name string, args ...any) *Object {
	return &Object{Callable: Global{module, name}, Args: Tuple(args)}
}

// NewInstance returns an instance of the class module.name made without
// calling __init__ and given state by BUILD: copyreg.__newobj__'s form, which
// CPython uses for ordinary class instances (state: a *Dict of attributes)
// and for multiprocessing.managers.Token (state: Tuple{typeid, address, id}).
func NewInstance(module, name string, state any) *Object {
	return &Object{Callable: Global{module, name}, Args: Tuple{}, New: true, State: state}
}

// Exception returns the exception module.name(*args), pickled as CPython
// pickles exceptions: Exception("builtins", "KeyError", "k").
func Exception(module, name string, args ...any) *Object {
	return NewObject(module, name, args...)
}

// Class returns the Global that built o (its class, or the function called),
// or the zero Global when Callable is not a Global.
func (o *Object) Class() Global {
	g, _ := o.Callable.(Global)
	return g
}

// String returns a short Python-like form, e.g. "builtins.KeyError('k')".
func (o *Object) String() string { return objRepr(o, 0) }

func objRepr(o *Object, depth int) string {
	var b strings.Builder
	if g, ok := o.Callable.(Global); ok {
		b.WriteString(g.String())
	} else {
		b.WriteString(repr(o.Callable, depth+1))
	}
	if o.New {
		b.WriteString(".__new__")
	}
	b.WriteByte('(')
	b.WriteString(strings.Join(mapRepr(o.Args, depth), ", "))
	b.WriteByte(')')
	return b.String()
}

// builtinExceptions lists builtins' exception classes (CPython 3.6-3.13).
var builtinExceptions = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`BaseException BaseExceptionGroup Exception ExceptionGroup
		GeneratorExit KeyboardInterrupt SystemExit ArithmeticError AssertionError AttributeError
		BufferError EOFError ImportError LookupError MemoryError NameError OSError ReferenceError
		RuntimeError StopAsyncIteration StopIteration SyntaxError SystemError TypeError ValueError
		Warning FloatingPointError OverflowError ZeroDivisionError BytesWarning DeprecationWarning
		EncodingWarning FutureWarning ImportWarning PendingDeprecationWarning ResourceWarning
		RuntimeWarning SyntaxWarning UnicodeWarning UserWarning BlockingIOError ChildProcessError
		ConnectionError BrokenPipeError ConnectionAbortedError ConnectionRefusedError
		ConnectionResetError FileExistsError FileNotFoundError InterruptedError IsADirectoryError
		NotADirectoryError PermissionError ProcessLookupError TimeoutError IndentationError TabError
		IndexError KeyError ModuleNotFoundError NotImplementedError RecursionError
		UnboundLocalError UnicodeError UnicodeDecodeError UnicodeEncodeError UnicodeTranslateError
		EnvironmentError IOError PythonFinalizationError`) {
		builtinExceptions[n] = true
	}
}

// ExceptionInfo recognises an exception object: an *Object built by calling
// a Global (REDUCE, as BaseException.__reduce__ does) that is either a
// builtins exception class, queue.Empty/Full/ShutDown (also under _queue), or
// a class whose name ends in Error, Exception, Warning, Exit or Interrupt. It
// returns the class and the exception's args.
func ExceptionInfo(v any) (class Global, args Tuple, ok bool) {
	o, isObj := v.(*Object)
	if !isObj || o.New {
		return Global{}, nil, false
	}
	g, isG := o.Callable.(Global)
	if !isG {
		return Global{}, nil, false
	}
	switch {
	case g.Module == "builtins":
		ok = builtinExceptions[g.Name]
	case (g.Module == "queue" || g.Module == "_queue") && (g.Name == "Empty" || g.Name == "Full" || g.Name == "ShutDown"):
		ok = true
	default:
		for _, suf := range []string{"Error", "Exception", "Warning", "Exit", "Interrupt"} {
			if strings.HasSuffix(g.Name, suf) {
				ok = true
			}
		}
	}
	if !ok {
		return Global{}, nil, false
	}
	return g, o.Args, true
}

// IsException reports whether v is an exception object (see ExceptionInfo).
func IsException(v any) bool {
	_, _, ok := ExceptionInfo(v)
	return ok
}

// depthOf returns the nesting depth recorded for a decoded container value;
// d is the depth carried beside immutable values.
func depthOf(v any, d int32) int32 {
	switch x := v.(type) {
	case *List:
		return x.depth
	case *Dict:
		return x.depth
	case *Set:
		return x.depth
	case *Object:
		return x.depth
	}
	return d
}

// TypeName returns the Python type name of a model value ("int", "str",
// "list", "builtins.KeyError" for an Object, ...), or the Go type for other
// values.
func TypeName(v any) string {
	switch x := v.(type) {
	case nil, NoneType:
		return "NoneType"
	case bool:
		return "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		return "int"
	case float64, float32:
		return "float"
	case complex128, complex64:
		return "complex"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case ByteArray:
		return "bytearray"
	case Tuple:
		return "tuple"
	case *List:
		return "list"
	case *Dict:
		return "dict"
	case *Set:
		return "set"
	case FrozenSet:
		return "frozenset"
	case Global:
		return "global " + x.String()
	case *Object:
		if g, ok := x.Callable.(Global); ok {
			return g.String()
		}
		return "object"
	}
	return fmt.Sprintf("Go %T", v)
}

// Repr renders a value of the model roughly as Python's repr would, for
// logs and messages: Repr(Tuple{None, "a", NewList(1)}) is "(None, 'a', [1])".
// Long values are abbreviated with "..." (more than 10 items, 100
// characters, or 3 levels of nesting).
func Repr(v any) string { return repr(v, 0) }

// repr is Repr at a nesting depth.
func repr(v any, depth int) string {
	if depth > 3 {
		return "..."
	}
	switch x := v.(type) {
	case nil, NoneType:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return pyQuote(clip(x), false)
	case []byte:
		return "b" + pyQuote(clip(string(x)), true)
	case ByteArray:
		return "bytearray(b" + pyQuote(clip(string(x)), true) + ")"
	case Tuple:
		if len(x) == 1 {
			return "(" + repr(x[0], depth+1) + ",)"
		}
		return "(" + strings.Join(mapRepr(x, depth), ", ") + ")"
	case *List:
		return "[" + strings.Join(mapRepr(x.Items, depth), ", ") + "]"
	case *Dict:
		var parts []string
		for k, val := range x.All() {
			if len(parts) == reprItems {
				parts = append(parts, "...")
				break
			}
			parts = append(parts, repr(k, depth+1)+": "+repr(val, depth+1))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case *Set:
		return "{" + strings.Join(mapRepr(x.Items(), depth), ", ") + "}"
	case FrozenSet:
		return "frozenset({" + strings.Join(mapRepr(x.Items(), depth), ", ") + "})"
	case Global:
		return x.String()
	case *Object:
		return objRepr(x, depth+1)
	}
	return fmt.Sprint(v)
}

// reprItems and reprChars bound what repr shows of a container or string.
const (
	reprItems = 10
	reprChars = 100
)

func clip(s string) string {
	if len(s) > reprChars {
		return s[:reprChars] + "..."
	}
	return s
}

func mapRepr(items []any, depth int) []string {
	var out []string
	for i, e := range items {
		if i == reprItems {
			return append(out, "...")
		}
		out = append(out, repr(e, depth+1))
	}
	return out
}

// pyQuote quotes s the way Python's repr does (single quotes unless s holds
// one and no double quote); bytes mode escapes every non-ASCII byte.
func pyQuote(s string, bytesMode bool) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if !bytesMode {
			r, n = decodeCodePoint(s[i:])
			if n == 0 {
				r, n = rune(s[i]), 1
			}
		}
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (bytesMode && r >= 0x80) || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0xd800 && r <= 0xdfff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	b.WriteByte(q)
	return b.String()
}
