package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mproc/mproc/process"
	"golang.org/x/sys/unix"
)

// Machine describes where and how a run was made, for the report.
type Machine struct {
	Date    string `json:"date"`
	Command string `json:"command"`
	Mode    string `json:"mode"` // "quick" or "full"
	Reps    int    `json:"reps"`
	Cores   int    `json:"cores"`
	CPU     string `json:"cpu"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	Python  string `json:"python,omitempty"`
	Redis   string `json:"redis,omitempty"`
	// OtherLoad is the share of the machine's CPU time (0–1) that other
	// processes used while the suite ran: a busy machine makes the bare
	// times noisy, which is why the report leads with ratios taken in one
	// run.
	OtherLoad float64 `json:"other_load"`
	Seconds   float64 `json:"seconds"` // wall time of the run
}

func describeMachine() Machine {
	m := Machine{
		Date:  time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Cores: process.CPUCount(),
		CPU:   cpuModel(),
		Go:    runtime.Version(),
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	m.Python = pyVersion()
	if path, err := exec.LookPath(redisExe); err == nil {
		if out, err := exec.Command(path, "--version").Output(); err == nil {
			m.Redis = redisVersion(string(out))
		}
	}
	return m
}

// cpuModel returns the "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// loadMeter measures how much CPU time processes other than this one and
// its descendants used over an interval: the machine's busy time from
// /proc/stat minus our own from getrusage.
type loadMeter struct {
	wall time.Time
	busy float64 // machine busy seconds
	own  float64 // our (and reaped descendants') CPU seconds
}

func startLoad() loadMeter {
	return loadMeter{wall: time.Now(), busy: machineBusy(), own: ownCPU()}
}

// other returns the share (0–1) of the machine's capacity that other
// processes used since the meter started.
func (l loadMeter) other() float64 {
	wall := time.Since(l.wall).Seconds()
	if wall <= 0 {
		return 0
	}
	busy := machineBusy() - l.busy
	own := ownCPU() - l.own
	v := (busy - own) / (wall * float64(runtime.NumCPU()))
	return min(max(v, 0), 1)
}

// machineBusy returns the non-idle CPU seconds of all CPUs since boot.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, s := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		v, _ := strconv.ParseFloat(s, 64)
		busy += v
	}
	return busy / 100 // USER_HZ
}

// ownCPU returns the CPU seconds of this process and its reaped
// descendants.
func ownCPU() float64 {
	var total float64
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if unix.Getrusage(who, &ru) == nil {
			total += float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		}
	}
	return total
}
