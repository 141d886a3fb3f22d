package pickle

// Text forms used by protocol 0 (and 1) opcodes: Python's int() and float()
// literals, repr-quoted Python 2 strings, raw-unicode-escape, and UTF-8 with
// surrogates ("surrogatepass").

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

var errSyntax = errors.New("syntax")

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func digitVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// parseIntText parses s as Python's int(s, 0) does (sign, 0x/0o/0b
// prefixes, underscores between digits, no leading zeros on non-zero
// decimals). maxBytes bounds the size of the result (ErrIntTooLarge).
// The result is int64, or *big.Int outside the int64 range.
func parseIntText(s string, maxBytes int) (any, error) {
	s = trimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	afterPrefix := false
	if len(s) >= 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			s = s[2:]
			afterPrefix = true
		}
	}
	// Validate digits and underscores; collect the digits.
	var digits strings.Builder
	digits.Grow(len(s))
	prevDigit := afterPrefix // "0x_1f" is allowed
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if !prevDigit {
				return nil, errSyntax
			}
			prevDigit = false
			continue
		}
		if digitVal(c) >= base {
			return nil, errSyntax
		}
		digits.WriteByte(c)
		prevDigit = true
	}
	d := digits.String()
	if d == "" || !prevDigit {
		return nil, errSyntax
	}
	if base == 10 && d[0] == '0' && strings.Trim(d, "0") != "" {
		return nil, errSyntax // Python: leading zeros in a non-zero decimal
	}
	bitsPerDigit := map[int]float64{2: 1, 8: 3, 10: 3.33, 16: 4}[base]
	if float64(len(strings.TrimLeft(d, "0")))*bitsPerDigit > float64(maxBytes)*8+8 {
		return nil, ErrIntTooLarge
	}
	if len(d) <= 15 || (base == 16 && len(d) < 16) {
		v, err := strconv.ParseInt(d, base, 64)
		if err == nil {
			if neg {
				v = -v
			}
			return v, nil
		}
	}
	b, ok := new(big.Int).SetString(d, base)
	if !ok {
		return nil, errSyntax
	}
	if neg {
		b.Neg(b)
	}
	return normBig(b), nil
}

// normBig returns b as int64 when it fits.
func normBig(b *big.Int) any {
	if b.IsInt64() {
		return b.Int64()
	}
	return b
}

// parseFloatText parses s as Python's float(s) does.
func parseFloatText(s string) (float64, error) {
	s = trimSpace(s)
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "inf", "infinity":
		if s[0] == '-' {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	case "nan":
		return math.NaN(), nil
	}
	var clean strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
			clean.WriteByte(c)
		case c == '_':
			if i == 0 || i == len(s)-1 || !('0' <= s[i-1] && s[i-1] <= '9') || !('0' <= s[i+1] && s[i+1] <= '9') {
				return 0, errSyntax
			}
		default:
			return 0, errSyntax
		}
	}
	f, err := strconv.ParseFloat(clean.String(), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, nil // Python: overflow gives inf, underflow 0.0
		}
		return 0, errSyntax
	}
	return f, nil
}

// formatFloatText formats f so that Python's float() reads it back exactly.
func formatFloatText(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".en") {
		s += ".0"
	}
	return s
}

// appendCodePoint appends r as UTF-8, writing surrogates (U+D800-U+DFFF) as
// the 3-byte sequences Python's "surrogatepass" error handler uses.
func appendCodePoint(b []byte, r rune) []byte {
	if r >= 0xd800 && r <= 0xdfff {
		return append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
	}
	return utf8.AppendRune(b, r)
}

// decodeCodePoint decodes one code point from s, accepting encoded
// surrogates. size is 0 for invalid input.
func decodeCodePoint(s string) (r rune, size int) {
	r, size = utf8.DecodeRuneInString(s)
	if r != utf8.RuneError || size != 1 {
		return r, size
	}
	if len(s) >= 3 && s[0] == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && s[2] >= 0x80 && s[2] <= 0xbf {
		return rune(0xd000) | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), 3
	}
	return utf8.RuneError, 0
}

