package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mproc/mproc/pickle"
)

// The pickle figures encode and decode a typical manager request, the
// tuple (ident, methodname, args, kwds) that every proxy call sends:
//
//	('7f3c2a10', '__setitem__', ('k42', {'name': 'job-42', 'score': 1.5,
//	 'tags': ['a', 'b'], 'n': 42, 'ok': True}), {})
//
// at protocol 4 (what Python's managers send). Python's side is its own
// pickle module (the C accelerator) on the same object; Go's in-process
// baseline is encoding/json on the same structure.
func init() {
	register(&Figure{
		Name:  "pickle/encode-request",
		Unit:  MicrosPerOp,
		Doc:   "pickle a typical manager request (a 4-tuple holding a 5-key dict) at protocol 4; one process",
		Quick: Params{Ops: 100_000},
		Full:  Params{Ops: 300_000},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc pickle", Kind: KindMproc, Run: pickleEncode},
			pySide("fig_pickle.py"),
			{Name: "encoding/json", Kind: KindGo, Run: jsonEncode},
		},
	})
	register(&Figure{
		Name:  "pickle/decode-request",
		Unit:  MicrosPerOp,
		Doc:   "unpickle the same request, as Python pickled it; one process",
		Quick: Params{Ops: 100_000},
		Full:  Params{Ops: 300_000},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc pickle", Kind: KindMproc, Run: pickleDecode},
			pySide("fig_pickle.py"),
			{Name: "encoding/json", Kind: KindGo, Run: jsonDecode},
		},
	})
}

// request is the manager request in pickle's value model.
func request() pickle.Tuple {
	return pickle.Tuple{"7f3c2a10", "__setitem__",
		pickle.Tuple{"k42", pickle.DictOf(
			"name", "job-42", "score", 1.5, "tags", pickle.NewList("a", "b"),
			"n", int64(42), "ok", true)},
		pickle.NewDict()}
}

// jsonRequest is the same request as encoding/json sees it.
type jsonRequest struct {
	Ident  string `json:"ident"`
	Method string `json:"method"`
	Args   []any  `json:"args"`
	Kwds   map[string]any
}

func newJSONRequest() jsonRequest {
	return jsonRequest{"7f3c2a10", "__setitem__",
		[]any{"k42", map[string]any{"name": "job-42", "score": 1.5, "tags": []any{"a", "b"}, "n": 42, "ok": true}},
		map[string]any{}}
}

func pickleEncode(ctx context.Context, p Params) (time.Duration, error) {
	req := request()
	t0 := time.Now()
	for range p.Ops {
		if _, err := pickle.Dumps(req, 4); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), ctx.Err()
}

func pickleDecode(ctx context.Context, p Params) (time.Duration, error) {
	data, err := pickle.Dumps(request(), 4)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for range p.Ops {
		v, err := pickle.Loads(data)
		if err != nil {
			return 0, err
		}
		if t, ok := v.(pickle.Tuple); !ok || len(t) != 4 {
			return 0, fmt.Errorf("decoded %s", pickle.Repr(v))
		}
	}
	return time.Since(t0), ctx.Err()
}

func jsonEncode(ctx context.Context, p Params) (time.Duration, error) {
	req := newJSONRequest()
	var buf bytes.Buffer
	t0 := time.Now()
	for range p.Ops {
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(req); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), ctx.Err()
}

func jsonDecode(ctx context.Context, p Params) (time.Duration, error) {
	data, err := json.Marshal(newJSONRequest())
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for range p.Ops {
		var v jsonRequest
		if err := json.Unmarshal(data, &v); err != nil {
			return 0, err
		}
		if len(v.Args) != 2 {
			return 0, fmt.Errorf("decoded %+v", v)
		}
	}
	return time.Since(t0), ctx.Err()
}
