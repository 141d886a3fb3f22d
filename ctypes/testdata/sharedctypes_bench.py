#!/usr/bin/env python3
"""Python's side of the ctypes benchmarks: the same work as the Go
benchmarks in ctypes/bench_test.go, done with multiprocessing.sharedctypes.

Usage:
    sharedctypes_bench.py locked   [--procs 2] [--ops 100000] [--start METHOD]
    sharedctypes_bench.py unlocked [--procs 2] [--ops 100000] [--start METHOD]
    sharedctypes_bench.py fillsum  [--n 1000000] [--method loop|slice] [--start METHOD]

Each run prints exactly one line of JSON on stdout, for example

    {"bench": "locked", "python": "3.11.7", "start": "fork", "procs": 2,
     "ops": 200000, "seconds": 0.47, "ops_per_sec": 425000.0, "total": 200000,
     "ok": true}

Common keys: bench, python, start (the start method), seconds (the timed
part), ok (the result was checked and is right).

locked:   procs processes each add 1 to one Value('l') ops times under
          v.get_lock() ("with lock: v.value += 1"). ops = total increments,
          ops_per_sec = ops / seconds, total = the final value (must equal
          ops). Timed from a barrier all workers pass before their loop to
          a barrier they pass after it (start-up and exit excluded).
unlocked: the same without the lock, on a RawValue('l'): what Python offers
          instead of an atomic add. Its total is short of ops (lost
          updates): lost = ops - total. ok is true when it ran at all.
fillsum:  the parent makes RawArray('d', n), a child process sets
          a[i] = i * 0.5 for every i, the parent joins it and sums the
          array. seconds is the whole job (create, start, fill, join, sum),
          with create_s, child_s (start + fill + join) and sum_s beside it;
          sum must equal 0.5 * n * (n - 1) / 2. --method slice fills with
          one slice assignment instead of an element loop.

Exit status 0 when ok, 1 otherwise (the JSON line is printed either way).
"""

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time


def _incr(v, ops, start, done, locked):
    start.wait()
    if locked:
        lock = v.get_lock()
        for _ in range(ops):
            with lock:
                v.value += 1
    else:
        for _ in range(ops):
            v.value += 1
    done.wait()


def increments(ctx, procs, ops, locked):
    v = ctx.Value("l", 0) if locked else ctx.RawValue("l", 0)  # long: 8 bytes on Linux; "q" is 3.7+
    start = ctx.Barrier(procs + 1)
    done = ctx.Barrier(procs + 1)
    ps = [ctx.Process(target=_incr, args=(v, ops, start, done, locked)) for _ in range(procs)]
    for p in ps:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    done.wait()
    secs = time.perf_counter() - t0
    for p in ps:
        p.join()
    total = v.value
    out = {
        "procs": procs,
        "ops": procs * ops,
        "seconds": secs,
        "ops_per_sec": procs * ops / secs if secs > 0 else 0.0,
        "total": total,
        "ok": all(p.exitcode == 0 for p in ps) and (total == procs * ops or not locked),
    }
    if not locked:
        out["lost"] = procs * ops - total
    return out


def _fill(arr, n, method):
    if method == "slice":
        arr[:] = [i * 0.5 for i in range(n)]
    else:
        for i in range(n):
            arr[i] = i * 0.5


def fillsum(ctx, n, method):
    t0 = time.perf_counter()
    arr = ctx.RawArray("d", n)
    t1 = time.perf_counter()
    p = ctx.Process(target=_fill, args=(arr, n, method))
    p.start()
    p.join()
    t2 = time.perf_counter()
    s = sum(arr)
    t3 = time.perf_counter()
    want = 0.5 * n * (n - 1) / 2
    return {
        "n": n,
        "method": method,
        "seconds": t3 - t0,
        "create_s": t1 - t0,
        "child_s": t2 - t1,
        "sum_s": t3 - t2,
        "sum": s,
        "ok": p.exitcode == 0 and s == want,
    }


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bench", choices=["locked", "unlocked", "fillsum"])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--ops", type=int, default=100000, help="increments per process")
    ap.add_argument("--n", type=int, default=1000000, help="array length")
    ap.add_argument("--method", choices=["loop", "slice"], default="loop")
    ap.add_argument("--start", default=None, help="start method (default: the platform's)")
    a = ap.parse_args(argv)
    ctx = mp.get_context(a.start)
    if a.bench == "fillsum":
        out = fillsum(ctx, a.n, a.method)
    else:
        out = increments(ctx, a.procs, a.ops, a.bench == "locked")
    out = dict({"bench": a.bench, "python": platform.python_version(),
                "start": ctx.get_start_method()}, **out)
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