// validStr reports whether s is UTF-8 in Python's surrogatepass sense.
func validStr(s string) bool {
	if len(s) <= 16 {
		// short ASCII strings, most of them, without utf8's setup
		i := 0
		for ; i < len(s) && s[i] < utf8.RuneSelf; i++ {
		}
		if i == len(s) {
			return true
		}
	}
	if utf8.ValidString(s) {
		return true
	}
	for len(s) > 0 {
		_, n := decodeCodePoint(s)
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return true
}

// rawUnicodeEscapeDecode decodes Python's raw-unicode-escape: bytes are
// Latin-1 code points, except that \uXXXX and \UXXXXXXXX escapes (after an
// odd number of backslashes) are code points.
func rawUnicodeEscapeDecode(b []byte) (string, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			out = appendCodePoint(out, rune(c))
			i++
			continue
		}
		start := i
		for i < len(b) && b[i] == '\\' {
			out = append(out, '\\')
			i++
		}
		if (i-start)%2 == 0 || i >= len(b) || (b[i] != 'u' && b[i] != 'U') {
			continue
		}
		out = out[:len(out)-1] // the escaping backslash
		n := 4
		if b[i] == 'U' {
			n = 8
		}
		i++
		if i+n > len(b) {
			return "", errSyntax
		}
		var r rune
		for _, h := range b[i : i+n] {
			v := digitVal(h)
			if v >= 16 {
				return "", errSyntax
			}
			r = r<<4 | rune(v)
		}
		if r > 0x10ffff || r < 0 {
			return "", errSyntax
		}
		out = appendCodePoint(out, r)
		i += n
	}
	return string(out), nil
}

// rawUnicodeEscapeEncode encodes s for the UNICODE opcode as CPython's
// protocol 0 pickler does: raw-unicode-escape, with \, NUL, LF, CR and ^Z
// escaped as \u00XX so that the text line stays one line.
func rawUnicodeEscapeEncode(dst []byte, s string) ([]byte, bool) {
	const hex = "0123456789abcdef"
	for len(s) > 0 {
		r, n := decodeCodePoint(s)
		if n == 0 {
			return dst, false
		}
		s = s[n:]
		switch {
		case r == '\\' || r == 0 || r == '\n' || r == '\r' || r == 0x1a:
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
		case r < 0x100:
			dst = append(dst, byte(r))
		case r < 0x10000:
			dst = append(dst, '\\', 'u', hex[r>>12], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		default:
			dst = append(dst, '\\', 'U')
			for shift := 28; shift >= 0; shift -= 4 {
				dst = append(dst, hex[r>>shift&15])
			}
		}
	}
	return dst, true
}

// escapeDecode decodes the body of a Python 2 repr string literal (the
// STRING opcode), as codecs.escape_decode does.
func escapeDecode(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return nil, errSyntax // trailing backslash
		}
		switch c = b[i]; c {
		case '\n':
		case '\\', '\'', '"':
			out = append(out, c)
		case 'a':
			out = append(out, 7)
		case 'b':
			out = append(out, 8)
		case 't':
			out = append(out, 9)
		case 'n':
			out = append(out, 10)
		case 'v':
			out = append(out, 11)
		case 'f':
			out = append(out, 12)
		case 'r':
			out = append(out, 13)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '7'; k++ {
				i++
				v = v<<3 | int(b[i]-'0')
			}
			out = append(out, byte(v))
		case 'x':
			if i+2 >= len(b) || digitVal(b[i+1]) >= 16 || digitVal(b[i+2]) >= 16 {
				return nil, errSyntax
			}
			out = append(out, byte(digitVal(b[i+1])<<4|digitVal(b[i+2])))
			i += 2
		default:
			out = append(out, '\\', c)
		}
	}
	return out, nil
}

// latin1 returns the string of code points b[i] (U+0000-U+00FF).
func latin1(b []byte) string {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return string(out)
}

// fromLatin1 encodes s as Latin-1; ok is false if s has a code point above
// U+00FF or is not valid UTF-8.
func fromLatin1(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for len(s) > 0 {
		r, n := decodeCodePoint(s)
		if n == 0 || r > 0xff {
			return nil, false
		}
		out = append(out, byte(r))
		s = s[n:]
	}
	return out, true
}
