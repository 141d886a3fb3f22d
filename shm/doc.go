//go:build linux

// Package shm names, creates, validates and finds mproc's shared-memory
// segments: files under /dev/shm (Dir) whose names start with Prefix,
// mapped into every process that uses them.
//
// Every segment starts with a Header (magic, layout version, kind, payload
// size, creator identity, creation time) that Open validates, so a name
// holding another kind of object, an older or newer layout, a truncated
// file or a foreign file is a clear error (ErrKind, ErrVersion, ErrShort,
// ErrNotMproc), never a reinterpretation. A segment is published by one
// atomic store after its creator has initialised it: no process ever sees a
// half-built object, and one whose creator died half-way is ErrIncomplete.
//
// A segment holds one object (CreateObject, OpenObject) or an Arena of many
// small ones (NewArena, Arena.Alloc). Either way the object is a Region, and
// its Handle — segment, offset, kind, version, with a text form — lets any
// process Attach to it. The typed views (Uint32, Uint64, Pointer, Slice)
// are how the higher packages read their layouts: bounds- and
// alignment-checked, and always used with sync/atomic.
//
// List and Stat find leftovers: segments whose creator (pid and start time,
// see Identity) is dead and that no live process maps are Stale and safe to
// remove.
//
// Lifetime: Close unmaps, Unlink removes the name; the creator decides when.
// Memory from a segment must not be touched after Close.
package shm
