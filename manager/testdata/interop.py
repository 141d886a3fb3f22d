# Interop checks: an unmodified CPython SyncManager client against a manager
# server (mproc's Go server or CPython's own).
#
#   python3 interop.py ADDRESS AUTHKEY_HEX [GROUP ...]
#
# ADDRESS is "host:port" or a Unix socket path. Every check runs even if an
# earlier one failed; the script prints "FAIL name: reason" lines, then
# "checks: N passed, M failed" and exits 1 if any failed. GROUP names limit
# the run (default: all groups).
import sys
import os
import time
import queue as pyqueue
import threading
import traceback
import datetime
import decimal
import array
import multiprocessing
from multiprocessing import managers
from multiprocessing.managers import SyncManager, RemoteError

PASSED = 0
FAILED = []


TIMING = os.environ.get("INTEROP_TIMING")


def check(name, fn):
    global PASSED
    t0 = time.monotonic()
    try:
        fn()
    except Exception:
        FAILED.append(name)
        print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", "\n    ")), flush=True)
    else:
        PASSED += 1
    if TIMING:
        print("%-40s %.3fs" % (name, time.monotonic() - t0), flush=True)


def eq(got, want):
    if got != want:
        raise AssertionError("got %r, want %r" % (got, want))


def raises(exc, fn, *args, **kwds):
    try:
        fn(*args, **kwds)
    except exc as e:
        return e
    except Exception as e:
        raise AssertionError("raised %r, want %s" % (e, exc))
    raise AssertionError("did not raise %s" % (exc,))


def parse_address(s):
    if "/" in s or s.startswith("@"):
        return s.replace("@", "\0", 1) if s.startswith("@") else s
    host, _, port = s.rpartition(":")
    return (host, int(port))


def connect(address, authkey):
    m = SyncManager(address=address, authkey=authkey)
    m.connect()
    return m


# ---------------------------------------------------------------- dict

