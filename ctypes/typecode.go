//go:build linux

package ctypes

import (
	"fmt"
	"reflect"
	"strings"
)

// Typecode is one of the one-character typecodes of Python's
// multiprocessing.sharedctypes (the array module's letters), with the sizes
// CPython gives them on Linux x86-64 and arm64:
//
//	code C type              bytes Go type
//	'b'  signed char          1    int8
//	'B'  unsigned char        1    uint8
//	'h'  short                2    int16
//	'H'  unsigned short       2    uint16
//	'i'  int                  4    int32
//	'I'  unsigned int         4    uint32
//	'l'  long                 8    int64
//	'L'  unsigned long        8    uint64
//	'q'  long long            8    int64
//	'Q'  unsigned long long   8    uint64
//	'f'  float                4    float32
//	'd'  double               8    float64
//	'c'  char                 1    byte   (Python: bytes of length 1)
//	'u'  wchar_t              4    rune   (Python: str of length 1)
//
// Objects made from a typecode record it in their header, so a process that
// opens them without knowing the type (OpenAnyValue, OpenAnyArray) gets the
// same Go type back.
type Typecode byte

type typecodeInfo struct {
	ctype string
	typ   reflect.Type
}

var typecodes = map[Typecode]typecodeInfo{
	'b': {"signed char", reflect.TypeFor[int8]()},
	'B': {"unsigned char", reflect.TypeFor[uint8]()},
	'h': {"short", reflect.TypeFor[int16]()},
	'H': {"unsigned short", reflect.TypeFor[uint16]()},
	'i': {"int", reflect.TypeFor[int32]()},
	'I': {"unsigned int", reflect.TypeFor[uint32]()},
	'l': {"long", reflect.TypeFor[int64]()},
	'L': {"unsigned long", reflect.TypeFor[uint64]()},
	'q': {"long long", reflect.TypeFor[int64]()},
	'Q': {"unsigned long long", reflect.TypeFor[uint64]()},
	'f': {"float", reflect.TypeFor[float32]()},
	'd': {"double", reflect.TypeFor[float64]()},
	'c': {"char", reflect.TypeFor[byte]()},
	'u': {"wchar_t", reflect.TypeFor[rune]()},
}

// validTypecodes lists the typecodes in Python's order, for messages.
const validTypecodes = "bBhHiIlLqQfdcu"

// Typecodes returns the valid typecodes in Python's order.
func Typecodes() []Typecode {
	out := make([]Typecode, len(validTypecodes))
	for i := range validTypecodes {
		out[i] = Typecode(validTypecodes[i])
	}
	return out
}

// Valid reports whether c is one of the typecodes.
func (c Typecode) Valid() bool {
	_, ok := typecodes[c]
	return ok
}

// Size returns the element size in bytes, 0 for an invalid typecode.
func (c Typecode) Size() int {
	if t, ok := typecodes[c]; ok {
		return int(t.typ.Size())
	}
	return 0
}

// CType returns the C type's name ("double" for 'd'), "" if invalid.
func (c Typecode) CType() string { return typecodes[c].ctype }

// GoType returns the Go type of the elements, nil if c is invalid.
func (c Typecode) GoType() reflect.Type {
	if t, ok := typecodes[c]; ok {
		return t.typ
	}
	return nil
}

// String returns the typecode as Python writes it, 'd', or "typecode(N)"
// for a byte that is not a printable character.
func (c Typecode) String() string {
	if c >= ' ' && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("typecode(%d)", byte(c))
}

// check returns nil, or an error matching ErrTypecode that lists the valid
// typecodes.
func (c Typecode) check() error {
	if c.Valid() {
		return nil
	}
	quoted := make([]string, len(validTypecodes))
	for i := range validTypecodes {
		quoted[i] = Typecode(validTypecodes[i]).String()
	}
	return message(ErrTypecode, fmt.Sprintf("unknown typecode %v; valid typecodes are %s", c, strings.Join(quoted, " ")))
}
