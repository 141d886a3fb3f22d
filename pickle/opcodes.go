package pickle

// Opcodes of pickle protocols 0-5, as named in CPython's pickletools. The
// comment gives the protocol that introduced each one.
const (
	opMark           = '(' // 0: push a mark
	opStop           = '.' // 0: end of pickle; pop the result
	opPop            = '0' // 0: discard the top item (or the top mark)
	opPopMark        = '1' // 1: discard everything down to the top mark
	opDup            = '2' // 0: push a copy of the top item
	opFloat          = 'F' // 0: float as decimal text line
	opInt            = 'I' // 0: int as decimal text line; "00"/"01" are bools
	opBinint         = 'J' // 1: int32 little-endian
	opBinint1        = 'K' // 1: uint8
	opLong           = 'L' // 0: int as text line with optional trailing 'L'
	opBinint2        = 'M' // 1: uint16 little-endian
	opNone           = 'N' // 0: None
	opPersid         = 'P' // 0: persistent ID, ASCII text line
	opBinpersid      = 'Q' // 1: persistent ID from the stack
	opReduce         = 'R' // 0: callable(*args)
	opString         = 'S' // 0: Python 2 str, quoted repr text line
	opBinstring      = 'T' // 1: Python 2 str, int32 length
	opShortBinstring = 'U' // 1: Python 2 str, uint8 length
	opUnicode        = 'V' // 0: str, raw-unicode-escape text line
	opBinunicode     = 'X' // 1: str, uint32 length, UTF-8
	opAppend         = 'a' // 0: list.append
	opBuild          = 'b' // 0: __setstate__ / __dict__ update
	opGlobal         = 'c' // 0: module and name text lines
	opDict           = 'd' // 0: dict from marked key/value items
	opEmptyDict      = '}' // 1: {}
	opAppends        = 'e' // 1: list.extend with marked items
	opGet            = 'g' // 0: memo get, decimal text line
	opBinget         = 'h' // 1: memo get, uint8 key
	opInst           = 'i' // 0: module/name lines, marked args
	opLongBinget     = 'j' // 1: memo get, uint32 key
	opList           = 'l' // 0: list from marked items
	opEmptyList      = ']' // 1: []
	opObj            = 'o' // 1: class and args from the mark
	opPut            = 'p' // 0: memo put, decimal text line
	opBinput         = 'q' // 1: memo put, uint8 key
	opLongBinput     = 'r' // 1: memo put, uint32 key
	opSetitem        = 's' // 0: dict[key] = value
	opTuple          = 't' // 0: tuple from marked items
	opEmptyTuple     = ')' // 1: ()
	opSetitems       = 'u' // 1: dict update with marked key/value items
	opBinfloat       = 'G' // 1: float64 big-endian

	opProto    = 0x80 // 2: protocol number
	opNewobj   = 0x81 // 2: cls.__new__(cls, *args)
	opExt1     = 0x82 // 2: extension code, uint8
	opExt2     = 0x83 // 2: extension code, uint16
	opExt4     = 0x84 // 2: extension code, int32
	opTuple1   = 0x85 // 2: 1-tuple from the top item
	opTuple2   = 0x86 // 2: 2-tuple
	opTuple3   = 0x87 // 2: 3-tuple
	opNewtrue  = 0x88 // 2: True
	opNewfalse = 0x89 // 2: False
	opLong1    = 0x8a // 2: int, uint8 length, two's complement little-endian
	opLong4    = 0x8b // 2: int, int32 length

	opBinbytes      = 'B' // 3: bytes, uint32 length
	opShortBinbytes = 'C' // 3: bytes, uint8 length

	opShortBinunicode = 0x8c // 4: str, uint8 length
	opBinunicode8     = 0x8d // 4: str, uint64 length
	opBinbytes8       = 0x8e // 4: bytes, uint64 length
	opEmptySet        = 0x8f // 4: set()
	opAdditems        = 0x90 // 4: set.update with marked items
	opFrozenset       = 0x91 // 4: frozenset from marked items
	opNewobjEx        = 0x92 // 4: cls.__new__(cls, *args, **kwargs)
	opStackGlobal     = 0x93 // 4: global from module and name on the stack
	opMemoize         = 0x94 // 4: memo put at key len(memo)
	opFrame           = 0x95 // 4: frame of uint64 length (a read-ahead hint)

	opBytearray8     = 0x96 // 5: bytearray, uint64 length
	opNextBuffer     = 0x97 // 5: next out-of-band buffer
	opReadonlyBuffer = 0x98 // 5: make the top buffer read-only
)

// HighestProtocol is the newest pickle protocol this package reads and writes.
const HighestProtocol = 5

// DefaultProtocol is the protocol Marshal and a default Encoder write: 4, the
// default of CPython 3.8-3.13 and readable by every Python 3.4+.
const DefaultProtocol = 4

var opNames = map[byte]string{
	opMark: "MARK", opStop: "STOP", opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP",
	opFloat: "FLOAT", opInt: "INT", opBinint: "BININT", opBinint1: "BININT1",
	opLong: "LONG", opBinint2: "BININT2", opNone: "NONE", opPersid: "PERSID",
	opBinpersid: "BINPERSID", opReduce: "REDUCE", opString: "STRING",
	opBinstring: "BINSTRING", opShortBinstring: "SHORT_BINSTRING", opUnicode: "UNICODE",
	opBinunicode: "BINUNICODE", opAppend: "APPEND", opBuild: "BUILD", opGlobal: "GLOBAL",
	opDict: "DICT", opEmptyDict: "EMPTY_DICT", opAppends: "APPENDS", opGet: "GET",
	opBinget: "BINGET", opInst: "INST", opLongBinget: "LONG_BINGET", opList: "LIST",
	opEmptyList: "EMPTY_LIST", opObj: "OBJ", opPut: "PUT", opBinput: "BINPUT",
	opLongBinput: "LONG_BINPUT", opSetitem: "SETITEM", opTuple: "TUPLE",
	opEmptyTuple: "EMPTY_TUPLE", opSetitems: "SETITEMS", opBinfloat: "BINFLOAT",
	opProto: "PROTO", opNewobj: "NEWOBJ", opExt1: "EXT1", opExt2: "EXT2", opExt4: "EXT4",
	opTuple1: "TUPLE1", opTuple2: "TUPLE2", opTuple3: "TUPLE3", opNewtrue: "NEWTRUE",
	opNewfalse: "NEWFALSE", opLong1: "LONG1", opLong4: "LONG4", opBinbytes: "BINBYTES",
	opShortBinbytes: "SHORT_BINBYTES", opShortBinunicode: "SHORT_BINUNICODE",
	opBinunicode8: "BINUNICODE8", opBinbytes8: "BINBYTES8", opEmptySet: "EMPTY_SET",
	opAdditems: "ADDITEMS", opFrozenset: "FROZENSET", opNewobjEx: "NEWOBJ_EX",
	opStackGlobal: "STACK_GLOBAL", opMemoize: "MEMOIZE", opFrame: "FRAME",
	opBytearray8: "BYTEARRAY8", opNextBuffer: "NEXT_BUFFER", opReadonlyBuffer: "READONLY_BUFFER",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return "opcode " + quoteByte(op)
}

func quoteByte(b byte) string {
	const hex = "0123456789abcdef"
	return "0x" + string([]byte{hex[b>>4], hex[b&15]})
}
