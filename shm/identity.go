//go:build linux

package shm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// Identity names a process for as long as it lives: its pid plus its start
// time, so that a pid the kernel hands to a new process later is not taken
// for the old one. Start is field 22 of /proc/PID/stat (clock ticks since
// boot).
type Identity struct {
	Pid   int32
	Start uint64
}

var (
	selfOnce sync.Once
	self     Identity
)

// Self returns the calling process's Identity. It is computed once: a
// process's pid and start time never change.
func Self() Identity {
	selfOnce.Do(func() {
		pid := os.Getpid()
		st, err := readStat(pid)
		if err != nil {
			// /proc is always there on Linux; without it owner-death
			// detection degrades to pid liveness.
			st.start = 0
		}
		self = Identity{Pid: int32(pid), Start: st.start}
	})
	return self
}

// Alive reports whether the process id names is still running: /proc/PID
// exists, its start time matches, and it is not a zombie. The zero Identity
// is never alive.
func (id Identity) Alive() bool {
	if id.Pid <= 0 {
		return false
	}
	st, err := readStat(int(id.Pid))
	if err != nil {
		return false
	}
	if st.state == 'Z' || st.state == 'X' || st.state == 'x' {
		return false
	}
	return id.Start == 0 || st.start == id.Start
}

// String formats the identity as "pid/start".
func (id Identity) String() string { return fmt.Sprintf("%d/%d", id.Pid, id.Start) }

// IdentityOf returns the Identity of the running process pid.
func IdentityOf(pid int) (Identity, error) {
	st, err := readStat(pid)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Pid: int32(pid), Start: st.start}, nil
}

type procStat struct {
	state byte
	start uint64
}

var errStat = errors.New("malformed /proc/PID/stat")

// readStat reads the state and start time of pid from /proc/PID/stat. The
// command name (field 2) is in parentheses and may itself contain spaces and
// parentheses, so parsing starts after the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, errStat
	}
	f := bytes.Fields(b[i+2:])
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errStat
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, errStat
	}
	return procStat{state: f[0][0], start: start}, nil
}
