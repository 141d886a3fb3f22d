# Python-client benchmark: PROCS processes, each with its own SyncManager
# connection, do OPS/PROCS/2 pairs of d[k] = j; d[k] on one managed dict
# (one key per process), all started together. Prints one line:
#   ops=N procs=P seconds=S ops_per_sec=R
#
#   python3 bench_client.py ADDRESS AUTHKEY_HEX OPS PROCS
import sys
import time
import multiprocessing as mp
from multiprocessing.managers import SyncManager


def parse_address(s):
    if "/" in s:
        return s
    host, _, port = s.rpartition(":")
    return (host, int(port))


def worker(address, authkey, token_id, pairs, barrier, out, i):
    mp.current_process().authkey = authkey
    m = SyncManager(address=address, authkey=authkey)
    m.connect()
    d = m.dict()  # a proxy of our own for the shared dict: rebuilt from its token below
    from multiprocessing.managers import DictProxy, Token
    shared = DictProxy(Token("dict", address, token_id), "pickle", manager=m, authkey=authkey)
    k = "k%d" % i
    shared[k] = -1
    barrier.wait()
    t0 = time.perf_counter()
    for j in range(pairs):
        shared[k] = j
        if shared[k] != j:
            raise RuntimeError("read back the wrong value")
    out.put(time.perf_counter() - t0)
    del d


def main():
    address = parse_address(sys.argv[1])
    authkey = bytes.fromhex(sys.argv[2])
    ops, procs = int(sys.argv[3]), int(sys.argv[4])
    mp.current_process().authkey = authkey
    m = SyncManager(address=address, authkey=authkey)
    m.connect()
    d = m.dict()
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs + 1)
    out = ctx.Queue()
    pairs = max(ops // procs // 2, 1)
    ps = [ctx.Process(target=worker, args=(address, authkey, d._token.id, pairs, barrier, out, i)) for i in range(procs)]
    for p in ps:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    times = [out.get() for _ in ps]
    wall = time.perf_counter() - t0
    for p in ps:
        p.join()
    total = pairs * 2 * procs
    print("ops=%d procs=%d seconds=%.4f ops_per_sec=%.0f" % (total, procs, wall, total / wall), flush=True)


if __name__ == "__main__":
    main()
