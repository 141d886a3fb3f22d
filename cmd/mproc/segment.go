//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mproc/mproc/shm"
)

// Statuses of a segment, as ls prints them.
const (
	statusLive       = "live"       // its creator runs or a live process maps it
	statusStale      = "stale"      // creator dead, mapped by nobody: clean removes it
	statusQueued     = "queued"     // a blob (large queue item) whose queue exists: removed with it
	statusCreating   = "creating"   // unpublished; its creator is still initialising it
	statusIncomplete = "incomplete" // unpublished and its creator died: clean removes it
	statusNotMproc   = "not-mproc"  // the file's header is not mproc's
	statusNewer      = "newer"      // header written by a newer mproc
	statusShort      = "short"      // the file is shorter than its header says
	statusNoAccess   = "no-access"  // this user may not read it
	statusUnreadable = "unreadable" // any other error reading it
)

// status classifies a segment for ls and clean.
func status(i shm.Info) string {
	switch {
	case i.Err == nil && i.Stale() && i.Kind == shm.KindBlob && blobQueued(i.Name):
		return statusQueued
	case i.Err == nil && i.Stale():
		return statusStale
	case i.Err == nil:
		return statusLive
	case errors.Is(i.Err, shm.ErrIncomplete) && (i.CreatorAlive || len(i.MappedBy) > 0):
		return statusCreating
	case errors.Is(i.Err, shm.ErrIncomplete) && i.Creator.Pid != 0:
		return statusIncomplete
	case errors.Is(i.Err, shm.ErrNotMproc) && headerFormat(i.Name) > 1:
		return statusNewer
	case errors.Is(i.Err, shm.ErrNotMproc):
		return statusNotMproc
	case errors.Is(i.Err, shm.ErrShort):
		return statusShort
	case errors.Is(i.Err, shm.ErrPermission):
		return statusNoAccess
	}
	return statusUnreadable
}

// removable reports whether clean removes the segment: a readable mproc
// segment (or one its creator never finished) whose creator is dead and
// that no live process maps. Foreign, unreadable and newer-format files
// are left alone: clean cannot tell whether anybody needs them. A blob (a
// large item of a queue, written by a producer that may have exited
// normally) is kept while its queue exists; see cleanPlan.
func removable(i shm.Info) bool {
	s := status(i)
	return s == statusStale || s == statusIncomplete
}

// blobQueued reports whether the blob segment name belongs to a queue
// segment that exists.
func blobQueued(name string) bool {
	owner, ok := blobOwner(name)
	if !ok {
		return false
	}
	_, err := os.Lstat(shm.Path(owner))
	return err == nil
}

// cleanPlan returns the segments of all whose names match patterns that
// clean removes: the removable ones, and the blobs of queues removed with
// them.
func cleanPlan(all []shm.Info, patterns []string) []shm.Info {
	removing := map[string]bool{}
	for _, i := range all {
		if matchAny(patterns, i.Name) && removable(i) {
			removing[i.Name] = true
		}
	}
	var plan []shm.Info
	for _, i := range all {
		if !matchAny(patterns, i.Name) {
			continue
		}
		if removing[i.Name] || blobOfRemoved(i, removing) {
			plan = append(plan, i)
		}
	}
	return plan
}

// blobOfRemoved reports whether i is a queued blob whose queue is in
// removing.
func blobOfRemoved(i shm.Info, removing map[string]bool) bool {
	if status(i) != statusQueued {
		return false
	}
	owner, ok := blobOwner(i.Name)
	return ok && removing[owner]
}

// creatorKnown reports whether the creator fields of i came from an mproc
// header (a foreign file's bytes there mean nothing).
func creatorKnown(i shm.Info) bool {
	return i.Creator.Pid != 0 && (i.Err == nil || errors.Is(i.Err, shm.ErrIncomplete) || i.Kind != shm.KindAny)
}

// pidState formats a process as "4242 (alive)" or "4242 (dead)".
func pidState(pid int32, alive bool) string {
	if pid == 0 {
		return "none"
	}
	if alive {
		return fmt.Sprintf("%d (alive)", pid)
	}
	return fmt.Sprintf("%d (dead)", pid)
}

// pidList formats pids as "4242,4250", or "-" for none.
func pidList(pids []int) string {
	if len(pids) == 0 {
		return "-"
	}
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// timeText formats a creation time in local time, or "-" if unknown.
func timeText(t time.Time) string {
	if t.IsZero() || t.UnixNano() == 0 {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// segmentJSON is the JSON form of a segment, shared by ls, clean and
// inspect.
type segmentJSON struct {
	Name     string     `json:"name"`
	Path     string     `json:"path"`
	Kind     string     `json:"kind,omitempty"`
	Version  uint32     `json:"version,omitempty"`
	Size     int64      `json:"size"`
	Mode     string     `json:"mode,omitempty"`
	Creator  *processJS `json:"creator,omitempty"`
	MappedBy []int      `json:"mapped_by"`
	Created  *time.Time `json:"created,omitempty"`
	Status   string     `json:"status"`
	Stale    bool       `json:"stale"`
	Error    string     `json:"error,omitempty"`
}

// processJS is a process in JSON: its pid and whether it lives.
type processJS struct {
	Pid   int32 `json:"pid"`
	Alive bool  `json:"alive"`
}

func segmentToJSON(i shm.Info) segmentJSON {
	j := segmentJSON{
		Name: i.Name, Path: i.Path, Size: i.Size, MappedBy: i.MappedBy,
		Status: status(i), Stale: removable(i),
	}
	if j.MappedBy == nil {
		j.MappedBy = []int{}
	}
	if i.Mode != 0 {
		j.Mode = i.Mode.Perm().String()
	}
	if i.Kind != shm.KindAny {
		j.Kind, j.Version = i.Kind.String(), i.Version
	}
	if creatorKnown(i) {
		j.Creator = &processJS{i.Creator.Pid, i.CreatorAlive}
	}
	if !i.Created.IsZero() && i.Created.UnixNano() != 0 {
		t := i.Created
		j.Created = &t
	}
	if i.Err != nil {
		j.Error = describe(i.Name, i.Err)
	}
	return j
}
