"""Golden-test peer for mproc/pickle (see golden_test.go).

One process per interpreter:
 1. prints {"version", "highest"} and then, for every corpus value and every
    protocol this Python has, {"name", "proto", "data": base64 pickle};
    then {"end": true};
 2. reads the Go side's records from stdin until EOF, each
    {"name", "src", "proto", "data"}: a corpus value re-encoded by Go (or a
    "go:" value built in Go), loads each and compares it with the expected
    value, and prints {"name", "src", "proto", "ok", "error"} per record.

Runs on Python 3.6+.
"""
import base64
import collections
import datetime
import decimal
import json
import math
import pickle
import sys
import types
from multiprocessing.managers import Namespace, Token


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return type(other) is Point and self.__dict__ == other.__dict__


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __eq__(self, other):
        return type(other) is Slotted and (self.a, self.b) == (other.a, other.b)


class WithNew:
    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        return obj

    def __getnewargs_ex__(self):
        return self.args, self.kwargs

    def __eq__(self, other):
        return type(other) is WithNew and (self.args, self.kwargs) == (other.args, other.kwargs)


class Outer:
    class Inner:
        pass


def corpus():
    c = collections.OrderedDict()
    c["none"] = None
    c["true"] = True
    c["false"] = False
    for i, n in enumerate([0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31,
                           2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, 2**100, -2**100,
                           2**3000, -(2**3000), -256, -255, 128, -128, -129]):
        c["int%d" % i] = n
    for i, f in enumerate([0.0, -0.0, 1.5, 1e300, 1e-300, float("inf"), float("-inf"),
                           float("nan"), 0.1, 5e-324, 123456789.0, 1e16]):
        c["float%d" % i] = f
    c["complex0"] = 1 + 2j
    c["complex1"] = complex(1.5, 0.0)
    c["str_empty"] = ""
    c["str_ascii"] = "ascii"
    c["str_latin"] = "\u00fcn\u00efc\u00f6d\u00e9"
    c["str_cjk"] = "\u65e5\u672c\u8a9e"
    c["str_astral"] = "smile \U0001F600 \U00010348"
    c["str_escapes"] = "back\\slash\nnew\rline\x00nul\x1aeof \\u0041 \\U0001F600"
    c["str_300"] = "x" * 300
    c["bigstr"] = "y" * 70000
    c["bytes_empty"] = b""
    c["bytes_bin"] = b"\x00\xff\x80abc"
    c["bytes_300"] = bytes(range(256)) + b"z" * 44
    c["bigbytes"] = bytes(range(256)) * 280
    c["bytearray_empty"] = bytearray()
    c["bytearray"] = bytearray(b"abc\x00\xff")
    c["tuple0"] = ()
    c["tuple1"] = (1,)
    c["tuple2"] = (1, "a")
    c["tuple3"] = (1, "a", None)
    c["tuple4"] = (1, 2, 3, 4)
    c["tuple_nested"] = ((1, (2, (3, ()))), [()])
    c["list_empty"] = []
    c["list"] = [1, "a", None, 2.5, b"b"]
    c["list_2500"] = list(range(2500))
    c["list_nested"] = [[1], [2, [3, []]]]
    c["dict_empty"] = {}
    c["dict"] = {"a": 1, "b": [2, 3]}
    c["dict_keys"] = {1: "one", 2.5: "float", (1, 2): "tuple", frozenset({1, 2}): "fs",
                      None: "none", b"b": "bytes", "b": "str", False: "bool", -2**70: "big"}
    c["dict_collide"] = {1: "a", 1.0: "b", True: "c"}
    c["dict_1500"] = {str(i): i for i in range(1500)}
    c["set_empty"] = set()
    c["set"] = {1, 2, 3}
    c["set_mixed"] = {"a", (1, 2), frozenset({3}), b"a", 2.5}
    c["frozenset_empty"] = frozenset()
    c["frozenset"] = frozenset({1, 2})
    c["frozenset_nested"] = frozenset({(1, 2), "x", frozenset({4})})
    x = [1, 2]
    c["shared"] = (x, x, [x])
    s = "shared-string-value"
    c["shared_str"] = [s, s, (s, s)]
    l = [1]
    l.append(l)
    c["selfref"] = l
    d = {}
    d["self"] = d
    c["selfref_dict"] = d
    inner = []
    t = (inner,)
    inner.append(t)
    c["recursive_tuple"] = t
    c["datetime"] = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
    c["datetime_tz"] = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
    c["date"] = datetime.date(2024, 2, 29)
    c["time"] = datetime.time(1, 2, 3, 4)
    c["timedelta"] = datetime.timedelta(days=1, seconds=2, microseconds=3)
    c["decimal"] = decimal.Decimal("1.50")
    c["keyerror"] = KeyError("k")
    c["valueerror"] = ValueError("bad", 2)
    c["stopiteration"] = StopIteration()
    c["token"] = Token("dict", ("127.0.0.1", 5000), "7f00")
    c["ordereddict"] = collections.OrderedDict([(1, 2), ("a", [3])])
    c["deque"] = collections.deque([1, 2, 3])
    c["point"] = Point(1, [2, "x"])
    c["slotted"] = Slotted(1, (2,))
    c["withnew"] = WithNew(1, k=2)
    c["namespace"] = Namespace(a=1, b="x")
    c["simplenamespace"] = types.SimpleNamespace(a=1)
    c["global_int"] = int
    c["global_len"] = len
    c["global_point"] = Point
    c["global_nested"] = Outer.Inner
    c["global_od"] = collections.OrderedDict
    c["slice"] = slice(1, 10, 2)
    c["range"] = range(0, 10, 2)
    c["request"] = (None, "create", ("dict",), {})
    c["request2"] = ("7f00", "__setitem__", ("a", 1), {"k": 2})
    c["reply_error"] = ("#ERROR", KeyError("k"))
    c["reply_proxy"] = ("#PROXY", (("get", "set"), Token("Iterator", ("localhost", 1), "7f01")))
    nest = []
    for _ in range(100):
        nest = [nest]
    c["deep100"] = nest
    c["mixed"] = {"list": [1, 2.5, "x", b"y", None, True], "tuple": (1, (2, 3)), "set": {1, 2}}
    return c


