# The server side of custom types (BaseManager.register) as an unmodified
# CPython client sees it: exposed and hidden methods, method_to_typeid,
# create_method=False, get_methods, exceptions raised by methods,
# _getvalue() of an object that cannot be pickled, the str/repr fallbacks,
# incref/decref of unknown ids, number_of_objects, debug_info, create with
# wrong arguments, keyword arguments, and the xmlrpclib serializer.
#
#   python3 custom_semantics.py serve ADDRESS AUTHKEY_HEX SERIALIZER
#       a CPython server with the same types as the Go test registry
#       (customSemanticsRegistry in custom_semantics_test.go); it prints
#       "ADDRESS addr" and serves until killed. The checks below are run
#       against it too, so that they state CPython's behaviour.
#   python3 custom_semantics.py check ADDRESS AUTHKEY_HEX SERIALIZER
#       the checks; "checks: N passed, M failed", exit 1 if any failed.
import sys
import re
import threading
import traceback
import queue
import multiprocessing
from multiprocessing.managers import BaseManager, RemoteError, dispatch

PASSED = 0
FAILED = []


def check(name, fn):
    global PASSED
    try:
        fn()
    except Exception:
        FAILED.append(name)
        print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", "\n    ")), flush=True)
    else:
        PASSED += 1


def eq(got, want):
    if got != want:
        raise AssertionError("got %r, want %r" % (got, want))


def raises(exc, fn, *args, **kwds):
    try:
        fn(*args, **kwds)
    except exc as e:
        if type(e) is not exc:
            raise AssertionError("raised %r, want exactly %s" % (e, exc))
        return e
    except Exception as e:
        raise AssertionError("raised %r, want %s" % (e, exc))
    raise AssertionError("did not raise %s" % (exc,))


def last_line(e):
    """The exception line ending a RemoteError's traceback."""
    return str(e.args[0]).rstrip("\n").rsplit("\n", 1)[-1]


def remote(line_re, fn, *args, **kwds):
    """fn raises RemoteError whose traceback ends with a line matching
    line_re; returns the traceback text."""
    e = raises(RemoteError, fn, *args, **kwds)
    if not re.fullmatch(line_re, last_line(e)):
        raise AssertionError("traceback ends %r, want /%s/" % (last_line(e), line_re))
    return str(e.args[0])


# ------------------------------------------------------- the served types

class Store(object):
    def __init__(self, name=""):
        self.name = name
        self.d = {}

    def put(self, key, value=None):
        self.d[key] = value

    def get(self, key):
        return self.d[key]

    def echo(self, a, b=2, c=3):
        return [a, b, c]

    def fail(self, kind):
        raise {
            "value": ValueError("bad value"),
            "type": TypeError("bad type"),
            "key": KeyError("k"),
            "index": IndexError("i"),
            "zero": ZeroDivisionError("division by zero"),
            "runtime": RuntimeError("r", 2),
            "empty": queue.Empty(),
            "none": ValueError(),
        }[kind]

    def sub(self):
        return self.name

    def _hidden(self):
        return "hidden"

    def __str__(self):
        return "Store(%s)" % self.name

    def __repr__(self):
        return "<Store %s>" % self.name


class Sub(object):
    def __init__(self, value):
        self._value = value

    def value(self):
        return self._value


class Opaque(object):
    def __init__(self):
        self.lock = threading.Lock()

    def ping(self):
        return "pong"


class Pair(object):
    def __init__(self, a, b):
        self.a, self.b = a, b

    def sum(self):
        return self.a + self.b


class ServerManager(BaseManager):
    pass


ServerManager.register("Store", Store, method_to_typeid={"sub": "Sub"})
ServerManager.register("Sub", Sub, create_method=False)
ServerManager.register("Opaque", Opaque)
ServerManager.register("Pair", Pair)
ServerManager.register("Raw", create_method=False)


class ClientManager(BaseManager):
    pass


ClientManager.register("Store")
ClientManager.register("Sub", create_method=False)
ClientManager.register("Opaque")
ClientManager.register("Pair")
ClientManager.register("Raw", create_method=False)


def parse_address(s):
    if "/" in s:
        return s
    host, _, port = s.rpartition(":")
    return (host, int(port))


