# CPython's own manager tests (Lib/test/_test_multiprocessing.py) with every
# manager server they start replaced by an mproc server:
#
#   MPROC_SERVER='["/path/to/server", "arg", ...]' python3 cpython_suite.py [--cpython] [TEST_PREFIX ...]
#
# BaseManager._run_server, the function that BaseManager.start runs in the
# manager's child process, is replaced: that child runs the initializer (as
# CPython's server process does), then starts MPROC_SERVER with
# "--address ADDR --authkey-file FILE [--serializer NAME]" appended, reads
# its first line ("serving on ADDR"), hands the address to start() and waits
# for the server to exit (forwarding SIGTERM to it). So multiprocessing.
# Manager(), SyncManager().start(), the custom managers of _TestMyManager and
# the xmlrpclib QueueManager of _TestRemoteManager and _TestManagerRestart all
# talk to the mproc server. The tests, their assertions and their child
# processes are CPython's, unmodified. With --cpython nothing is replaced
# (CPython's own server, for comparison).
#
# Tests run: every WithManager* class (the manager flavour of _TestQueue,
# _TestLock, _TestSemaphore, _TestCondition, _TestEvent, _TestBarrier,
# _TestContainers, _TestPool, _TestMyManager, _TestRemoteManager,
# _TestManagerRestart, ...), TestSyncManagerTypes, TestInitializers and
# TestManagerExceptions (those that exist in this version). Arguments select
# tests whose id (Class.test_name) starts with one of them.
#
# Output: unittest's report, one "LEFT n Class" line for each test class
# whose manager still held objects at tearDownClass (CPython warns about
# these), then "SUITE run=N failures=F errors=E skipped=S" and one
# "FAILED id" line per failure or error.
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

import multiprocessing
from multiprocessing import connection
from multiprocessing.managers import BaseManager

CPYTHON = "--cpython" in sys.argv[1:]
NAMES = [a for a in sys.argv[1:] if not a.startswith("--")]
SERVER = json.loads(os.environ.get("MPROC_SERVER", "null"))
if not CPYTHON and not SERVER:
    sys.exit("cpython_suite.py: set MPROC_SERVER to the server command (a JSON list), or pass --cpython")


def address_arg(address):
    """The server's --address for a Python address (None: a new socket
    path, as Listener picks)."""
    if address is None:
        address = connection.arbitrary_address("AF_UNIX")
    if isinstance(address, tuple):
        return "tcp:%s:%d" % address
    if address.startswith("\0"):
        return "@" + address[1:]
    return "unix:" + address


def python_address(s, like):
    """The address the server printed, in Python's form."""
    for prefix in ("tcp:", "unix:"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    if isinstance(like, tuple):
        host, _, port = s.rpartition(":")
        return (host.strip("[]"), int(port))
    if s.startswith("@"):
        return "\0" + s[1:]
    return s


def _set_pdeathsig():
    # The server dies with the manager process that started it.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _run_server(cls, registry, address, authkey, serializer, writer,
                initializer=None, initargs=()):
    """BaseManager._run_server, in the manager process: run the mproc
    server instead of multiprocessing.managers.Server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
    fd, keyfile = tempfile.mkstemp(prefix="mproc-authkey-")
    try:
        os.write(fd, bytes(authkey))
        os.close(fd)
        args = ["--address", address_arg(address), "--authkey-file", keyfile]
        if serializer != "pickle":
            args += ["--serializer", serializer]
        proc = subprocess.Popen(SERVER + args, stdout=subprocess.PIPE,
                                preexec_fn=_set_pdeathsig)
        line = proc.stdout.readline().decode()
    finally:
        os.unlink(keyfile)
    if not line.startswith("serving on "):
        proc.kill()
        raise RuntimeError("mproc server did not start: %r" % line)
    addr = python_address(line[len("serving on "):].strip(),
                          address if address is not None else "")
    writer.send(addr)
    writer.close()
    terminated = []

    def forward(signum, frame):
        terminated.append(signum)
        proc.send_signal(signum)
    signal.signal(signal.SIGTERM, forward)
    rc = proc.wait()
    proc.stdout.close()
    if terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    sys.exit(0 if rc == 0 else 1)


if not CPYTHON:
    BaseManager._run_server = classmethod(_run_server)

import test._test_multiprocessing as tm  # noqa: E402

# A setUpClass that fails after starting the class's manager (_TestPool's
# makes a managed Pool, which needs Python code in the server) skips
# tearDownClass: shut that manager down, or it lingers and every later
# tearDownClass waits for it.
def guard_set_up(cls):
    set_up = cls.setUpClass

    def setUpClass(klass):
        try:
            set_up()
        except BaseException:
            m = getattr(klass, "manager", None)
            if m is not None:
                m.shutdown()
                m.join()
                klass.manager = None
            raise
    cls.setUpClass = classmethod(setUpClass)


# Report the objects a test class left in its manager (CPython's
# tearDownClass only warns).
_tear_down = tm.ManagerMixin.tearDownClass.__func__


def _tear_down_class(cls):
    gc.collect()
    try:
        left = cls.manager._number_of_objects()
        if left:
            print("LEFT %d %s\n%s" % (left, cls.__name__, cls.manager._debug_info()), flush=True)
    except Exception as e:
        print("LEFT ? %s: %r" % (cls.__name__, e), flush=True)
    _tear_down(cls)


tm.ManagerMixin.tearDownClass = classmethod(_tear_down_class)

OTHERS = {"TestSyncManagerTypes", "TestInitializers", "TestManagerExceptions"}

globs = {"__name__": "mproc_cpython_suite"}
tm.install_tests_in_module_dict(globs, "fork")
loader = unittest.TestLoader()
suite = unittest.TestSuite()


def selected(test_id):
    return not NAMES or any(test_id.startswith(n) for n in NAMES)


for name in sorted(globs):
    cls = globs[name]
    if not isinstance(cls, type) or not (name.startswith("WithManager") or name in OTHERS):
        continue
    if NAMES and not any(name.startswith(n.split(".")[0]) or n.startswith(name) for n in NAMES):
        continue
    if name.startswith("WithManager"):
        guard_set_up(cls)
    tests = loader.loadTestsFromTestCase(cls)
    suite.addTests(t for t in tests if selected(t.id().split(".", 1)[1]))

setup = globs.get("setUpModule")
if setup:
    setup()
try:
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
finally:
    teardown = globs.get("tearDownModule")
    if teardown:
        try:
            teardown()
        except Exception as e:  # the module teardown's own checks
            print("tearDownModule:", e)
print("SUITE run=%d failures=%d errors=%d skipped=%d" % (
    result.testsRun, len(result.failures), len(result.errors), len(result.skipped)), flush=True)
for t, _ in result.failures + result.errors:
    print("FAILED", t.id(), flush=True)
