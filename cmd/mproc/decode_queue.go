//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

// Queues and their out-of-line items (the queue package), decoded by
// queue.Inspect and queue.InspectBlob.
func init() {
	for _, k := range []shm.Kind{shm.KindQueue, shm.KindSimpleQueue, shm.KindJoinableQueue} {
		setDecoder(k, queue.LayoutVersion, decodeQueue)
	}
	setDecoder(shm.KindBlob, 0, decodeBlob)
}

func decodeQueue(r *shm.Region) (*report, error) {
	st, err := queue.Inspect(r)
	if err != nil {
		return nil, err
	}
	rep := &report{}
	rep.add("length", st.Items)
	if st.MaxSize > 0 {
		rep.add("max_size", st.MaxSize)
	} else {
		rep.add("max_size", "none (the ring's capacity bounds it)")
	}
	rep.add("capacity", fmt.Sprintf("%d bytes", st.Capacity))
	rep.add("bytes_used", st.Used)
	rep.add("closed", st.Closed)
	rep.add("waiting_producers", st.WaitingProducers)
	rep.add("waiting_consumers", st.WaitingConsumers)
	if st.Kind == shm.KindJoinableQueue {
		rep.add("unfinished_tasks", st.Unfinished)
		rep.add("tasks_done", st.TasksDone)
		rep.add("waiting_joiners", st.WaitingJoiners)
	}
	if st.ItemSize > 0 {
		rep.add("items", fmt.Sprintf("%d bytes each", st.ItemSize))
	} else {
		rep.add("items", fmt.Sprintf("of any size; those over %d bytes travel in blob segments", st.MaxInline))
	}
	rep.add("puts", st.Puts)
	rep.add("lost_puts", st.LostPuts)
	rep.add("lost_gets", st.LostGets)
	rep.add("records", recordCounts(st.Records, st.Partial))
	if st.ProducerLock.Pid != 0 {
		rep.add("producer_lock", proc{st.ProducerLock.Pid, st.ProducerLock.Alive})
	}
	if st.ConsumerLock.Pid != 0 {
		rep.add("consumer_lock", proc{st.ConsumerLock.Pid, st.ConsumerLock.Alive})
	}
	if len(st.Stuck) > 0 {
		var stuck []*report
		for _, s := range st.Stuck {
			what := "reserved by a producer that died before publishing it: consumers will skip it as lost"
			if s.State == "claimed" {
				what = "claimed by a consumer that died before finishing: the item is lost, a reaper frees its space"
			}
			stuck = append(stuck, (&report{}).
				add("item", s.Seq).
				add("position", s.Position).
				add("bytes", s.Length).
				add("owner", proc{s.Owner.Pid, s.Owner.Alive}).
				add("state", s.State+": "+what))
		}
		rep.add("stuck", stuck)
	}
	return rep, nil
}

// recordCounts summarises the ring's records: "3 published, 1 reserved".
type recordCountsView struct {
	queue.RecordCounts
	Partial bool
}

func recordCounts(c queue.RecordCounts, partial bool) recordCountsView {
	return recordCountsView{c, partial}
}

func (v recordCountsView) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{
		{v.Published, "published"}, {v.Blobs, "of them in blobs"}, {v.Reserved, "reserved"},
		{v.Claimed, "claimed"}, {v.Done, "done"}, {v.Lost, "lost"}, {v.Pad, "padding"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	s := strings.Join(parts, ", ")
	if s == "" {
		s = "none"
	}
	if v.Partial {
		s += " (walk stopped early: the ring moved, or it is very long)"
	}
	return s
}

func decodeBlob(r *shm.Region) (*report, error) {
	b, err := queue.InspectBlob(r.Bytes())
	if err != nil {
		return nil, err
	}
	rep := (&report{}).add("queue", blobQueue(b)).add("item_bytes", b.Length).add("position", b.Position)
	owner := "exists: the blob is an item waiting in it (clean keeps it)"
	if _, err := os.Lstat(shm.Path(b.Queue.Segment)); err != nil {
		owner = "gone: the blob is a leftover"
	}
	return rep.add("queue_segment", owner), nil
}

// blobQueue names a blob's queue: its handle, or its segment if the
// handle was cut.
func blobQueue(b queue.Blob) string {
	if b.Queue.Kind == shm.KindAny {
		return b.Queue.Segment
	}
	return b.Queue.String()
}

// blobOwner reads the queue segment a blob segment belongs to from its
// file, without mapping it; ok is false if the file is not a readable
// blob.
func blobOwner(name string) (string, bool) {
	f, err := os.Open(shm.Path(name))
	if err != nil {
		return "", false
	}
	defer f.Close()
	buf := make([]byte, 256)
	if _, err := f.ReadAt(buf, shm.HeaderSize); err != nil {
		return "", false
	}
	b, err := queue.InspectBlob(buf)
	if err != nil {
		return "", false
	}
	return b.Queue.Segment, true
}
