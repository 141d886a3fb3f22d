"""event/, semaphore/, condition/, barrier/ figures: hand-offs between two
processes through multiprocessing.Event, Semaphore, Condition and Barrier."""

import multiprocessing as mp

import common


def _event_child(i, a, b, ops):
    def run():
        for _ in range(ops):
            a.wait()
            a.clear()
            b.set()
    return run


def event_rtt(args):
    a, b = mp.Event(), mp.Event()

    def parent():
        for _ in range(args.ops):
            a.set()
            b.wait()
            b.clear()
    return common.team(1, _event_child, (a, b, args.ops), parent)


def _sem_child(i, a, b, ops):
    def run():
        for _ in range(ops):
            a.acquire()
            b.release()
    return run


def semaphore_rtt(args):
    a, b = mp.Semaphore(0), mp.Semaphore(0)

    def parent():
        for _ in range(args.ops):
            a.release()
            b.acquire()
    return common.team(1, _sem_child, (a, b, args.ops), parent)


def _cond_child(i, cond, turn, ops):
    def run():
        with cond:
            for _ in range(ops):
                while turn.value != 1:
                    cond.wait()
                turn.value = 0
                cond.notify()
    return run


def condition_rtt(args):
    cond = mp.Condition()
    turn = mp.RawValue("i", 0)

    def parent():
        with cond:
            for _ in range(args.ops):
                turn.value = 1
                cond.notify()
                while turn.value != 0:
                    cond.wait()
    return common.team(1, _cond_child, (cond, turn, args.ops), parent)


def _barrier_child(i, barrier, ops):
    def run():
        for _ in range(ops):
            barrier.wait()
    return run


def barrier_cycle(args):
    barrier = mp.Barrier(args.procs)

    def parent():
        for _ in range(args.ops):
            barrier.wait()
    return common.team(args.procs - 1, _barrier_child, (barrier, args.ops), parent)


if __name__ == "__main__":
    common.main({
        "event/handoff-rtt": event_rtt,
        "semaphore/handoff-rtt": semaphore_rtt,
        "condition/handoff-rtt": condition_rtt,
        "barrier/cycle-2p": barrier_cycle,
    })
