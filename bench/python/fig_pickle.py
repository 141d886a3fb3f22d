"""pickle/ figures: Python's own pickle (its C accelerator) on a typical
manager request, the tuple (ident, methodname, args, kwds) every proxy call
sends, at protocol 4, as the Go side encodes and decodes it."""

import pickle

import common

REQUEST = ("7f3c2a10", "__setitem__",
           ("k42", {"name": "job-42", "score": 1.5, "tags": ["a", "b"], "n": 42, "ok": True}),
           {})


def encode(a):
    dumps = pickle.dumps
    t0 = common.perf()
    for _ in range(a.ops):
        dumps(REQUEST, 4)
    return common.perf() - t0


def decode(a):
    data = pickle.dumps(REQUEST, 4)
    loads = pickle.loads
    t0 = common.perf()
    for _ in range(a.ops):
        loads(data)
    secs = common.perf() - t0
    common.expect(loads(data), REQUEST)
    return secs


if __name__ == "__main__":
    common.main({"pickle/encode-request": encode, "pickle/decode-request": decode})
