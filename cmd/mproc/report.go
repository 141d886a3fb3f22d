//go:build linux

package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// A report is the decoded state of one object: named fields in the order
// a person reads them. Its JSON form is an object with the same keys in
// the same order; its text form is one "key  value" line per field, a
// nested report indented under its key.
type report struct {
	fields []field
}

type field struct {
	key string // snake_case; the text form shows '_' as ' '
	val any
}

// add appends a field and returns r, for chaining.
func (r *report) add(key string, val any) *report {
	r.fields = append(r.fields, field{key, val})
	return r
}

// get returns the value of the field key, for tests.
func (r *report) get(key string) (any, bool) {
	for _, f := range r.fields {
		if f.key == key {
			return f.val, true
		}
	}
	return nil, false
}

// MarshalJSON writes the fields as an object, in order.
func (r *report) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range r.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// proc is a process a layout records (a lock's owner): its pid and
// whether it still runs. Pid 0 means none.
type proc struct {
	Pid   int32 `json:"pid"`
	Alive bool  `json:"alive"`
}

func (p proc) String() string { return pidState(p.Pid, p.Alive) }

// MarshalJSON writes null for no process.
func (p proc) MarshalJSON() ([]byte, error) {
	if p.Pid == 0 {
		return []byte("null"), nil
	}
	type plain proc
	return json.Marshal(plain(p))
}

// labelled is a boolean with words for the text form; JSON sees the bool.
type labelled struct {
	v       bool
	yes, no string
}

func (l labelled) String() string {
	if l.v {
		return l.yes
	}
	return l.no
}

func (l labelled) MarshalJSON() ([]byte, error) { return json.Marshal(l.v) }

// seconds is a duration: Go's text form, a number of seconds in JSON.
type seconds time.Duration

func (d seconds) String() string { return time.Duration(d).String() }

func (d seconds) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).Seconds()) }

// hexBytes is raw content: hex in JSON, a hex dump in text.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// writeText writes r as aligned "key  value" lines, each prefixed by
// indent.
func (r *report) writeText(w io.Writer, indent string) {
	width := 0
	for _, f := range r.fields {
		width = max(width, len(f.key))
	}
	for _, f := range r.fields {
		label := strings.ReplaceAll(f.key, "_", " ")
		switch v := f.val.(type) {
		case *report:
			fmt.Fprintf(w, "%s%s:\n", indent, label)
			v.writeText(w, indent+"  ")
		case []*report:
			fmt.Fprintf(w, "%s%s:", indent, label)
			if len(v) == 0 {
				fmt.Fprint(w, " none")
			}
			fmt.Fprintln(w)
			for i, e := range v {
				fmt.Fprintf(w, "%s  [%d]\n", indent, i)
				e.writeText(w, indent+"    ")
			}
		case hexBytes:
			// Trailing all-zero rows say nothing: one line counts them.
			shown := len(v)
			for shown > 0 && v[shown-1] == 0 {
				shown--
			}
			shown = min(len(v), (shown+15)/16*16)
			dump := strings.Split(strings.TrimRight(hex.Dump(v[:shown]), "\n"), "\n")
			if shown == 0 {
				dump = nil
			}
			if shown < len(v) {
				dump = append(dump, fmt.Sprintf("(%d zero bytes)", len(v)-shown))
			}
			for i, line := range dump {
				l := label
				if i > 0 {
					l = ""
				}
				fmt.Fprintf(w, "%s%-*s  %s\n", indent, width, l, line)
			}
		default:
			fmt.Fprintf(w, "%s%-*s  %s\n", indent, width, label, textOf(v))
		}
	}
}

// textOf formats a field value for the text form.
func textOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		return v
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case []int:
		return pidList(v)
	case []any:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = textOf(e)
		}
		return "[" + strings.Join(s, " ") + "]"
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}
