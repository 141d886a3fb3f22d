"""manager/ figures: a multiprocessing SyncManager server in its own process
and a client in this one, each operation one request and one reply.

Work for --ops N (N even), with j = 0 .. N/2-1:
  dict:      d["k%d" % (j % 100)] = j, then read d["k%d" % (j % 100)]
  list:      l.append(j), then read l[j]
  namespace: ns.x = j, then read ns.x
manager/dict-pipelined is the dict work: Python's client has no pipelining.
manager/dict-procs8-pyclient: --procs client processes, each with its own
connections, share one dict; process i does N/procs/2 pairs of
d["k%d" % i] = j, then reads it back.

With --address and --authkey the client connects to a server that is
already running (the mproc manager, for the figures with a Python client);
without them it starts Python's own with multiprocessing.Manager().
"""

import multiprocessing as mp
from multiprocessing.managers import SyncManager

import common


def _extra(ap):
    ap.add_argument("--address", default="")
    ap.add_argument("--authkey", default="")


def _dict(m, pairs):
    d = m.dict()
    t0 = common.perf()
    for j in range(pairs):
        k = "k%d" % (j % 100)
        d[k] = j
        if d[k] != j:
            raise RuntimeError("read back the wrong value")
    return common.perf() - t0


def _list(m, pairs):
    lst = m.list()
    t0 = common.perf()
    for j in range(pairs):
        lst.append(j)
        if lst[j] != j:
            raise RuntimeError("read back the wrong value")
    return common.perf() - t0


def _namespace(m, pairs):
    ns = m.Namespace()
    t0 = common.perf()
    for j in range(pairs):
        ns.x = j
        if ns.x != j:
            raise RuntimeError("read back the wrong value")
    return common.perf() - t0


def _dict_member(i, address, authkey, token_id, pairs):
    # A client process of its own: its own connections to the server, a
    # proxy for the shared dict rebuilt from its token.
    from multiprocessing.managers import DictProxy, Token
    if address:
        m = SyncManager(address=address, authkey=authkey)
        m.connect()
        addr = address
    else:
        m, addr = None, _manager.address
    d = DictProxy(Token("dict", addr, token_id), "pickle", manager=m, authkey=authkey, incref=True)
    k = "k%d" % i
    d[k] = -1

    def run():
        for j in range(pairs):
            d[k] = j
            if d[k] != j:
                raise RuntimeError("read back the wrong value")
    return run


def _dict_procs(m, a):
    d = m.dict()
    authkey = bytes(mp.current_process().authkey)
    return common.team(a.procs, _dict_member, (_address(a), authkey, d._token.id, a.ops // a.procs // 2))


_OPS = {"dict": _dict, "list": _list, "namespace": _namespace}

_manager = None


def _address(a):
    """The server address given on the command line, in Python's form."""
    address = a.address
    if address and ":" in address and not address.startswith("/"):
        host, port = address.rsplit(":", 1)
        address = (host, int(port))
    return address


def _connect(a):
    """The manager for this script's life: started once, or connected to."""
    global _manager
    if _manager is None:
        if a.address:
            authkey = bytes.fromhex(a.authkey)
            mp.current_process().authkey = authkey  # for the client processes
            _manager = SyncManager(address=_address(a), authkey=authkey)
            _manager.connect()
        else:
            _manager = SyncManager()
            _manager.start()
    return _manager


def run(a):
    what = a.figure.split("/", 1)[1].split("-", 1)[0]  # manager/dict-goclient -> dict
    if a.figure == "manager/dict-procs8-pyclient":
        return _dict_procs(_connect(a), a)
    return _OPS[what](_connect(a), a.ops // 2)


if __name__ == "__main__":
    figures = {}
    for what in _OPS:
        figures["manager/%s-goclient" % what] = run
        figures["manager/%s-pyclient" % what] = run
    figures["manager/dict-pipelined"] = run  # Python's client makes one call at a time
    figures["manager/dict-procs8-pyclient"] = run
    common.main(figures, _extra)
