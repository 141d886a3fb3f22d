package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fuzzLimits keep each fuzz input cheap.
var fuzzLimits = &DecoderOptions{Limits: Limits{
	MaxInputSize: 1 << 16, MaxDepth: 200, MaxContainerLen: 1 << 12, MaxMemo: 1 << 12, MaxIntBytes: 512,
}}

// FuzzLoads decodes arbitrary bytes under small limits. It must never panic
// (the decoder's last-resort recover would turn a panic into an "internal
// error", which fails here too), must respect the limits, and whatever
// decodes must re-encode to a pickle that decodes and re-encodes to the same
// bytes.
func FuzzLoads(f *testing.F) {
	for _, g := range goNative() {
		if g.name == "manyints" {
			continue
		}
		for _, p := range []int{0, 2, 4, 5} {
			b, err := Dumps(g.v, p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{
		"(I1\nimod\nCls\n.", "S'a\\'b\\x41'\n.", "V\\u00e9\\U0001f600\n.", "\x80\x05\x97\x98.",
		"\x80\x02\x82\x05.", "Pid\n.", "\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.",
		"\x80\x04\x8c\x01m\x8c\x01n\x93)\x81}b.", "\x80\x02c__builtin__\nset\n](K\x01e\x85R.",
		"\x80\x03c__builtin__\nset\n)R.", // a Python 2 name at protocol 3: kept, not rewritten at 0-2
		memoChain(50),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("hang on %q", data)) })
		defer watchdog.Stop()
		opts := *fuzzLimits
		opts.Buffers = [][]byte{[]byte("buf")}
		opts.Extensions = map[int]Global{1: {"m", "n"}}
		opts.PersistentLoad = func(pid any) (any, error) { return Tuple{"pid", pid}, nil }
		v, err := LoadsWith(data, &opts)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a *DecodeError: %v", err)
			}
			if bytes.Contains([]byte(de.Msg), []byte("internal error")) {
				t.Fatalf("panic: %v", err)
			}
			return
		}
		if len(data) > int(opts.Limits.MaxInputSize) && bytes.IndexByte(data[:opts.Limits.MaxInputSize], '.') < 0 {
			t.Fatalf("decoded past MaxInputSize")
		}
		for _, p := range []int{0, 2, 4, 5} {
			b1, err := dumps(v, p, opts.Limits.MaxDepth, nil)
			if err != nil {
				continue // deeper than MaxDepth after mutation, a bad global name, ...
			}
			v2, err := Loads(b1)
			if err != nil {
				t.Fatalf("protocol %d: re-encoded pickle does not decode: %v\n%q", p, err, b1)
			}
			b2, err := dumps(v2, p, opts.Limits.MaxDepth, nil)
			if err != nil {
				t.Fatalf("protocol %d: second encode: %v", p, err)
			}
			if !bytes.Equal(b1, b2) {
				t.Fatalf("protocol %d: not a fixed point\n%q\n%q", p, b1, b2)
			}
		}
	})
}
