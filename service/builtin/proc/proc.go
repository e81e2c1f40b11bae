package proc

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The hidden subcommands of the berth binary that run inside or next to a
// container; builtin.Dispatch runs them.
const (
	InitCommand   = "__berth-init"
	ReaperCommand = "__berth-reaper"
	ExecCommand   = "__berth-exec"
)

// StartError is a container (or an exec)  that could not start, with the exit code
// docker gives it (127: command not found, 126: not executable).
type StartError struct {
	Code int
	Msg  string
}

// Error is the message.
func (e *StartError) Error() string { return e.Msg }

// ParseStartError reads the init's report: "<exit code> <message>".
func ParseStartError(msg string) error {
	msg = strings.TrimSpace(msg)
	code := 128
	if i := strings.IndexByte(msg, ' '); i > 0 {
		if n, err := strconv.Atoi(msg[:i]); err == nil {
			code, msg = n, msg[i+1:]
		}
	}
	return &StartError{Code: code, Msg: msg}
}

// StartTime returns the start time of pid in clock ticks since boot.
func StartTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// ExitStatus is the exit code of a finished process as a shell gives it:
// its status, or 128+n when signal n killed it (137 when unknown, -1 when
// there is no state).
func ExitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	if s := ps.String(); strings.HasPrefix(s, "signal: ") {
		for i := 1; i < 65; i++ {
			if sig := syscall.Signal(i); sig.String() == strings.TrimPrefix(s, "signal: ") {
				return 128 + i
			}
		}
	}
	return 137
}
