//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/mproc/mproc/shm"
)

func init() {
	register(&command{
		name:     "ls",
		synopsis: "[--stale] [--json] [PATTERN...]",
		summary:  "list mproc segments: kind, size, creator, mappers, age, status",
		help: `
Lists every segment under /dev/shm/mproc.* (or those whose names match a
PATTERN, a shell glob such as 'jobs-*'), sorted by name:

  NAME       the segment name, as inspect, rm and handles use it
  KIND       the object it holds (lock, queue, arena, ...)
  SIZE       the file's size in bytes, header included
  CREATOR    the creating process's pid, alive or dead (a reused pid is
             recognised by its start time and counts as dead)
  MAPPED BY  the pids of live processes that map it now
  CREATED    when it was created (local time)
  STATUS     live; stale (creator dead, mapped by nobody: clean removes it);
             queued (a blob holding a large item of a queue that exists:
             clean removes it only with its queue);
             creating or incomplete (its creator has not published it, or
             died first: clean removes an incomplete one); not-mproc, newer,
             short, no-access, unreadable (clean leaves these alone)

ls reads headers without mapping anything, so listing never makes a segment
look in use. Run as root to see the mappings of other users' processes.`,
		run: runLs,
	})
}

func runLs(c *cli, args []string) int {
	fs := c.flags()
	stale := fs.Bool("stale", false, "list only stale segments, the ones clean would remove")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
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
	var list []shm.Info
	if *stale {
		list = cleanPlan(all, patterns)
	} else {
		for _, i := range all {
			if matchAny(patterns, i.Name) {
				list = append(list, i)
			}
		}
	}
	if *asJSON {
		out := make([]segmentJSON, 0, len(list))
		for _, i := range list {
			out = append(out, segmentToJSON(i))
		}
		return c.writeJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tCREATOR\tMAPPED BY\tCREATED\tSTATUS")
	for _, i := range list {
		kind := "-"
		if i.Kind != shm.KindAny {
			kind = i.Kind.String()
		}
		creator := "-"
		if creatorKnown(i) {
			creator = pidState(i.Creator.Pid, i.CreatorAlive)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", i.Name, kind, i.Size, creator,
			pidList(i.MappedBy), timeText(i.Created), status(i))
	}
	if err := tw.Flush(); err != nil {
		return c.fail("%v", err)
	}
	return exitOK
}

// writeJSON prints v as indented JSON.
func (c *cli) writeJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail("%v", err)
	}
	return exitOK
}
