"""pipe/ figures: multiprocessing.Pipe() (duplex, a socketpair) between the
parent and one child, with send_bytes and recv_bytes (echo, alloc) or
recv_bytes_into one reused buffer (into)."""

import multiprocessing as mp

import common


def _child(i, conn, ops, size, mode):
    def run():
        recv, send = conn.recv_bytes, conn.send_bytes
        if mode == "into":
            buf = bytearray(size)
            into = conn.recv_bytes_into
            for _ in range(ops):
                n = into(buf)
                if n != size:
                    raise RuntimeError("received %d bytes, want %d" % (n, size))
            return
        for _ in range(ops):
            msg = recv()
            if len(msg) != size:
                raise RuntimeError("received %d bytes, want %d" % (len(msg), size))
            if mode == "echo":
                send(msg)
    return run


def _run(a, mode):
    mine, theirs = mp.Pipe(duplex=True)
    msg = bytes(a.size)
    echo = mode == "echo"

    def parent():
        send, recv = mine.send_bytes, mine.recv_bytes
        for _ in range(a.ops):
            send(msg)
            if echo and len(recv()) != a.size:
                raise RuntimeError("short echo")
    return common.team(1, _child, (theirs, a.ops, a.size, mode), parent)


if __name__ == "__main__":
    common.main({
        "pipe/roundtrip": lambda a: _run(a, "echo"),
        "pipe/throughput": lambda a: _run(a, "into"),
        "pipe/throughput-alloc": lambda a: _run(a, "alloc"),
    })