def g_dict(m):
    d = m.dict()
    check("dict.setitem.getitem", lambda: (d.__setitem__("a", 1), eq(d["a"], 1)))
    d[2] = "b"
    d[(1, 2)] = [1, 2]
    check("dict.len", lambda: eq(len(d), 3))
    check("dict.contains", lambda: (eq("a" in d, True), eq(2 in d, True), eq(2.0 in d, True), eq("zz" in d, False)))
    check("dict.float_key_equality", lambda: eq(d[2.0], "b"))
    check("dict.keyerror", lambda: eq(raises(KeyError, d.__getitem__, "zz").args, ("zz",)))
    check("dict.get", lambda: (eq(d.get("zz"), None), eq(d.get("zz", 5), 5), eq(d.get("a"), 1)))
    check("dict.keys", lambda: eq(list(d.keys()), ["a", 2, (1, 2)]))
    check("dict.values", lambda: eq(list(d.values()), [1, "b", [1, 2]]))
    check("dict.items", lambda: eq(list(d.items()), [("a", 1), (2, "b"), ((1, 2), [1, 2])]))
    check("dict.iter", lambda: eq(list(d), ["a", 2, (1, 2)]))
    check("dict.iter.for", lambda: eq([k for k in d], ["a", 2, (1, 2)]))

    def iter_changed():
        it = iter(d)
        next(it)
        d["new"] = 1
        raises(RuntimeError, next, it)
        del d["new"]
    check("dict.iter.changed_size", iter_changed)

    def iter_exhausted():
        it = iter(d)
        eq(list(it), ["a", 2, (1, 2)])
        eq(list(it), [])
    check("dict.iter.exhausted", iter_exhausted)
    check("dict.str", lambda: eq(str(d), "{'a': 1, 2: 'b', (1, 2): [1, 2]}"))
    check("dict.getvalue", lambda: eq(d._getvalue(), {"a": 1, 2: "b", (1, 2): [1, 2]}))
    check("dict.copy", lambda: eq(d.copy(), {"a": 1, 2: "b", (1, 2): [1, 2]}))
    check("dict.pop", lambda: (eq(d.pop("a"), 1), eq(d.pop("a", "dflt"), "dflt"), raises(KeyError, d.pop, "a")))
    check("dict.setdefault", lambda: (eq(d.setdefault("s", [9]), [9]), eq(d.setdefault("s", 0), [9])))
    check("dict.update", lambda: (d.update({"u": 1}, v=2), d.update([("w", 3)]), eq(d["u"], 1), eq(d["v"], 2), eq(d["w"], 3)))
    check("dict.update.bad", lambda: (raises(TypeError, d.update, 5), raises(ValueError, d.update, [(1, 2, 3)])))
    check("dict.popitem", lambda: eq(d.popitem(), ("w", 3)))
    check("dict.delitem", lambda: (d.__delitem__("v"), eq("v" in d, False), raises(KeyError, d.__delitem__, "v")))
    check("dict.unhashable", lambda: raises(TypeError, d.__setitem__, [1], 1))
    check("dict.clear", lambda: (d.clear(), eq(len(d), 0), eq(raises(KeyError, d.popitem).args, ("popitem(): dictionary is empty",))))
    check("dict.bool_int_key", lambda: (d.__setitem__(1, "one"), d.__setitem__(True, "true"), eq(len(d), 1), eq(d[1], "true"), d.clear()))

    values = [None, True, False, 0, -1, 2**63 - 1, -2**63, 2**100, -2**70, 1.5, float("inf"), -0.0,
              "", "unicode \u2713 \U0001F600", "x" * 100000, b"", b"\x00\xff" * 100, bytearray(b"ba"),
              {1, 2, 3}, frozenset({"f"}), (), (1,), (1, (2, 3)), [], [1, [2, [3]]], {"n": {"x": 1}},
              complex(1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.date(2021, 3, 4),
              decimal.Decimal("1.25")]

    def roundtrip():
        for i, v in enumerate(values):
            d[i] = v
        for i, v in enumerate(values):
            got = d[i]
            eq(type(got), type(v))
            eq(got, v)
        eq(d._getvalue(), dict(enumerate(values)))
        d.clear()
    check("dict.roundtrip_values", roundtrip)

    def shared_refs():
        x = [1, 2]
        d["s"] = (x, x)
        got = d["s"]
        eq(got, ([1, 2], [1, 2]))
        if got[0] is not got[1]:
            raise AssertionError("shared reference lost")
        d.clear()
    check("dict.shared_references", shared_refs)

    def ns_value():
        d["ns"] = managers.Namespace(a=1, b="x")
        got = d["ns"]
        eq(type(got).__name__, "Namespace")
        eq((got.a, got.b), (1, "x"))
        d.clear()
    check("dict.namespace_value", ns_value)
    check("dict.create_kwds", lambda: eq(m.dict(b=1, a=2)._getvalue(), {"b": 1, "a": 2}))
    check("dict.create_kwds_order", lambda: eq(list(m.dict(b=1, a=2).keys()), ["b", "a"]))
    check("dict.create_mapping", lambda: eq(m.dict({"x": 1}, y=2).copy(), {"x": 1, "y": 2}))
    check("dict.create_pairs", lambda: eq(m.dict([("y", 2)]).copy(), {"y": 2}))


# ---------------------------------------------------------------- list

def g_list(m):
    l = m.list([1, 2, 3])
    check("list.getitem", lambda: (eq(l[0], 1), eq(l[-1], 3)))
    check("list.append_extend", lambda: (l.append(4), l.extend([5, 6]), eq(l[:], [1, 2, 3, 4, 5, 6])))
    check("list.slices", lambda: (eq(l[1:3], [2, 3]), eq(l[::2], [1, 3, 5]), eq(l[::-1], [6, 5, 4, 3, 2, 1]),
                                  eq(l[-2:], [5, 6]), eq(l[10:], []), eq(l[-100:1], [1])))
    check("list.len", lambda: eq(len(l), 6))
    check("list.contains", lambda: (eq(3 in l, True), eq(3.0 in l, True), eq(30 in l, False)))
    check("list.iter_legacy", lambda: eq(list(l), [1, 2, 3, 4, 5, 6]))
    check("list.reversed", lambda: eq(list(reversed(l)), [6, 5, 4, 3, 2, 1]))
    check("list.setitem", lambda: (l.__setitem__(0, 10), eq(l[0], 10), l.__setitem__(-1, 60), eq(l[5], 60)))
    check("list.setitem_slice", lambda: (l.__setitem__(slice(1, 3), [20, 30, 35]), eq(l[:], [10, 20, 30, 35, 4, 5, 60])))
    check("list.setitem_extended_slice_bad", lambda: raises(ValueError, l.__setitem__, slice(0, 4, 2), [1]))
    check("list.delitem", lambda: (l.__delitem__(3), eq(l[:], [10, 20, 30, 4, 5, 60]), l.__delitem__(slice(0, 2)), eq(l[:], [30, 4, 5, 60])))
    check("list.insert_index_count", lambda: (l.insert(0, "x"), l.insert(100, "y"), l.insert(-1, "z"),
                                              eq(l[:], ["x", 30, 4, 5, 60, "z", "y"]), eq(l.index("x"), 0),
                                              eq(l.index(5), 3), eq(l.count(4), 1), eq(l.count("q"), 0)))
    check("list.index_missing", lambda: eq(str(raises(ValueError, l.index, "nope")), "'nope' is not in list"))
    check("list.remove", lambda: (l.remove("x"), l.remove("y"), l.remove("z"), raises(ValueError, l.remove, "x"), eq(l[:], [30, 4, 5, 60])))
    check("list.pop", lambda: (eq(l.pop(), 60), eq(l.pop(0), 30), raises(IndexError, l.pop, 10), eq(l[:], [4, 5])))
    check("list.indexerror", lambda: eq(str(raises(IndexError, l.__getitem__, 100)), "list index out of range"))
    check("list.typeerror_index", lambda: raises(TypeError, l.__getitem__, "a"))
    check("list.reverse_sort", lambda: (l.extend([3, 1, 2]), l.reverse(), eq(l[:], [2, 1, 3, 5, 4]), l.sort(), eq(l[:], [1, 2, 3, 4, 5]),
                                        l.sort(reverse=True), eq(l[:], [5, 4, 3, 2, 1])))
    check("list.sort_mixed", lambda: (l.append("s"), raises(TypeError, l.sort), l.remove("s")))

    def sort_variety():
        x = m.list([(2, "b"), (1, "z"), (2, "a"), (1.5, "q")])
        x.sort()
        eq(x[:], [(1, "z"), (1.5, "q"), (2, "a"), (2, "b")])
        y = m.list(["b", "A", "a", "", "ab"])
        y.sort()
        eq(y[:], sorted(["b", "A", "a", "", "ab"]))
        z = m.list([b"b", b"a"])
        z.sort()
        eq(z[:], [b"a", b"b"])
    check("list.sort_variety", sort_variety)
    check("list.add_mul", lambda: (eq(l + [0], [5, 4, 3, 2, 1, 0]), eq(l * 2, [5, 4, 3, 2, 1] * 2), eq(2 * l, [5, 4, 3, 2, 1] * 2)))

    def inplace():
        b = m.list([1])
        b += [2]
        eq(b[:], [1, 2])
        b *= 2
        eq(b[:], [1, 2, 1, 2])
    check("list.inplace", inplace)
    check("list.str", lambda: eq(str(l), "[5, 4, 3, 2, 1]"))
    check("list.getvalue", lambda: eq(l._getvalue(), [5, 4, 3, 2, 1]))
    check("list.empty", lambda: (eq(m.list()[:], []), eq(len(m.list()), 0)))

    def modified_during_iter():
        a = m.list(list(range(10)))
        it = iter(a)
        a[0] = 100
        eq(next(it), 100)
    check("list.iter_sees_changes", modified_during_iter)


# ---------------------------------------------------------------- nested

def g_nested(m):
    def dict_nested():
        pets = m.dict(ferrets=2, hamsters=4)
        supplies = m.dict(water=10, feed=3)
        d = m.dict(pets=pets, supplies=supplies)
        eq(d["supplies"]["water"], 10)
        d["supplies"]["blankets"] = 5
        eq(supplies["blankets"], 5)
        del pets, supplies
        eq(d["pets"]["ferrets"], 2)
        pets = d["pets"]
        d.clear()
        eq(pets["hamsters"], 4)
        l = m.list([pets])
        l[0]["marmots"] = 1
        eq(pets["marmots"], 1)
        del pets
        eq(l[0]["marmots"], 1)
        outer = m.list([[88, 99], l])
        eq(type(outer[0]), list)
        eq(outer[-1][-1]["hamsters"], 4)
    check("nested.dict_proxy", dict_nested)

    def list_in_list():
        a = m.list([m.list(range(3)) for _ in range(3)])
        eq([inner[:] for inner in a], [[0, 1, 2]] * 3)
        a[0][-1] = 55
        eq(a[0][:], [0, 1, 55])
        eq(a[1].pop(), 2)
        eq(len(a[1]), 2)
        b = m.list()
        b.append(b)
        eq(len(b[0]), 1)
    check("nested.list_proxy", list_in_list)

    def queue_in_list():
        a = m.list()
        a.append(m.Queue())
        a[0].put(123)
        eq(a[0].get(), 123)
        b = m.dict()
        b[0] = m.Queue()
        b[0].put(456)
        eq(b[0].get(), 456)
    check("nested.queue", queue_in_list)

    def getvalue_nested():
        inner = m.list([1])
        outer = m.dict(x=inner)
        v = outer._getvalue()
        eq(v["x"][:], [1])
    check("nested.getvalue", getvalue_nested)


# ---------------------------------------------------------------- Namespace, Value, Array

def g_simple(m):
    n = m.Namespace(x=1)
    check("ns.get", lambda: eq(n.x, 1))
    check("ns.set_del", lambda: (setattr(n, "y", 2), eq(n.y, 2), delattr(n, "y"), raises(AttributeError, getattr, n, "y")))
    check("ns.hasattr", lambda: (eq(hasattr(n, "x"), True), eq(hasattr(n, "nope"), False)))
    check("ns.private_local", lambda: (setattr(n, "_hidden", 1), eq(n._hidden, 1)))
    check("ns.delattr_missing", lambda: raises(AttributeError, delattr, n, "nope"))
    check("ns.str", lambda: (setattr(n, "name", "Bob"), eq(str(n), "Namespace(name='Bob', x=1)")))

    def ns_getvalue():
        v = n._getvalue()
        eq(type(v).__name__, "Namespace")
        eq((v.x, v.name), (1, "Bob"))
    check("ns.getvalue", ns_getvalue)

    v = m.Value("i", 5)
    check("value.get_set", lambda: (eq(v.value, 5), setattr(v, "value", 7), eq(v.get(), 7), v.set(8), eq(v.value, 8)))
    check("value.str", lambda: eq(str(v), "Value('i', 8)"))
    check("value.getvalue", lambda: eq(v._getvalue().get(), 8))
    check("value.any", lambda: eq(m.Value("d", "anything").value, "anything"))

    a = m.Array("i", [1, 2, 3])
    check("array.len_get", lambda: (eq(len(a), 3), eq(a[0], 1), eq(a[-1], 3)))
    check("array.set", lambda: (a.__setitem__(0, 10), eq(a[0], 10)))
    check("array.iter", lambda: eq(list(a), [10, 2, 3]))
    check("array.slice", lambda: eq(a[0:2], array.array("i", [10, 2])))
    check("array.errors", lambda: (raises(IndexError, a.__getitem__, 10), raises(TypeError, a.__setitem__, 0, "x"),
                                   raises(OverflowError, a.__setitem__, 0, 2**40), raises(IndexError, a.__setitem__, 9, 1)))
    check("array.str", lambda: eq(str(a), "array('i', [10, 2, 3])"))
    check("array.getvalue", lambda: eq(a._getvalue(), array.array("i", [10, 2, 3])))
    check("array.double", lambda: eq(m.Array("d", [1.5, 2])[:], array.array("d", [1.5, 2.0])))
    check("array.bytes", lambda: eq(list(m.Array("B", b"\x01\x02")), [1, 2]))
    check("array.bad_typecode", lambda: raises(RemoteError, m.Array, "z", []))
    check("array.create_overflow", lambda: raises(RemoteError, m.Array, "b", [300]))


# ---------------------------------------------------------------- synchronization

def g_sync(m):
    lk = m.Lock()
    check("lock.acquire", lambda: (eq(lk.acquire(), True), eq(lk.acquire(False), False)))

    def lock_timeout():
        t = time.monotonic()
        eq(lk.acquire(True, 0.1), False)
        dt = time.monotonic() - t
        if dt < 0.09:
            raise AssertionError("timed acquire returned after %.3fs" % dt)
    check("lock.acquire_timeout", lock_timeout)
    check("lock.release", lambda: (eq(lk.release(), None), eq(str(raises(RuntimeError, lk.release)), "release unlocked lock")))
    check("lock.with", lambda: [None for _ in [lk.__enter__(), lk.__exit__(None, None, None)]])
    check("lock.nonblocking_timeout", lambda: raises(ValueError, lk.acquire, False, 1))

    rl = m.RLock()
    check("rlock", lambda: (eq(rl.acquire(), True), eq(rl.acquire(), True), eq(rl.acquire(), True),
                            rl.release(), rl.release(), rl.release(), raises(RuntimeError, rl.release)))

    def rlock_threads():
        rl.acquire()
        got = []
        t = threading.Thread(target=lambda: got.append(rl.acquire(True, 0.05)))
        t.start()
        t.join()
        eq(got, [False])
        err = []

        def rel():
            try:
                rl.release()
            except RuntimeError as e:
                err.append(e)
        t = threading.Thread(target=rel)
        t.start()
        t.join()
        eq(len(err), 1)
        rl.release()
    check("rlock.owner_is_thread", rlock_threads)

    s = m.Semaphore(2)
    check("semaphore", lambda: (eq(s.acquire(), True), eq(s.acquire(), True), eq(s.acquire(False), False),
                                eq(s.acquire(True, 0.05), False), s.release(), s.release(), s.release(),
                                eq(s.acquire(False), True)))
    bs = m.BoundedSemaphore(1)
    check("bounded_semaphore", lambda: (eq(bs.acquire(), True), bs.release(), eq(str(raises(ValueError, bs.release)), "Semaphore released too many times")))
    check("semaphore.negative", lambda: raises(RemoteError, m.Semaphore, -1))

    c = m.Condition()
    check("condition.unowned", lambda: (raises(RuntimeError, c.wait), raises(RuntimeError, c.notify)))
    check("condition.wait_timeout", lambda: (c.acquire(), eq(c.wait(0.05), False), eq(c.wait(0), False), c.notify(), c.notify_all(), c.release()))
    check("condition.wait_for", lambda: (c.acquire(), eq(c.wait_for(lambda: False, 0.05), False), eq(c.wait_for(lambda: 5), 5), c.release()))

    def cond_threads():
        state = []
        ready = threading.Event()

        def waiter():
            with c:
                ready.set()
                state.append(c.wait(10))
        t = threading.Thread(target=waiter)
        t.start()
        ready.wait()
        with c:  # the waiter is inside wait once we own the lock
            c.notify()
        t.join()
        eq(state, [True])
    check("condition.notify_thread", cond_threads)
    check("condition.with_lock", lambda: (lambda c2: (c2.acquire(), eq(c2.wait(0.01), False), c2.release()))(m.Condition(m.Lock())))

    e = m.Event()
    check("event", lambda: (eq(e.is_set(), False), eq(e.wait(0.05), False), eq(e.wait(0), False), e.set(), eq(e.is_set(), True),
                            eq(e.wait(), True), eq(e.wait(1), True), e.clear(), eq(e.is_set(), False)))

    b = m.Barrier(1)
    check("barrier.single", lambda: (eq(b.wait(), 0), eq(b.wait(), 0), eq(b.parties, 1), eq(b.n_waiting, 0), eq(b.broken, False)))
    check("barrier.abort", lambda: (b.abort(), eq(b.broken, True), raises(threading.BrokenBarrierError, b.wait), b.reset(), eq(b.broken, False), eq(b.wait(), 0)))
    b2 = m.Barrier(2, timeout=0.05)
    check("barrier.timeout", lambda: (raises(threading.BrokenBarrierError, b2.wait), eq(b2.broken, True)))
    if sys.version_info >= (3, 13):
        check("barrier.bad", lambda: raises(RemoteError, m.Barrier, 0))

    def barrier_threads():
        b3 = m.Barrier(3)
        res = []

        def w():
            res.append(b3.wait(10))
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        eq(sorted(res), [0, 1, 2])
    check("barrier.threads", barrier_threads)

    q = m.Queue(2)
    check("queue.put_get", lambda: (q.put(1), q.put(2), eq(q.full(), True), eq(q.qsize(), 2), eq(q.empty(), False)))
    check("queue.full", lambda: (raises(pyqueue.Full, q.put, 3, False), raises(pyqueue.Full, q.put, 3, True, 0.05), raises(pyqueue.Full, q.put_nowait, 3)))
    check("queue.get", lambda: (eq(q.get(), 1), eq(q.get_nowait(), 2), eq(q.empty(), True)))
    check("queue.empty_exc", lambda: (raises(pyqueue.Empty, q.get, False), raises(pyqueue.Empty, q.get, True, 0.05),
                                      raises(pyqueue.Empty, q.get_nowait), raises(pyqueue.Empty, q.get, timeout=0.01)))
    check("queue.bad_timeout", lambda: raises(ValueError, q.get, True, -1))
    check("queue.kwds", lambda: (q.put(item=5, block=True, timeout=None), eq(q.get(block=True, timeout=1), 5)))
    jq = m.JoinableQueue()
    check("joinablequeue", lambda: (jq.put("a"), eq(jq.get(), "a"), jq.task_done(), jq.join(), raises(ValueError, jq.task_done)))

    def queue_threads():
        q2 = m.Queue()
        out = []
        t = threading.Thread(target=lambda: out.append(q2.get(timeout=10)))
        t.start()
        time.sleep(0.05)
        q2.put("x")
        t.join()
        eq(out, ["x"])
    check("queue.blocking_get_thread", queue_threads)
    for name in ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Queue", "JoinableQueue",
                 "dict", "list", "Namespace"]:
        check("str." + name, lambda name=name: str(getattr(m, name)()))
    check("str.Barrier", lambda: str(m.Barrier(2)))
    check("str.Value", lambda: str(m.Value("i", 1)))
    check("str.Array", lambda: str(m.Array("i", [1])))


