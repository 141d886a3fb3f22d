"""lock/ and rlock/ figures: multiprocessing.Lock and RLock."""

import multiprocessing as mp

import common


def _make(figure):
    return mp.RLock() if figure.startswith("rlock/") else mp.Lock()


def uncontended(a):
    lock = _make(a.figure)
    acquire, release = lock.acquire, lock.release
    t0 = common.perf()
    for _ in range(a.ops):
        acquire()
        release()
    return common.perf() - t0


def _adder(i, lock, counter, ops):
    def run():
        for _ in range(ops):
            with lock:
                counter.value += 1
    return run


def contended(a):
    lock = _make(a.figure)
    counter = mp.RawValue("Q", 0)
    secs = common.team(a.procs, _adder, (lock, counter, a.ops))
    common.expect(counter.value, a.procs * a.ops)
    return secs


if __name__ == "__main__":
    common.main({
        "lock/uncontended": uncontended,
        "rlock/uncontended": uncontended,
        "lock/contended-2p": contended,
        "rlock/contended-2p": contended,
    })