def go_expected():
    e = collections.OrderedDict()
    e["token"] = Token("dict", ("127.0.0.1", 5000), "abc")
    e["token_reduce"] = Token("dict", ("127.0.0.1", 5000), "abc")
    e["keyerror"] = KeyError("k")
    e["struct"] = {"name": "x", "Age": 3, "Tags": ["a", "b"], "Inner": {"V": 1.5}}
    e["map"] = {"a": 1, "b": 2}
    e["request"] = (None, "create", ("dict",), {})
    e["dictkeys"] = {1: "a", 2.5: "b", (1, 2): "c", frozenset({1, 2}): "d", "s": "e", b"s": "f"}
    e["set"] = {1, "a"}
    e["frozenset"] = frozenset({1, (2, 3)})
    l = [1]
    l.append(l)
    e["cycle"] = l
    x = [1]
    e["sharedslice"] = (x, x)
    e["nodecycle"] = None  # checked structurally
    e["array"] = (1, 2, 3)
    e["bytesarr"] = b"\x01\x02\x03\x04"
    e["maxuint64"] = 2**64 - 1
    e["bigneg"] = -(2**200)
    e["globals"] = [collections.OrderedDict, Outer.Inner, KeyError]
    e["complex"] = 1 - 2j
    e["floats"] = [float("inf"), -0.0, 1e-310]
    e["timedelta"] = datetime.timedelta(1, 2, 3)
    inner = []
    t = (inner,)
    inner.append(t)
    e["rectuple"] = t
    e["bytearray"] = bytearray(b"\x00ab")
    e["bytes"] = b"\x00ab"
    e["ordereddict"] = collections.OrderedDict([("a", 1), ("b", 2)])
    e["simplenamespace"] = types.SimpleNamespace(a=1)
    e["str"] = "h\u00e9 \U0001F600 \\ \n"
    e["nil"] = None
    e["emptyslice"] = []
    e["nilslice"] = None
    e["manyints"] = [i * 1000 for i in range(15000)]
    return e


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple, collections.deque)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        ka, kb = list(a.keys()), list(b.keys())
        return (len(ka) == len(kb) and all(same(x, y) for x, y in zip(ka, kb))
                and all(same(a[k], b[k]) for k in ka))
    if isinstance(a, (set, frozenset)):
        return a == b and sorted(map(repr, a)) == sorted(map(repr, b))
    if isinstance(a, BaseException):
        return same(a.args, b.args) and same(a.__dict__, b.__dict__)
    if isinstance(a, Token):
        return same((a.typeid, a.address, a.id), (b.typeid, b.address, b.id))
    if isinstance(a, Namespace):
        return same(a.__dict__, b.__dict__)
    return a == b


def check(name, want, got):
    """Returns an error string, or '' when got matches want."""
    if name in ("selfref", "go:cycle"):
        ok = type(got) is list and len(got) == 2 and got[0] == 1 and got[1] is got
    elif name == "selfref_dict":
        ok = type(got) is dict and list(got) == ["self"] and got["self"] is got
    elif name in ("recursive_tuple", "go:rectuple"):
        ok = (type(got) is tuple and len(got) == 1 and type(got[0]) is list
              and len(got[0]) == 1 and got[0][0] is got)
    elif name == "shared":
        ok = same(want, got) and got[0] is got[1] and got[2][0] is got[0]
    elif name == "go:sharedslice":
        ok = same(want, got) and got[0] is got[1]
    elif name == "go:nodecycle":
        ok = type(got) is dict and got.get("Name") == "a" and got.get("Next") is got
    else:
        ok = same(want, got)
    return "" if ok else "got %r, want %r" % (got, want)


def main():
    out = sys.stdout
    highest = pickle.HIGHEST_PROTOCOL
    out.write(json.dumps({"version": sys.version.split()[0], "highest": highest}) + "\n")
    c = corpus()
    for name, value in c.items():
        for proto in range(highest + 1):
            try:
                data = pickle.dumps(value, protocol=proto)
            except (TypeError, pickle.PicklingError):
                continue  # e.g. __slots__ classes below protocol 2
            out.write(json.dumps({"name": name, "proto": proto,
                                  "data": base64.b64encode(data).decode()}) + "\n")
    out.write(json.dumps({"end": True}) + "\n")
    out.flush()

    ge = go_expected()
    for line in sys.stdin:
        rec = json.loads(line)
        name = rec["name"]
        res = {"name": name, "src": rec.get("src", -1), "proto": rec["proto"], "ok": False, "error": ""}
        try:
            got = pickle.loads(base64.b64decode(rec["data"]))
            if name.startswith("go:"):
                want = ge[name[3:]]
            else:
                want = c[name]
            res["error"] = check(name, want, got)
            res["ok"] = res["error"] == ""
        except Exception as exc:  # report, keep going
            res["error"] = "%s: %s" % (type(exc).__name__, exc)
        out.write(json.dumps(res) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
