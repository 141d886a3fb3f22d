package pickle

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"testing"
)

// The payloads: a manager request as a Python client sends it, and a dict
// of 100 str -> int. json is the baseline: a stdlib codec for similar data.
func benchPayloads() (request any, dict *Dict, goDict map[string]int) {
	request = Tuple{"7f3a2c1d", "__setitem__", Tuple{"key", int64(42)}, NewDict()}
	dict = NewDict()
	goDict = make(map[string]int, 100)
	for i := range 100 {
		k := "key-" + strconv.Itoa(i)
		_ = dict.Set(k, int64(i))
		goDict[k] = i
	}
	return
}

func BenchmarkEncode(b *testing.B) {
	request, dict, goDict := benchPayloads()
	jsonRequest := []any{"7f3a2c1d", "__setitem__", []any{"key", 42}, map[string]any{}}
	for _, c := range []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{"payload=request/codec=pickle", func() ([]byte, error) { return Marshal(request) }},
		{"payload=request/codec=json", func() ([]byte, error) { return json.Marshal(jsonRequest) }},
		{"payload=dict100/codec=pickle", func() ([]byte, error) { return Marshal(dict) }},
		{"payload=dict100/codec=pickle-gomap", func() ([]byte, error) { return Marshal(goDict) }},
		{"payload=dict100/codec=json", func() ([]byte, error) { return json.Marshal(goDict) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := c.fn()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(out)))
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	request, dict, goDict := benchPayloads()
	reqPickle, _ := Marshal(request)
	dictPickle, _ := Marshal(dict)
	reqJSON, _ := json.Marshal([]any{"7f3a2c1d", "__setitem__", []any{"key", 42}, map[string]any{}})
	dictJSON, _ := json.Marshal(goDict)
	for _, c := range []struct {
		name string
		in   []byte
		fn   func([]byte) error
	}{
		{"payload=request/codec=pickle", reqPickle, func(in []byte) error { _, err := Loads(in); return err }},
		{"payload=request/codec=json", reqJSON, func(in []byte) error { var v any; return json.Unmarshal(in, &v) }},
		{"payload=dict100/codec=pickle", dictPickle, func(in []byte) error { _, err := Loads(in); return err }},
		{"payload=dict100/codec=pickle-gomap", dictPickle, func(in []byte) error { var m map[string]int; return Unmarshal(in, &m) }},
		{"payload=dict100/codec=json", dictJSON, func(in []byte) error { var m map[string]int; return json.Unmarshal(in, &m) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				if err := c.fn(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRequest is the manager request of bench/figures_pickle.go:
//
//	('7f3c2a10', '__setitem__', ('k42', {'name': 'job-42', 'score': 1.5,
//	 'tags': ['a', 'b'], 'n': 42, 'ok': True}), {})
func benchRequest() Tuple {
	return Tuple{"7f3c2a10", "__setitem__",
		Tuple{"k42", DictOf(
			"name", "job-42", "score", 1.5, "tags", NewList("a", "b"),
			"n", int64(42), "ok", true)},
		NewDict()}
}

// benchRequestPickle is benchRequest as CPython 3.11 pickles it at
// protocol 4 (pickle.dumps(request, 4)).
const benchRequestPickle = "8004956b00000000000000288c083766336332613130948c0b5f5f7365746974656d5f5f948c036b3432947d94288c046e616d65948c066a6f622d3432948c0573636f726594473ff80000000000008c0474616773945d94288c0161948c016294658c016e944b2a8c026f6b94887586947d9474942e"

func BenchmarkDumpsRequest(b *testing.B) {
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Dumps(req, 4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadsRequest(b *testing.B) {
	data, err := hex.DecodeString(benchRequestPickle)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := Loads(data)
		if err != nil {
			b.Fatal(err)
		}
		if t, ok := v.(Tuple); !ok || len(t) != 4 {
			b.Fatalf("decoded %s", Repr(v))
		}
	}
}

// BenchmarkLoadsWithRequest is BenchmarkLoadsRequest with options, as the
// manager decodes (its options must cost no allocation).
func BenchmarkLoadsWithRequest(b *testing.B) {
	data, err := hex.DecodeString(benchRequestPickle)
	if err != nil {
		b.Fatal(err)
	}
	opts := &DecoderOptions{Limits: Limits{MaxDepth: 100}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadsWith(data, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchRequestPickle checks that Dumps writes the request exactly as
// CPython does, so that the two benchmarks above measure the same bytes.
func TestBenchRequestPickle(t *testing.T) {
	got, err := Dumps(benchRequest(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got); h != benchRequestPickle {
		t.Fatalf("Dumps = %s\nwant   %s", h, benchRequestPickle)
	}
	v, err := Loads(got)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(v, benchRequest()) {
		t.Fatalf("Loads = %s", Repr(v))
	}
}