# ---------------------------------------------------------------- cross-process

def _child_lock(lk, ev_locked, ev_release):
    lk.acquire()
    ev_locked.set()
    ev_release.wait(10)
    lk.release()


def _child_event(e):
    time.sleep(0.05)
    e.set()


def _child_cond(c, ready, out):
    with c:
        ready.set()
        out.append(c.wait(10))


def _child_barrier(b, out):
    out.append(b.wait(10))


def _child_queue(q):
    for i in range(5):
        q.put(i)
    q.put(None)


def _child_dict(d):
    d["child"] = os.getpid()
    d["n"] = d["n"] + 1


def g_procs(m, authkey):
    methods = os.environ.get("INTEROP_START_METHODS", "fork,spawn").split(",")
    for method in methods:
        ctx = multiprocessing.get_context(method)

        def run(target, *args):
            p = ctx.Process(target=target, args=args)
            p.start()
            return p

        def lock_across():
            lk, locked, release = m.Lock(), m.Event(), m.Event()
            p = run(_child_lock, lk, locked, release)
            eq(locked.wait(30), True)
            eq(lk.acquire(True, 0.05), False)
            release.set()
            eq(lk.acquire(True, 30), True)
            lk.release()
            p.join(30)
            eq(p.exitcode, 0)
        check("procs.%s.lock" % method, lock_across)

        def event_across():
            e = m.Event()
            p = run(_child_event, e)
            eq(e.wait(30), True)
            p.join(30)
            eq(p.exitcode, 0)
        check("procs.%s.event" % method, event_across)

        def cond_across():
            c, ready, out = m.Condition(), m.Event(), m.list()
            p = run(_child_cond, c, ready, out)
            eq(ready.wait(30), True)
            with c:
                c.notify()
            p.join(30)
            eq(p.exitcode, 0)
            eq(out[:], [True])
        check("procs.%s.condition" % method, cond_across)

        def barrier_across():
            b, out = m.Barrier(3), m.list()
            ps = [run(_child_barrier, b, out) for _ in range(2)]
            out.append(b.wait(30))
            for p in ps:
                p.join(30)
                eq(p.exitcode, 0)
            eq(sorted(out[:]), [0, 1, 2])
        check("procs.%s.barrier" % method, barrier_across)

        def queue_across():
            q = m.Queue()
            p = run(_child_queue, q)
            got = list(iter(lambda: q.get(timeout=30), None))
            eq(got, [0, 1, 2, 3, 4])
            p.join(30)
            eq(p.exitcode, 0)
        check("procs.%s.queue" % method, queue_across)

        def dict_across():
            d = m.dict(n=1)
            p = run(_child_dict, d)
            p.join(30)
            eq(p.exitcode, 0)
            eq(d["child"], p.pid)
            eq(d["n"], 2)
        check("procs.%s.dict" % method, dict_across)


