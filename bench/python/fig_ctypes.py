"""value/ and rawarray/ figures: multiprocessing.Value and RawArray."""

import array
import multiprocessing as mp

import common


def _incr(i, v, ops):
    def run():
        lock = v.get_lock()
        for _ in range(ops):
            with lock:
                v.value += 1
    return run


def locked_incr(a):
    # value/locked-incr-2p and value/atomic-incr-2p: Python has no atomic
    # add on shared memory; the locked increment is its only correct way.
    v = mp.Value("q", 0)
    secs = common.team(a.procs, _incr, (v, a.ops))
    common.expect(v.value, a.procs * a.ops)
    return secs


def _view(arr):
    return memoryview(arr).cast("B").cast("q")


def fill(a):
    n = a.size // 8
    arr = mp.RawArray("q", n)
    mv = _view(arr)
    t0 = common.perf()
    for i in range(a.ops):
        mv[:] = array.array("q", [i]) * n
    secs = common.perf() - t0
    if n and mv[n - 1] != a.ops - 1:
        raise RuntimeError("fill did not reach the end")
    return secs


def sum_(a):
    n = a.size // 8
    arr = mp.RawArray("q", n)
    mv = _view(arr)
    mv[:] = array.array("q", [1]) * n
    t0 = common.perf()
    for _ in range(a.ops):
        s = sum(mv)
        if s != n:
            raise RuntimeError("sum is %d, want %d" % (s, n))
    return common.perf() - t0


def _fill_half(arr, n):
    for i in range(n):
        arr[i] = i * 0.5


def child_fill_sum(a):
    # rawarray/child-fill-sum: the whole job, `ops` times.
    n = a.size // 8
    want = 0.5 * n * (n - 1) / 2
    t0 = common.perf()
    for _ in range(a.ops):
        arr = mp.RawArray("d", n)
        p = mp.Process(target=_fill_half, args=(arr, n))
        p.start()
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("child exited %d" % p.exitcode)
        s = sum(arr)
        if s != want:
            raise RuntimeError("sum is %r, want %r" % (s, want))
    return common.perf() - t0


if __name__ == "__main__":
    common.main({
        "value/locked-incr-2p": locked_incr,
        "value/atomic-incr-2p": locked_incr,
        "rawarray/fill": fill,
        "rawarray/sum": sum_,
        "rawarray/child-fill-sum": child_fill_sum,
    })
