"""queue/ figures: multiprocessing.Queue between producer and consumer
processes (the parent only starts the clock and waits).

Every item is a bytes object of --size bytes. A batched figure puts lists
of --batch items (one put, one pickle, one pipe write per batch), Python's
way to batch.
"""

import multiprocessing as mp

import common


def _producer(q, n, size, batch):
    item = bytes(size)

    def run():
        if batch > 1:
            chunk = [item] * batch
            for _ in range(n // batch):
                q.put(chunk)
        else:
            put = q.put
            for _ in range(n):
                put(item)
        # Wait until the feeder thread has written everything to the pipe,
        # as the Go side's put has returned once the item is in the ring.
        q.close()
        q.join_thread()
    return run


def _consumer(q, n, size, batch):
    def run():
        got = 0
        get = q.get
        if batch > 1:
            while got < n:
                items = get()
                got += len(items)
                if len(items[0]) != size:
                    raise RuntimeError("short item")
        else:
            for _ in range(n):
                if len(get()) != size:
                    raise RuntimeError("short item")
    return run


def _member(i, q, procs, per, size, batch):
    # Children 0..procs-1 produce, procs..2*procs-1 consume.
    if i < procs:
        return _producer(q, per, size, batch)
    return _consumer(q, per, size, batch)


def items(a):
    q = mp.Queue()
    per = a.ops // a.procs
    return common.team(2 * a.procs, _member, (q, a.procs, per, a.size, a.batch))


if __name__ == "__main__":
    common.main({
        "queue/small-1p1c": items,
        "queue/small-4p4c": items,
        "queue/batched-1p1c": items,
        "queue/1mib-1p1c": items,
        # Python has no get-into-a-buffer or zero-copy form: the same
        # work with its only API, as the peer of those figures.
        "queue/1mib-into": items,
        "queue/1mib-zerocopy": items,
    })
