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
		name:     "rm",
		synopsis: "[--force] NAME...",
		summary:  "remove segments by name",
		help: `
Removes each named segment (its /dev/shm/mproc.NAME file). Processes that
map a removed segment keep using it until they close it, but nobody can
open it by name any more, and a process that then creates the name makes a
second object that the first ones never see. So rm refuses a segment that
is in use (its creator runs or a live process maps it) unless --force is
given; mproc clean removes only stale segments and needs no care.

A handle names an object inside a segment; rm takes segment names only.
The exit status is 1 if any segment was refused or could not be removed.`,
		run: runRm,
	})
}

func runRm(c *cli, args []string) int {
	fs := c.flags()
	force := fs.Bool("force", false, "remove segments even while they are in use")
	names, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if len(names) == 0 {
		return c.usageError(fs, "want at least one NAME, got none")
	}
	code = exitOK
	for _, arg := range names {
		if err := c.rmOne(arg, *force); err != nil {
			c.errorf("%v", err)
			code = exitError
		}
	}
	return code
}

func (c *cli) rmOne(arg string, force bool) error {
	if strings.Contains(arg, "@") {
		if h, err := shm.ParseHandle(arg); err == nil {
			return fmt.Errorf("%s is a handle of an object; rm removes whole segments (mproc rm %s)", arg, h.Segment)
		}
	}
	name, err := segmentName(arg)
	if err != nil {
		return err
	}
	info, err := shm.Stat(name)
	if err != nil {
		return errors.New(describe(name, err))
	}
	if users := inUse(info); users != "" && !force {
		return fmt.Errorf("%s is in use (%s); not removed (--force removes it anyway)", name, users)
	}
	if err := shm.Unlink(name); err != nil {
		return errors.New(describe(name, err))
	}
	fmt.Fprintf(c.stdout, "removed %s\n", name)
	return nil
}

// inUse says who still uses a segment, or "" if nobody does. The creator
// of a foreign file is whatever its bytes say, so only mappers count there.
func inUse(i shm.Info) string {
	var why []string
	if i.CreatorAlive && (i.Err == nil || errors.Is(i.Err, shm.ErrIncomplete)) {
		why = append(why, fmt.Sprintf("creator %d is alive", i.Creator.Pid))
	}
	if len(i.MappedBy) > 0 {
		why = append(why, "mapped by "+pidList(i.MappedBy))
	}
	if status(i) == statusQueued {
		owner, _ := blobOwner(i.Name)
		why = append(why, "an item waiting in queue "+owner)
	}
	return strings.Join(why, ", ")
}
