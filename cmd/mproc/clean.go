//go:build linux

package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/mproc/mproc/shm"
)

func init() {
	register(&command{
		name:     "clean",
		synopsis: "[--dry-run] [PATTERN...]",
		summary:  "remove stale segments: creator dead and mapped by nobody",
		help: `
Removes every stale segment (or those whose names match a PATTERN, a shell
glob such as 'jobs-*'): an mproc segment whose creator is dead (pid and
start time, so a reused pid does not count) and that no live process maps,
or one whose creator died before finishing it. These are what processes
that crashed or were killed leave behind; removing them cannot hurt anyone.
A blob (a large item of a queue, in a segment of its own) is kept while its
queue exists, and removed with its queue.
Everything else is left alone: live segments, files that are not mproc's,
files of a newer mproc and files this user cannot read.

Each segment is checked again just before it is removed. One line per
segment goes to standard output: "removed NAME ..." (or "would remove" with
--dry-run). The exit status is 1 if any stale segment could not be removed.

Mappings are found in /proc/*/maps; run as root to see other users'
processes (otherwise a segment only they map, whose creator died, looks
stale).`,
		run: runClean,
	})
}

func runClean(c *cli, args []string) int {
	fs := c.flags()
	dry := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	patterns, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if err := checkPatterns(patterns); err != nil {
		return c.usageError(fs, "%v", err)
	}
	all, err := shm.List()
	if err != nil {
		return c.fail("cannot list %s: %v", shm.Dir, err)
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	plan := cleanPlan(all, patterns)
	removing := map[string]bool{}
	for _, i := range plan {
		removing[i.Name] = true
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	code, n := exitOK, 0
	for _, i := range plan {
		if !*dry {
			// Look again: the segment may have been opened (or removed)
			// since the listing.
			again, err := shm.Stat(i.Name)
			if errors.Is(err, shm.ErrNotExist) {
				continue
			}
			if err == nil && !removable(again) && !blobOfRemoved(again, removing) {
				continue
			}
			if err == nil {
				i = again
			}
			if err := shm.Unlink(i.Name); err != nil {
				if errors.Is(err, shm.ErrNotExist) {
					continue
				}
				c.errorf("%s", describe(i.Name, err))
				code = exitError
				continue
			}
		}
		n++
		kind := status(i)
		if i.Kind != shm.KindAny {
			kind = i.Kind.String()
		}
		fmt.Fprintf(tw, "%s %s\t%s\tcreator %s\tcreated %s\n", verb, i.Name, kind,
			pidState(i.Creator.Pid, i.CreatorAlive), timeText(i.Created))
	}
	if err := tw.Flush(); err != nil {
		return c.fail("%v", err)
	}
	if n == 0 && code == exitOK {
		fmt.Fprintln(c.stderr, "mproc clean: no stale segments")
	}
	return code
}
