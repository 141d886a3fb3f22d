# A CPython SyncManager server for the reverse interop tests and benchmarks:
#
#   python3 pyserver.py ADDRESS AUTHKEY_HEX
#
# ADDRESS is "host:port" (port 0 picks one) or a Unix socket path. The server
# prints its address as "ADDRESS host:port" or "ADDRESS path" on one line,
# then serves until a shutdown call or SIGTERM.
import sys
import multiprocessing
from multiprocessing.managers import SyncManager


def parse_address(s):
    if "/" in s:
        return s
    host, _, port = s.rpartition(":")
    return (host, int(port))


def main():
    address = parse_address(sys.argv[1])
    authkey = bytes.fromhex(sys.argv[2])
    multiprocessing.current_process().authkey = authkey
    m = SyncManager(address=address, authkey=authkey)
    server = m.get_server()
    a = server.address
    if isinstance(a, tuple):
        a = "%s:%d" % a
    print("ADDRESS", a, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
