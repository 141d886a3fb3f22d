"""The protocol between the Go harness (bench/python.go) and its Python peers.

A script is run as

    python3 fig_AREA.py FIGURE --ops N --size S --procs P --batch B [extra...]

It sets up once, then reads its standard input line by line: for every
"run" line it runs one repetition of FIGURE and prints one JSON line,
{"seconds": S} (the time of the work alone, start-up excluded, as on the Go
side) or {"error": "..."}. It exits at end of input. With --once it runs one
repetition without reading input (for a person, and for the tests).

Every figure does exactly the work of its mproc side: the same counts, item
sizes and process layout. Children start before the clock does: they wait on a
Barrier with the parent, and signal the end of their work on a Semaphore, as
the Go side's control block does.
"""

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import traceback

perf = time.perf_counter


def parse(extra=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("figure")
    ap.add_argument("--ops", type=int, default=1000)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--once", action="store_true")
    if extra:
        extra(ap)
    return ap.parse_args()


def main(figures, extra=None):
    """Serve repetitions of the figure named on the command line.

    figures maps a figure name to a function(args) returning the measured
    seconds of one repetition. MPROC_BENCH_START_METHOD, if set, picks
    multiprocessing's start method (the default is the platform's: fork on
    Linux before Python 3.14, forkserver from 3.14).
    """
    method = os.environ.get("MPROC_BENCH_START_METHOD")
    if method:
        mp.set_start_method(method)
    args = parse(extra)
    fn = figures.get(args.figure)
    if fn is None:
        print(json.dumps({"error": "unknown figure %s" % args.figure}), flush=True)
        sys.exit(2)

    def one():
        try:
            secs = fn(args)
            print(json.dumps({"seconds": secs}), flush=True)
        except Exception as e:  # reported, not fatal: the harness decides
            traceback.print_exc(file=sys.stderr)
            print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}), flush=True)

    if args.once:
        one()
        return
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            one()
        elif cmd == "quit":
            break


def _member(i, work, start, done, args):
    run = work(i, *args)
    start.wait()
    run()
    done.release()


def team(n, work, args=(), parent=None):
    """Run n child processes and time their work.

    work(i, *args) runs in child i before the clock starts and returns the
    callable to time. parent, if given, is the parent's own part of the
    work, run after the clock starts. Returns the seconds from the moment
    every child was ready until every child had finished.
    """
    start = mp.Barrier(n + 1)
    done = mp.Semaphore(0)
    procs = [mp.Process(target=_member, args=(i, work, start, done, args), daemon=True) for i in range(n)]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=60)
        t0 = perf()
        if parent is not None:
            parent()
        for _ in range(n):
            if not done.acquire(timeout=600):
                raise RuntimeError("a child did not finish")
        secs = perf() - t0
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    for p in procs:
        if p.exitcode != 0:
            raise RuntimeError("child exited %s" % p.exitcode)
    return secs


def expect(got, want):
    if got != want:
        raise RuntimeError("counter is %d, want %d" % (got, want))
