package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The Python peers: one script per package area, run by the harness in the
// same invocation. They are embedded so that the binary works from any
// directory; pyDir writes them out once.
//
//go:embed python/*.py
var pyScripts embed.FS

// pythonExe is the interpreter the Python sides run (-python).
var pythonExe = "python3"

var pyState struct {
	mu      sync.Mutex
	done    bool   // pyInit has run (and pyCleanup not since)
	path    string // resolved interpreter, "" if none
	version string
	dir     string // the scripts, written out
	err     error
}

// pyInit resolves the interpreter and writes the scripts to a temporary
// directory (removed by pyCleanup).
func pyInit() {
	pyState.mu.Lock()
	defer pyState.mu.Unlock()
	if pyState.done {
		return
	}
	pyState.done = true
	func() {
		path, err := exec.LookPath(pythonExe)
		if err != nil {
			pyState.err = fmt.Errorf("no %s on PATH", pythonExe)
			return
		}
		// Ask for the interpreter's own path too: a version manager's shim
		// (pyenv's is a shell script) costs a third of a second a start.
		out, err := exec.Command(path, "-c", "import sys, multiprocessing; print(sys.version.split()[0]); print(sys.executable)").Output()
		if err != nil {
			pyState.err = fmt.Errorf("%s cannot import multiprocessing: %v", pythonExe, err)
			return
		}
		version, exe, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if !pyVersionOK(version) {
			pyState.err = fmt.Errorf("%s is Python %s; the Python peers need 3.8 or later (multiprocessing.shared_memory)", pythonExe, version)
			return
		}
		if exe = strings.TrimSpace(exe); exe != "" {
			path = exe
		}
		dir, err := os.MkdirTemp("", "mproc-bench-py-")
		if err != nil {
			pyState.err = err
			return
		}
		entries, err := pyScripts.ReadDir("python")
		if err != nil {
			pyState.err = err
			return
		}
		for _, e := range entries {
			b, err := pyScripts.ReadFile("python/" + e.Name())
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600)
			}
			if err != nil {
				pyState.err = err
				return
			}
		}
		pyState.path, pyState.version, pyState.dir = path, strings.TrimSpace(version), dir
	}()
}

// pyVersionOK reports whether a "3.11.7"-style version is 3.8 or later.
func pyVersionOK(v string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 3 || major == 3 && minor >= 8
}

// pyCleanup removes the written-out scripts; a later pyInit writes them
// again.
func pyCleanup() {
	pyState.mu.Lock()
	defer pyState.mu.Unlock()
	if pyState.dir != "" {
		_ = os.RemoveAll(pyState.dir)
	}
	pyState.done, pyState.path, pyState.version, pyState.dir, pyState.err = false, "", "", "", nil
}

// needPython is the Needs of every Python side.
func needPython() string {
	pyInit()
	if pyState.err != nil {
		return "skipped: " + pyState.err.Error()
	}
	return ""
}

// pyVersion returns the interpreter's version, or "" if there is none.
func pyVersion() string {
	pyInit()
	return pyState.version
}

// pyWorker is one running Python script. The script sets up once, then
// runs one repetition per "run" line on its standard input and answers
// each with one JSON line, {"seconds": S} or {"error": "..."}, so that
// repetitions of the Python side interleave with those of the other sides
// and the interpreter's start-up is paid once.
type pyWorker struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

// pyReply is a script's answer to "run".
type pyReply struct {
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error"`
}

// startPy starts script for figure with the figure's Params and extra
// arguments.
func startPy(script, figure string, p Params, extra []string) (*pyWorker, error) {
	pyInit()
	if pyState.err != nil {
		return nil, pyState.err
	}
	args := append([]string{"-u", filepath.Join(pyState.dir, script), figure}, p.pyArgs()...)
	args = append(args, extra...)
	cmd := exec.Command(pyState.path, args...)
	cmd.Dir = pyState.dir
	w := &pyWorker{cmd: cmd, lines: make(chan string, 4), stderr: &bytes.Buffer{}}
	cmd.Stderr = w.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.in = in
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	return w, nil
}

// run asks for one repetition and returns its measured time.
func (w *pyWorker) run(ctx context.Context) (time.Duration, error) {
	if _, err := io.WriteString(w.in, "run\n"); err != nil {
		return 0, w.fail(err)
	}
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case line, ok := <-w.lines:
			if !ok {
				return 0, w.fail(errors.New("script exited"))
			}
			if !strings.HasPrefix(line, "{") {
				continue // stray output from a library: not an answer
			}
			var r pyReply
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return 0, fmt.Errorf("python: unparseable answer %q: %v", line, err)
			}
			if r.Error != "" {
				return 0, fmt.Errorf("python: %s", r.Error)
			}
			if r.Seconds <= 0 {
				return 0, fmt.Errorf("python: no time in answer %q", line)
			}
			return time.Duration(r.Seconds * float64(time.Second)), nil
		}
	}
}

// fail decorates err with the script's standard error.
func (w *pyWorker) fail(err error) error {
	_ = w.cmd.Wait()
	if s := strings.TrimSpace(w.stderr.String()); s != "" {
		lines := strings.Split(s, "\n")
		if len(lines) > 6 {
			lines = lines[len(lines)-6:]
		}
		return fmt.Errorf("python: %v: %s", err, strings.Join(lines, " | "))
	}
	return fmt.Errorf("python: %v", err)
}

// close ends the script: EOF on its input, then SIGKILL if it does not
// exit within a few seconds.
func (w *pyWorker) close() {
	_ = w.in.Close()
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
}

// pySide is a Python peer running script.
func pySide(script string) Side {
	return Side{Name: "python", Kind: KindPython, Script: script, Needs: needPython}
}
