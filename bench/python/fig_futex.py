"""futex/ figures: the cross-process wake-up round trip.

Python has no futex API; the nearest is a pair of multiprocessing.Semaphores
(POSIX semaphores, themselves futexes): the parent releases one, the child
acquires it and releases the other, ops times.
"""

import multiprocessing as mp

import common


def _echo(i, ping, pong, ops):
    def run():
        for _ in range(ops):
            ping.acquire()
            pong.release()
    return run


def wake_rtt(a):
    ping, pong = mp.Semaphore(0), mp.Semaphore(0)

    def parent():
        for _ in range(a.ops):
            ping.release()
            pong.acquire()
    return common.team(1, _echo, (ping, pong, a.ops), parent)


if __name__ == "__main__":
    common.main({"futex/wake-rtt": wake_rtt})
