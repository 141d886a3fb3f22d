package pickle

import (
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
