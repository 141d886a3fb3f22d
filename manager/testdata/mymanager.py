# Custom types (BaseManager.register) served by the Go server: the checks of
# CPython's _TestMyManager.common, plus method_to_typeid and
# create_method=False, from an unmodified Python client.
#
#   python3 mymanager.py ADDRESS AUTHKEY_HEX
import sys
import multiprocessing
from multiprocessing.managers import BaseManager, BaseProxy, RemoteError


class IteratorProxy(BaseProxy):
    _exposed_ = ('__next__',)

    def __iter__(self):
        return self

    def __next__(self):
        return self._callmethod('__next__')


class MyManager(BaseManager):
    pass


MyManager.register('Foo')
MyManager.register('Bar', exposed=('f', '_h'))
MyManager.register('baz', proxytype=IteratorProxy)
MyManager.register('Counter')
MyManager.register('Child', create_method=False)


def parse_address(s):
    if "/" in s:
        return s
    host, _, port = s.rpartition(":")
    return (host, int(port))


def main():
    address = parse_address(sys.argv[1])
    authkey = bytes.fromhex(sys.argv[2])
    multiprocessing.current_process().authkey = authkey
    manager = MyManager(address=address, authkey=authkey)
    manager.connect()

    # _TestMyManager.common
    foo = manager.Foo()
    bar = manager.Bar()
    baz = manager.baz()
    foo_methods = [name for name in ('f', 'g', '_h') if hasattr(foo, name)]
    bar_methods = [name for name in ('f', 'g', '_h') if hasattr(bar, name)]
    assert foo_methods == ['f', 'g'], foo_methods
    assert bar_methods == ['f', '_h'], bar_methods
    assert foo.f() == 'f()'
    try:
        foo.g()
    except ValueError:
        pass
    else:
        raise AssertionError("foo.g() did not raise ValueError")
    assert foo._callmethod('f') == 'f()'
    try:
        foo._callmethod('_h')
    except RemoteError:
        pass
    else:
        raise AssertionError("foo._h is exposed")
    assert bar.f() == 'f()'
    assert bar._h() == '_h()'
    assert bar._callmethod('f') == 'f()'
    assert bar._callmethod('_h') == '_h()'
    assert list(baz) == [i * i for i in range(10)]

    # method_to_typeid: Counter.child() returns a proxy for a new Child.
    c = manager.Counter(5)
    c.incr()
    c.incr(n=2)
    assert c.value() == 8, c.value()
    child = c.child()
    assert type(child).__name__.startswith("AutoProxy"), type(child)
    assert child.value() == 8
    c.incr()
    assert child.value() == 8 and c.value() == 9
    assert str(c) == "Counter(9)", str(c)
    assert c._getvalue() == 9
    try:
        manager._create('Child')
    except RemoteError:
        pass
    else:
        raise AssertionError("created a Child directly")
    del foo, bar, baz, c, child
    import gc
    gc.collect()
    print("mymanager: ok", flush=True)


if __name__ == "__main__":
    main()