def serve(address, authkey, serializer):
    m = ServerManager(address=address, authkey=authkey, serializer=serializer)
    server = m.get_server()
    a = server.address
    if isinstance(a, tuple):
        a = "%s:%d" % a
    print("ADDRESS", a, flush=True)
    server.serve_forever()


# ------------------------------------------------------------ the checks

def public(m, name, *args):
    conn = m._Client(m._address, authkey=m._authkey)
    try:
        return dispatch(conn, None, name, args)
    finally:
        conn.close()


def g_methods(m):
    s = m.Store("s")
    check("exposed.default_public_methods_then_method_to_typeid",
          lambda: eq(sorted(s._exposed_), ["echo", "fail", "get", "put", "sub", "sub"]))
    check("exposed.get_methods", lambda: eq(sorted(public(m, "get_methods", s._token)), ["echo", "fail", "get", "put", "sub"]))
    check("exposed.put_get", lambda: (eq(s.put("a", 1), None), eq(s.get("a"), 1)))
    check("kwargs.put", lambda: (s.put(key="b", value=[1, (2, 3)]), eq(s.get(key="b"), [1, (2, 3)]), s.put("c"), eq(s.get("c"), None)))
    check("kwargs.echo", lambda: (eq(s.echo(1), [1, 2, 3]), eq(s.echo(1, c=9), [1, 2, 9]), eq(s.echo(c=0, a="x", b=None), ["x", None, 0])))
    check("kwargs.echo.missing", lambda: eq(bool(re.search(r"echo\(\) missing 1 required positional argument: 'a'$", str(raises(TypeError, s.echo)))), True))
    check("kwargs.echo.unexpected", lambda: eq(bool(re.search(r"echo\(\) got an unexpected keyword argument 'z'$", str(raises(TypeError, s.echo, 1, z=1)))), True))
    check("kwargs.echo.multiple", lambda: eq(bool(re.search(r"echo\(\) got multiple values for argument 'a'$", str(raises(TypeError, s.echo, 1, a=1)))), True))
    check("kwargs.echo.too_many", lambda: eq(bool(re.search(r"echo\(\) takes from 2 to 4 positional arguments but 5 were given$", str(raises(TypeError, s.echo, 1, 2, 3, 4)))), True))
    check("error.keyerror", lambda: eq(raises(KeyError, s.get, "zz").args, ("zz",)))
    for kind, exc, args in [("value", ValueError, ("bad value",)), ("type", TypeError, ("bad type",)),
                            ("key", KeyError, ("k",)), ("index", IndexError, ("i",)),
                            ("zero", ZeroDivisionError, ("division by zero",)), ("runtime", RuntimeError, ("r", 2)),
                            ("empty", queue.Empty, ()), ("none", ValueError, ())]:
        check("error." + kind, lambda kind=kind, exc=exc, args=args: eq(raises(exc, s.fail, kind).args, args))
    check("error.proxy_still_works", lambda: eq(s.get("a"), 1))

    # Not exposed: the proxy has no such method, and calling it by name is
    # the server's AttributeError, then (no fallback of that name) KeyError.
    check("hidden.no_proxy_method", lambda: (eq(hasattr(s, "_hidden"), False), eq(hasattr(s, "nothere"), False)))
    for name in ("_hidden", "nothere"):
        def not_exposed(name=name):
            tb = remote(r"KeyError: '%s'" % name, s._callmethod, name)
            pat = r"AttributeError: method '%s' of <class '[\w.]*Store'> object is not in exposed=\{('\w+'(, )?){5}\}" % name
            if not re.search(pat, tb):
                raise AssertionError("no /%s/ in %r" % (pat, tb))
            for want in ("'echo'", "'fail'", "'get'", "'put'", "'sub'"):
                if want not in tb.split("exposed=", 1)[1].split("\n", 1)[0]:
                    raise AssertionError("%s not listed as exposed in %r" % (want, tb))
        check("hidden.callmethod." + name, not_exposed)

    # method_to_typeid: a proxy for a new Sub made from the result.
    def mtt():
        child = s.sub()
        eq(type(child).__name__, "AutoProxy[Sub]")
        eq(child._token.typeid, "Sub")
        eq(child._exposed_, ("value",))
        eq(child.value(), "s")
        eq(str(child)[:1], "<")
        del child
    check("method_to_typeid.proxy", mtt)

    # str(proxy) is the referent's repr (BaseProxy.__str__ calls
    # '__repr__'); '__str__' is the server's fallback_str.
    check("fallback.str", lambda: (eq(str(s), "<Store s>"), eq(s._callmethod("__str__"), "Store(s)")))
    check("fallback.repr", lambda: eq(s._callmethod("__repr__"), "<Store s>"))
    check("fallback.repr.local", lambda: eq(bool(re.fullmatch(r"<AutoProxy\[Store\] object, typeid 'Store' at 0x[0-9a-f]+>", repr(s))), True))
    o = m.Opaque()
    check("opaque.ping", lambda: eq(o.ping(), "pong"))
    check("opaque.str", lambda: eq(bool(re.fullmatch(r"<([\w.]+\.)?Opaque object at 0x[0-9a-f]+>", o._callmethod("__str__"))), True))
    check("opaque.repr", lambda: eq(bool(re.fullmatch(r"<([\w.]+\.)?Opaque object at 0x[0-9a-f]+>", o._callmethod("__repr__"))), True))

    def opaque_getvalue():
        e = raises(RemoteError, o._getvalue)
        text = str(e.args[0])
        if not text.startswith("Unserializable message: Traceback (most recent call last):\n"):
            raise AssertionError(text)
        if not re.search(r"\nTypeError: (cannot pickle '[\w.]+' object|can't pickle [\w.]+ objects)\n$", text):
            raise AssertionError(text)
    check("opaque.getvalue_unserializable", opaque_getvalue)
    check("opaque.works_after", lambda: eq(o.ping(), "pong"))
    del s, o


