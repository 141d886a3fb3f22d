package pickle

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// pythons lists the CPython 3 interpreters to test against: every
// ~/.pyenv/versions/3.*/bin/python3, and python3 on PATH.
func pythons() (names, paths []string) {
	if home, err := os.UserHomeDir(); err == nil {
		found, _ := filepath.Glob(filepath.Join(home, ".pyenv", "versions", "3.*", "bin", "python3"))
		sort.Strings(found)
		for _, p := range found {
			names = append(names, filepath.Base(filepath.Dir(filepath.Dir(p))))
			paths = append(paths, p)
		}
	}
	if p, err := exec.LookPath("python3"); err == nil && !samePython(p, paths) {
		names = append(names, "PATH")
		paths = append(paths, p)
	}
	return names, paths
}

// samePython reports whether python (say a pyenv shim) runs one of the
// interpreters in paths.
func samePython(python string, paths []string) bool {
	out, err := exec.Command(python, "-c", "import os, sys; print(os.path.realpath(sys.executable))").Output()
	if err != nil {
		return false
	}
	exe := strings.TrimSpace(string(out))
	for _, p := range paths {
		if r, err := filepath.EvalSymlinks(p); err == nil && r == exe {
			return true
		}
	}
	return false
}

type goldenRecord struct {
	Version string `json:"version"`
	Highest int    `json:"highest"`
	End     bool   `json:"end"`
	Name    string `json:"name"`
	Src     int    `json:"src"`
	Proto   int    `json:"proto"`
	Data    string `json:"data"`
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
}

// TestGolden runs testdata/golden.py under every CPython 3 found: Python
// pickles a corpus at each of its protocols, Go decodes and checks each
// pickle and re-encodes it at each protocol, and Python loads the results
// and compares them with the originals (== plus identity for shared and
// recursive values). Values built in Go ("go:" records) are checked too.
func TestGolden(t *testing.T) {
	names, paths := pythons()
	if len(paths) == 0 {
		t.Skip("no CPython 3 interpreter: looked for ~/.pyenv/versions/3.*/bin/python3 and python3 on PATH")
	}
	for i := range paths {
		t.Run(names[i], func(t *testing.T) {
			t.Parallel()
			runGolden(t, paths[i])
		})
	}
}

func runGolden(t *testing.T, python string) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "golden.py"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start %s: %v", python, err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s: %v\n%s", python, err, stderr.String())
		}
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	next := func() (goldenRecord, bool) {
		var r goldenRecord
		if !sc.Scan() {
			t.Errorf("%s: output ended early: %v", python, sc.Err())
			return r, false
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("bad line %q: %v", sc.Text(), err)
			return r, false
		}
		return r, true
	}
	head, ok := next()
	if !ok {
		return
	}
	// Decode Python's pickles, check them, re-encode them.
	var out []goldenRecord
	decoded := 0
	for {
		r, ok := next()
		if !ok {
			return
		}
		if r.End {
			break
		}
		data, _ := base64.StdEncoding.DecodeString(r.Data)
		v, err := Loads(data)
		if err != nil {
			t.Errorf("%s proto %d: Loads: %v", r.Name, r.Proto, err)
			continue
		}
		decoded++
		if err := goldenCheck(r.Name, v); err != nil {
			t.Errorf("%s proto %d: %v (decoded %s)", r.Name, r.Proto, err, repr(v, 0))
		}
		for q := 0; q <= head.Highest; q++ {
			// Protocols 2, 4 and 5, and the pickle's own protocol.
			if q != 2 && q != 4 && q != 5 && q != r.Proto {
				continue
			}
			b, err := Dumps(v, q)
			if err != nil {
				t.Errorf("%s proto %d: Dumps(%d): %v", r.Name, r.Proto, q, err)
				continue
			}
			out = append(out, goldenRecord{Name: r.Name, Src: r.Proto, Proto: q, Data: base64.StdEncoding.EncodeToString(b)})
		}
	}
	for _, g := range goNative() {
		for q := 0; q <= head.Highest; q++ {
			b, err := Dumps(g.v, q)
			if err != nil {
				t.Errorf("go:%s: Dumps(%d): %v", g.name, q, err)
				continue
			}
			out = append(out, goldenRecord{Name: "go:" + g.name, Src: -1, Proto: q, Data: base64.StdEncoding.EncodeToString(b)})
		}
	}
	go func() {
		w := bufio.NewWriter(stdin)
		enc := json.NewEncoder(w)
		for _, r := range out {
			if enc.Encode(r) != nil {
				break
			}
		}
		w.Flush()
		stdin.Close()
	}()
	loaded := 0
	for range out {
		r, ok := next()
		if !ok {
			return
		}
		if r.OK {
			loaded++
		} else {
			t.Errorf("Python %s loading Go's %s (from proto %d) at proto %d: %s", head.Version, r.Name, r.Src, r.Proto, r.Error)
		}
	}
	io.Copy(io.Discard, stdout)
	t.Logf("CPython %s (protocols 0-%d): Go decoded %d pickles; Python loaded %d/%d Go pickles equal", head.Version, head.Highest, decoded, loaded, len(out))
}

