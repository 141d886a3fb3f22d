// Package queue provides Python's multiprocessing queues for Go: Queue,
// SimpleQueue and JoinableQueue of any item type T, shared by any number
// of producer and consumer processes (and goroutines), in a ring of shared
// memory with futex wake-ups instead of Python's pipe and feeder thread,
// so items move between processes at memory speed.
//
// # Items
//
// A fixed-size, pointer-free T (numbers, arrays, structs of them) is
// copied as its bytes (RawCodec); a []byte is copied as it is
// (BytesCodec); anything else is pickled (PickleCodec), or goes through a
// Codec of the caller's. Items of all sizes share the ring. An item larger
// than the handle's MaxInline (a quarter of the ring by default) travels
// in a shared-memory segment of its own whose name the ring record
// implies (see blob.go), so no item is too large, whatever the ring's
// size. The queue's header records a fingerprint of the item type and
// codec; opening it with another one fails with ErrType.
//
// The default ring is 4 MiB, so items up to 1 MiB travel in the ring, at
// memory speed, three or four in flight. An out-of-line item costs a
// segment created, populated, mapped twice and removed: about twenty
// times the time of the same item in the ring (and fresh memory for each
// item). For larger items at full speed, give the queue a ring of four or
// more times the item (Config.Capacity).
//
// # Semantics
//
// Put, Get, PutNowait (ErrFull), GetNowait (ErrEmpty), Qsize, Empty, Full,
// Close, TaskDone and Join follow Python's documentation, with contexts
// for timeouts: a passed deadline returns an error matching both the
// Python exception's sentinel (ErrFull, ErrEmpty) and
// context.DeadlineExceeded, and a call that fails changes nothing. Close
// is shared: after it every process's puts fail with ErrClosed, and gets
// drain what was put and then return ErrClosed. Detach unmaps a handle;
// Unlink removes the name.
//
// Items from one producer are taken in the order it put them. A burst of
// puts wakes a sleeping consumer once, and only when one may be asleep
// (no syscall otherwise); waiters spin briefly (adaptively) before they
// sleep. PutMany and GetMany move up to 64 items under one lock and one
// wake-up. For large []byte items, Reserve/Commit writes an item in place
// and GetRef/Release reads it in place: one copy in all, or none; and
// GetAppend takes an item into the caller's buffer, so that a consumer
// that reuses one buffer allocates nothing (a Get must return a new slice
// for each item, which for large items costs the Go allocator and
// collector more than the copy).
//
// # Processes that die
//
// Every put and every get takes effect with one atomic step (layout.go
// argues it word by word):
//
//   - A producer killed before its publish CAS never makes its item
//     visible, torn or whole. The consumer that reaches the item's record
//     finds the producer dead (pid and start time) and skips it: the item
//     is lost and counted in Stats.LostPuts (and, for a JoinableQueue, as
//     done). A producer killed after the publish has put its item.
//   - A consumer killed after claiming an item and before its Get returns
//     (or before Release, for GetRef) loses the item: it is never
//     delivered twice. The record's ring space is reclaimed by whoever
//     next needs room or joins, once it finds the claimer dead; the item
//     counts in Stats.LostGets (and as done).
//   - A process killed while holding one of the two short internal locks
//     is detected by a waiter within about 10 ms, which takes the lock
//     over and repairs the counters the dead holder may have left behind.
//   - An out-of-line item whose producer or consumer died is unlinked by
//     whoever skips or reclaims its record, before it changes the
//     record's state, so that a kill in between leaves no segment behind
//     (the next one to find the record unlinks again). Only a queue
//     removed with out-of-line items still in it leaves their segments,
//     for the shm leak finder.
//
// Dead processes are found by polling (every 20 to 50 ms) only while
// somebody waits on them, so they cost nothing otherwise.
package queue
