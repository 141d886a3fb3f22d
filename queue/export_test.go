package queue

import "sync/atomic"

// Sleepers reports how many processes are registered as asleep on q's
// events: consumers waiting for items, producers waiting for room, and
// joiners. Tests use it to wait until another process is blocked.
func Sleepers[T any](q *Queue[T]) (consumers, producers, joiners int) {
	r := q.b.r
	return int(atomic.LoadUint32(r.notEmpty.sleepers)), int(atomic.LoadUint32(r.notFull.sleepers)),
		int(atomic.LoadUint32(r.allDone.sleepers))
}
