package futex_test

import (
	"bytes"
	"fmt"
	"runtime"
)

// sysFutex is the futex syscall number on this architecture.
var sysFutex = map[string]int{"amd64": 202, "arm64": 98}[runtime.GOARCH]

// isSleeping reports whether a /proc/PID/task/TID/stat shows state S.
func isSleeping(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'S'
}

// isSharedFutexArg reports whether the futex op in a /proc syscall line (the
// second argument) is a wait without FUTEX_PRIVATE_FLAG: mproc's own waits,
// not the Go runtime's private ones.
func isSharedFutexArg(line []byte) bool {
	var nr int
	var addr, op uint64
	if _, err := fmt.Sscanf(string(line), "%d 0x%x 0x%x", &nr, &addr, &op); err != nil {
		return false
	}
	return op&128 == 0 && (op&127 == 0 || op&127 == 9)
}
