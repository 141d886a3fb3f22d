"""shm/ figures: multiprocessing.shared_memory doing the work of mproc's shm."""

import os

from multiprocessing import shared_memory

import common

_seq = 0


def _name():
    global _seq
    _seq += 1
    return "mproc-bench-py-%d-%d" % (os.getpid(), _seq)


def create_open(a):
    """Create a segment, open it again by name, close both, unlink."""
    t0 = common.perf()
    for _ in range(a.ops):
        s = shared_memory.SharedMemory(name=_name(), create=True, size=a.size)
        s2 = shared_memory.SharedMemory(name=s.name)
        s2.close()
        s.close()
        s.unlink()
    return common.perf() - t0


def fresh_write(a):
    """Create a fresh segment, write every byte of it, close, unlink."""
    src = bytes((i * 7) & 0xFF for i in range(256)) * (a.size // 256) + bytes(a.size % 256)
    t0 = common.perf()
    for _ in range(a.ops):
        s = shared_memory.SharedMemory(name=_name(), create=True, size=a.size)
        s.buf[: a.size] = src
        s.close()
        s.unlink()
    return common.perf() - t0


if __name__ == "__main__":
    common.main({"shm/create-open": create_open, "shm/fresh-write": fresh_write})
