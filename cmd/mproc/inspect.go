//go:build linux

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mproc/mproc/shm"
)

func init() {
	register(&command{
		name:     "inspect",
		synopsis: "[--json] NAME|HANDLE",
		summary:  "show an object's live state, decoded from its layout",
		help: `
Shows a segment's header (kind, layout version, size, creator and whether it
lives, who maps it) and the live state of the object it holds, decoded from
the object's layout:

  lock, rlock         locked, owner pid (alive or dead), recursion depth, waiters
  semaphore           value (and bound), waiters
  condition           waiters, its lock
  event               set or clear, waiters
  barrier             parties, waiting, generation, broken
  queue               length, capacity, bytes used, waiting producers/consumers
  value, array        element type and, when small, the contents
  arena               every object in it, with its handle, kind and state

A HANDLE (SEGMENT@OFFSET/KIND/vN, as objects print them) shows one object of
an arena. Inspecting only reads: it never changes a byte of the object, so it
is safe on a live system, but the state may change while it is read.

The exit status is 1 if the segment or an object in it could not be read
(not an mproc segment, never finished, a newer layout version, permission
denied). A kind this build has no decoder for is shown with its header only.`,
		run: runInspect,
	})
}

// inspection is what inspect found, in the shape of its JSON output.
type inspection struct {
	Segment    segmentJSON `json:"segment"`
	Handle     string      `json:"handle,omitempty"`
	State      *report     `json:"state,omitempty"`
	StateError string      `json:"state_error,omitempty"`
	Objects    []*object   `json:"objects,omitempty"`

	failed bool // some object could not be read: exit 1
}

// object is one arena block.
type object struct {
	Handle   string  `json:"handle"`
	Kind     string  `json:"kind"`
	Version  uint32  `json:"version"`
	Offset   uint64  `json:"offset"`
	Size     uint64  `json:"size"`
	Complete bool    `json:"complete"`
	State    *report `json:"state,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func runInspect(c *cli, args []string) int {
	fs := c.flags()
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	targets, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if len(targets) != 1 {
		return c.usageError(fs, "want one NAME or HANDLE, got %d arguments", len(targets))
	}
	in, err := inspectTarget(targets[0])
	if err != nil {
		return c.fail("%v", err)
	}
	if *asJSON {
		if code := c.writeJSON(in); code != exitOK {
			return code
		}
	} else {
		in.writeText(c)
	}
	if in.failed {
		return exitError
	}
	return exitOK
}

// inspectTarget reads the segment or object arg names. An error means
// nothing could be shown; problems with the object's state are recorded in
// the inspection instead, beside the header.
func inspectTarget(arg string) (*inspection, error) {
	var handle *shm.Handle
	name := arg
	if strings.Contains(arg, "@") {
		h, err := shm.ParseHandle(arg)
		if err != nil {
			return nil, fmt.Errorf("%q is not a handle: %s", arg, reason(err))
		}
		handle, name = &h, h.Segment
	} else {
		n, err := segmentName(arg)
		if err != nil {
			return nil, err
		}
		name = n
	}
	info, err := shm.Stat(name)
	if err != nil {
		return nil, errors.New(describe(name, err))
	}
	in := &inspection{Segment: segmentToJSON(info)}
	if status(info) == statusCreating {
		in.StateError, in.failed = fmt.Sprintf("its creator (pid %d) is still creating it; try again", info.Creator.Pid), true
		return in, nil
	}
	if info.Err != nil {
		in.StateError, in.failed = describe(name, info.Err), true
		return in, nil
	}
	switch {
	case handle != nil:
		in.Handle = handle.String()
		h := *handle
		h.Version = 0 // any version: the decoder says whether it reads it
		in.readObject(h)
	case info.Kind == shm.KindArena:
		in.readArena(name)
	default:
		h := shm.Handle{Segment: name, Kind: info.Kind}
		in.readObject(h)
		in.Handle = shm.Handle{Segment: name, Kind: info.Kind, Version: info.Version}.String()
	}
	return in, nil
}

// readObject decodes the object h names into in.State.
func (in *inspection) readObject(h shm.Handle) {
	r, err := shm.Attach(h, 0)
	if err != nil {
		in.StateError, in.failed = describe(h.Segment, err), true
		return
	}
	defer r.Close()
	in.State, err = decodeRegion(r)
	if err != nil {
		in.StateError = err.Error()
		in.failed = !errors.Is(err, errNoDecoder)
	}
}

// readArena decodes every object of the arena name into in.Objects.
func (in *inspection) readArena(name string) {
	a, err := shm.OpenArena(name)
	if err != nil {
		in.StateError, in.failed = describe(name, err), true
		return
	}
	defer a.Close()
	in.Objects = []*object{}
	for _, b := range a.Blocks() {
		o := &object{
			Handle: b.Handle.String(), Kind: b.Handle.Kind.String(), Version: b.Handle.Version,
			Offset: b.Handle.Offset, Size: b.Size, Complete: b.Complete,
		}
		in.Objects = append(in.Objects, o)
		if !b.Complete {
			o.Kind, o.Handle = "", fmt.Sprintf("%s@%d", name, b.Handle.Offset)
			o.Error = "incomplete: its allocator has not published it (still initialising it, or died first)"
			continue
		}
		r, err := a.Attach(b.Handle, 0)
		if err != nil {
			o.Error, in.failed = reason(err), true
			continue
		}
		o.State, err = decodeRegion(r)
		r.Close()
		if err != nil {
			o.Error = err.Error()
			in.failed = in.failed || !errors.Is(err, errNoDecoder)
		}
	}
}

// writeText prints the inspection for a person.
func (in *inspection) writeText(c *cli) {
	s := in.Segment
	head := &report{}
	head.add("segment", s.Name)
	if s.Kind != "" {
		head.add("kind", fmt.Sprintf("%s (layout v%d)", s.Kind, s.Version))
	}
	head.add("size", fmt.Sprintf("%d bytes", s.Size))
	if s.Creator != nil {
		head.add("creator", pidState(s.Creator.Pid, s.Creator.Alive))
	}
	if s.Created != nil {
		head.add("created", timeText(*s.Created))
	}
	head.add("mapped_by", s.MappedBy)
	head.add("status", s.Status)
	if in.Handle != "" {
		head.add("handle", in.Handle)
	}
	head.writeText(c.stdout, "")
	if in.State != nil {
		fmt.Fprintln(c.stdout, "state:")
		in.State.writeText(c.stdout, "  ")
	}
	if in.StateError != "" {
		fmt.Fprintf(c.stdout, "state: not shown: %s\n", in.StateError)
	}
	if in.Objects != nil {
		fmt.Fprintf(c.stdout, "objects: %d\n", len(in.Objects))
		for _, o := range in.Objects {
			fmt.Fprintf(c.stdout, "  %s  (%d bytes)\n", o.Handle, o.Size)
			if o.State != nil {
				o.State.writeText(c.stdout, "    ")
			}
			if o.Error != "" {
				fmt.Fprintf(c.stdout, "    %s\n", o.Error)
			}
		}
	}
}