def g_create(m):
    check("create.kwargs", lambda: eq(m.Pair(a=1, b=2).sum(), 3))
    check("create.positional", lambda: eq(m.Pair("x", "y").sum(), "xy"))
    check("create.missing", lambda: remote(r"TypeError: (\w+\.)?__init__\(\) missing 1 required positional argument: 'b'", m.Pair, 1))
    check("create.too_many", lambda: remote(r"TypeError: (\w+\.)?__init__\(\) takes 3 positional arguments but 4 were given", m.Pair, 1, 2, 3))
    check("create.unexpected", lambda: remote(r"TypeError: (\w+\.)?__init__\(\) got an unexpected keyword argument 'c'", m.Pair, 1, c=2))
    check("create.unknown_typeid", lambda: remote(r"KeyError: 'NoSuchType'", m._create, "NoSuchType"))
    check("create_method_false", lambda: (eq(hasattr(m, "Sub"), False), eq(hasattr(m, "Raw"), False), eq(hasattr(m, "Store"), True)))

    def create_hidden():
        # create_method=False only hides the manager's method: the server
        # still creates the type by name.
        tok, exp = m._create("Sub", 7)
        eq(tok.typeid, "Sub")
        eq(exp, ("value",))
        eq(public(m, "decref", tok.id), None)
    check("create_method_false.server_creates", create_hidden)
    check("create.no_callable", lambda: remote(r"ValueError: Without callable, must have one non-keyword argument", m._create, "Raw"))
    check("create.no_callable.kwargs", lambda: remote(r"ValueError: Without callable, must have one non-keyword argument", m._create, "Raw", x=1))