# ---------------------------------------------------------------- protocol details

def g_protocol(m):
    d = m.dict()
    check("proto.not_exposed", lambda: raises(RemoteError, d._callmethod, "nope"))
    check("proto.repr_fallback", lambda: eq(d._callmethod("__repr__"), "{}"))
    check("proto.str_fallback", lambda: eq(d._callmethod("__str__"), "{}"))
    check("proto.number_of_objects", lambda: eq(type(m._number_of_objects()), int))
    check("proto.debug_info", lambda: eq(type(m._debug_info()), str))

    def get_methods():
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            got = managers.dispatch(conn, None, "get_methods", (d._token,))
        finally:
            conn.close()
        eq("__getitem__" in got and "keys" in got, True)
    check("proto.get_methods", get_methods)

    def unknown_public():
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            raises(RemoteError, managers.dispatch, conn, None, "no_such_call")
        finally:
            conn.close()
    check("proto.unknown_public", unknown_public)

    def unknown_typeid():
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            raises(RemoteError, managers.dispatch, conn, None, "create", ("NoSuchType",))
        finally:
            conn.close()
    check("proto.unknown_typeid", unknown_typeid)

    def bad_ident():
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            raises(RemoteError, managers.dispatch, conn, None, "incref", ("nosuchid",))
        finally:
            conn.close()
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            raises(RemoteError, managers.dispatch, conn, None, "decref", ("nosuchid",))
        finally:
            conn.close()
    check("proto.unknown_ident", bad_ident)

    def released():
        x = m.list([1])
        tok = x._token
        x._close()  # drop our reference: the referent goes away
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            raises(RemoteError, managers.dispatch, conn, None, "incref", (tok.id,))
        finally:
            conn.close()
    check("proto.released_object", released)


GROUPS = ["dict", "list", "nested", "simple", "sync", "procs", "protocol"]


def main():
    address = parse_address(sys.argv[1])
    authkey = bytes.fromhex(sys.argv[2])
    groups = sys.argv[3:] or GROUPS
    # Nested proxies and proxies rebuilt in children authenticate with the
    # process authkey (a CPython property, python-wire.md §2.4).
    multiprocessing.current_process().authkey = authkey
    m = connect(address, authkey)
    for g in groups:
        if g == "dict":
            g_dict(m)
        elif g == "list":
            g_list(m)
        elif g == "nested":
            g_nested(m)
        elif g == "simple":
            g_simple(m)
        elif g == "sync":
            g_sync(m)
        elif g == "procs":
            g_procs(m, authkey)
        elif g == "protocol":
            g_protocol(m)
        else:
            raise SystemExit("unknown group " + g)
    print("checks: %d passed, %d failed" % (PASSED, len(FAILED)), flush=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