// goldenCheck checks the Go side of some decoded corpus values.
func goldenCheck(name string, v any) error {
	fail := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	switch name {
	case "none":
		if v != None {
			return fail("not None")
		}
	case "shared":
		t := v.(Tuple)
		if t[0].(*List) != t[1].(*List) || t[2].(*List).Items[0].(*List) != t[0].(*List) {
			return fail("shared list not shared")
		}
	case "selfref":
		l := v.(*List)
		if l.Items[1].(*List) != l {
			return fail("self reference lost")
		}
	case "selfref_dict":
		d := v.(*Dict)
		if s, _ := d.Get("self"); s.(*Dict) != d {
			return fail("self reference lost")
		}
	case "recursive_tuple":
		t := v.(Tuple)
		inner := t[0].(*List).Items[0].(Tuple)
		if &inner[0] != &t[0] {
			return fail("recursive tuple not shared")
		}
	case "int13", "int14", "int15", "int16", "int17", "int18":
		if b, ok := v.(*big.Int); !ok || b.IsInt64() {
			return fail("want *big.Int outside int64, got %T", v)
		}
	case "int10", "int11":
		if _, ok := v.(int64); !ok {
			return fail("want int64, got %T", v)
		}
	case "float1":
		if f := v.(float64); f != 0 || !math.Signbit(f) {
			return fail("want -0.0")
		}
	case "float7":
		if !math.IsNaN(v.(float64)) {
			return fail("want NaN")
		}
	case "complex0":
		if v.(complex128) != 1+2i {
			return fail("want 1+2j")
		}
	case "bytearray":
		if string(v.(ByteArray)) != "abc\x00\xff" {
			return fail("bad bytearray")
		}
	case "bytes_bin":
		if string(v.([]byte)) != "\x00\xff\x80abc" {
			return fail("bad bytes")
		}
	case "str_astral":
		if v.(string) != "smile \U0001F600 \U00010348" {
			return fail("bad str")
		}
	case "set":
		s := v.(*Set)
		if s.Len() != 3 || !s.Has(int64(2)) || !s.Has(2.0) {
			return fail("bad set")
		}
	case "frozenset":
		if f := v.(FrozenSet); f.Len() != 2 || !f.Has(1) {
			return fail("bad frozenset")
		}
	case "dict_keys":
		d := v.(*Dict)
		for _, c := range []struct {
			k    any
			want string
		}{{1, "one"}, {1.0, "one"}, {true, "one"}, {2.5, "float"}, {Tuple{1, 2}, "tuple"}, {Tuple{1.0, int64(2)}, "tuple"},
			{FrozenSetOf(2, 1), "fs"}, {None, "none"}, {nil, "none"}, {[]byte("b"), "bytes"}, {"b", "str"}, {0, "bool"},
			{new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 70)), "big"}} {
			if got, ok := d.Get(c.k); !ok || got != c.want {
				return fail("Get(%v) = %v, %v; want %q", c.k, got, ok, c.want)
			}
		}
		if d.Has("1") || d.Has(Tuple{1}) {
			return fail("spurious key")
		}
	case "dict_collide":
		d := v.(*Dict)
		if d.Len() != 1 || d.Keys()[0] != int64(1) || d.Values()[0] != "c" {
			return fail("want {1: 'c'}, got %s", repr(d, 0))
		}
	case "keyerror":
		cls, args, ok := ExceptionInfo(v)
		if !ok || cls != (Global{"builtins", "KeyError"}) || len(args) != 1 || args[0] != "k" {
			return fail("not KeyError('k')")
		}
	case "token":
		o := v.(*Object)
		st, ok := o.State.(Tuple)
		if o.Class() == (Global{"copyreg", "_reconstructor"}) {
			if o.Args[0] != (Global{"multiprocessing.managers", "Token"}) {
				return fail("bad reconstructor args")
			}
		} else if o.Class() != (Global{"multiprocessing.managers", "Token"}) || !o.New {
			return fail("not a Token NEWOBJ")
		}
		if !ok || len(st) != 3 || st[0] != "dict" || st[2] != "7f00" {
			return fail("bad Token state")
		}
	case "global_nested":
		if v != (Global{"__main__", "Outer.Inner"}) {
			return fail("got %v", v)
		}
	case "global_int":
		if v != (Global{"builtins", "int"}) {
			return fail("got %v", v)
		}
	case "request":
		t := v.(Tuple)
		if len(t) != 4 || t[0] != None || t[1] != "create" || t[2].(Tuple)[0] != "dict" || t[3].(*Dict).Len() != 0 {
			return fail("bad request")
		}
	case "datetime":
		o := v.(*Object)
		if o.Class() != (Global{"datetime", "datetime"}) || len(o.Args[0].([]byte)) != 10 {
			return fail("bad datetime")
		}
	case "ordereddict":
		o := v.(*Object)
		if o.Class() != (Global{"collections", "OrderedDict"}) || len(o.DictItems) != 2 {
			return fail("bad OrderedDict")
		}
	case "deep100":
		var depth int
		for l := v.(*List); len(l.Items) > 0; l = l.Items[0].(*List) {
			depth++
		}
		if depth != 100 {
			return fail("depth %d", depth)
		}
	}
	return nil
}

func manyInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i * 1000
	}
	return s
}

type goValue struct {
	name string
	v    any
}

type goldenInner struct{ V float64 }

type goldenStruct struct {
	Name   string `pickle:"name"`
	Age    int
	Tags   []string
	Skip   string `pickle:"-"`
	Opt    *int   `pickle:",omitempty"`
	Inner  goldenInner
	hidden int
}

type goldenNode struct {
	Name string
	Next *goldenNode
}

// goNative lists values built in Go, checked by golden.py's go_expected.
func goNative() []goValue {
	addr := Tuple{"127.0.0.1", 5000}
	cycle := NewList(1)
	cycle.Append(cycle)
	shared := []any{1}
	node := &goldenNode{Name: "a"}
	node.Next = node
	inner := NewList()
	rect := Tuple{inner}
	inner.Append(rect)
	return []goValue{
		{"token", NewInstance("multiprocessing.managers", "Token", Tuple{"dict", addr, "abc"})},
		{"token_reduce", NewObject("multiprocessing.managers", "Token", "dict", addr, "abc")},
		{"keyerror", Exception("builtins", "KeyError", "k")},
		{"struct", goldenStruct{Name: "x", Age: 3, Tags: []string{"a", "b"}, Skip: "no", Inner: goldenInner{1.5}, hidden: 1}},
		{"map", map[string]int{"b": 2, "a": 1}},
		{"request", Tuple{None, "create", Tuple{"dict"}, NewDict()}},
		{"dictkeys", DictOf(1, "a", 2.5, "b", Tuple{1, 2}, "c", FrozenSetOf(1, 2), "d", "s", "e", []byte("s"), "f")},
		{"set", SetOf(1, "a")},
		{"frozenset", FrozenSetOf(1, Tuple{2, 3})},
		{"cycle", cycle},
		{"sharedslice", Tuple{shared, shared}},
		{"nodecycle", node},
		{"array", [3]int{1, 2, 3}},
		{"bytesarr", [4]byte{1, 2, 3, 4}},
		{"maxuint64", uint64(math.MaxUint64)},
		{"bigneg", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 200))},
		{"globals", []Global{{"collections", "OrderedDict"}, {"__main__", "Outer.Inner"}, {"builtins", "KeyError"}}},
		{"complex", complex(1, -2)},
		{"floats", []float64{math.Inf(1), math.Copysign(0, -1), 1e-310}},
		{"timedelta", NewObject("datetime", "timedelta", 1, 2, 3)},
		{"rectuple", rect},
		{"bytearray", ByteArray("\x00ab")},
		{"bytes", []byte("\x00ab")},
		{"ordereddict", &Object{Callable: Global{"collections", "OrderedDict"}, Args: Tuple{},
			DictItems: []Item{{"a", 1}, {"b", 2}}}},
		{"simplenamespace", &Object{Callable: Global{"types", "SimpleNamespace"}, Args: Tuple{}, State: DictOf("a", 1)}},
		{"str", "h\u00e9 \U0001F600 \\ \n"},
		{"nil", nil},
		{"emptyslice", []int{}},
		{"nilslice", []int(nil)},
		{"manyints", manyInts(15000)},
	}
}