def g_refs(m):
    for name in ("incref", "decref"):
        check(name + ".unknown", lambda name=name: remote(r"KeyError: 'nope'", public, m, name, "nope"))
        check(name + ".missing_arg", lambda name=name: remote(r"TypeError: (\w+\.)?%s\(\) missing 1 required positional argument: 'ident'" % name, public, m, name))
        check(name + ".too_many", lambda name=name: remote(r"TypeError: (\w+\.)?%s\(\) takes 3 positional arguments but 4 were given" % name, public, m, name, "a", "b"))

    def counts():
        n0 = public(m, "number_of_objects")
        tok, exp = m._create("Store", "dbg")
        tok2, _ = m._create("Store", "y" * 100)
        eq(public(m, "number_of_objects"), n0 + 2)
        eq(public(m, "incref", tok.id), None)
        info = public(m, "debug_info")
        eq(type(info), str)
        entries = info.split("\n")
        eq(len(entries) % 2, 0)
        for i in range(0, len(entries), 2):
            if not re.fullmatch(r"  [0-9a-f]+:       refcount=\d+", entries[i]) or not entries[i + 1].startswith("    "):
                raise AssertionError("debug_info entry %r" % entries[i:i + 2])
        ids = [entries[i].split(":")[0].strip() for i in range(0, len(entries), 2)]
        eq(ids, sorted(ids))
        i = entries.index("  %s:       refcount=2" % tok.id)
        eq(entries[i + 1], "    Store(dbg)")
        i = entries.index("  %s:       refcount=1" % tok2.id)
        eq(entries[i + 1], "    " + ("Store(" + "y" * 100)[:75])
        for t in (tok, tok, tok2):
            eq(public(m, "decref", t.id), None)
        eq(public(m, "number_of_objects"), n0)
        remote(r"KeyError: '%s'" % tok.id, public, m, "decref", tok.id)
        remote(r"KeyError: '%s'" % tok.id, public, m, "incref", tok.id)
        remote(r"KeyError: '%s'" % tok.id, public, m, "get_methods", tok)
    check("refs.number_of_objects.debug_info", counts)
    def first_request_ident_ignored():
        # Server._handle_request: "ignore, funcname, args, kwds = request".
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            conn.send(("someid", "number_of_objects", (), {}))
            kind, result = conn.recv()
            eq((kind, type(result)), ("#RETURN", int))
        finally:
            conn.close()
        conn = m._Client(m._address, authkey=m._authkey)
        try:
            conn.send(("someid", "put", (), {}))
            kind, result = conn.recv()
            eq(kind, "#TRACEBACK")
            eq(result.rstrip("\n").rsplit("\n", 1)[-1], "AssertionError: 'put' unrecognized")
        finally:
            conn.close()
    check("public.first_request_ident_ignored", first_request_ident_ignored)
    check("public.unrecognized", lambda: remote(r"AssertionError: 'nosuch' unrecognized", public, m, "nosuch"))
    check("public.number_of_objects.args", lambda: remote(r"TypeError: (\w+\.)?number_of_objects\(\) takes 2 positional arguments but 3 were given", public, m, "number_of_objects", 1))


def g_xmlrpc(m):
    # The xmlrpclib serializer: plain values round trip; what XML-RPC
    # cannot carry (exceptions, tokens) arrives as CPython sends it.
    s = m.Store("x")
    check("xml.exposed", lambda: eq(sorted(s._exposed_), ["echo", "fail", "get", "put", "sub", "sub"]))
    check("xml.put_get", lambda: (s.put("a", [1, "b", 2.5]), eq(s.get("a"), [1, "b", 2.5])))
    check("xml.kwargs", lambda: eq(s.echo(1, c=9), [1, 2, 9]))
    check("xml.str", lambda: (eq(str(s), "<Store x>"), eq(s._callmethod("__str__"), "Store(x)")))

    # An exception instance is marshalled as the struct of its __dict__:
    # the client gets ('#ERROR', {}) and raises {} (a TypeError).
    def xml_error():
        e = raises(TypeError, s.get, "zz")
        eq(str(e), "exceptions must derive from BaseException")
    check("xml.error", xml_error)
    check("xml.proxy_unserializable", lambda: remote(r"TypeError: cannot marshal <class '[\w.]*Token'> objects", s.sub))
    check("xml.create_error", lambda: remote(r"TypeError: (\w+\.)?__init__\(\) missing 1 required positional argument: 'b'", m.Pair, 1))
    check("xml.incref_unknown", lambda: remote(r"KeyError: 'nope'", public, m, "incref", "nope"))
    check("xml.number_of_objects", lambda: eq(type(public(m, "number_of_objects")), int))
    check("xml.hidden", lambda: remote(r"KeyError: '_hidden'", s._callmethod, "_hidden"))
    del s


def main():
    mode, address, authkey, serializer = sys.argv[1], parse_address(sys.argv[2]), bytes.fromhex(sys.argv[3]), sys.argv[4]
    multiprocessing.current_process().authkey = authkey
    if mode == "serve":
        serve(address, authkey, serializer)
        return
    m = ClientManager(address=address, authkey=authkey, serializer=serializer)
    m.connect()
    groups = [g_methods, g_create, g_refs] if serializer == "pickle" else [g_xmlrpc]
    for g in groups:
        g(m)
    import gc
    gc.collect()
    print("checks: %d passed, %d failed" % (PASSED, len(FAILED)), flush=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
