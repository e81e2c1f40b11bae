package proc

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

// TestParseStartError reads the init's "<exit code> <message>" report; a
// report without a code is 128.
func TestParseStartError(t *testing.T) {
	cases := []struct {
		in   string
		code int
		msg  string
	}{
		{"127 exec: \"nope\": executable file not found in $PATH\n", 127, `exec: "nope": executable file not found in $PATH`},
		{"126 exec: \"/etc\": permission denied", 126, `exec: "/etc": permission denied`},
		{"mount /proc: operation not permitted", 128, "mount /proc: operation not permitted"},
	}
	for _, tc := range cases {
		var se *StartError
		if err := ParseStartError(tc.in); !errors.As(err, &se) || se.Code != tc.code || se.Msg != tc.msg || err.Error() != tc.msg {
			t.Errorf("ParseStartError(%q) = %#v, want code %d, message %q", tc.in, err, tc.code, tc.msg)
		}
	}
}

// TestExitStatus: a status is itself, a death by signal n is 128+n, no
// state is -1.
func TestExitStatus(t *testing.T) {
	cases := []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -KILL $$", 137},
		{"kill -TERM $$", 143},
	}
	for _, tc := range cases {
		cmd := exec.Command("sh", "-c", tc.script)
		_ = cmd.Run()
		if got := ExitStatus(cmd.ProcessState); got != tc.want {
			t.Errorf("%s: ExitStatus = %d, want %d", tc.script, got, tc.want)
		}
	}
	if got := ExitStatus(nil); got != -1 {
		t.Errorf("ExitStatus(nil) = %d, want -1", got)
	}
}

// TestStartTime: this process has a start time, stable across reads; a
// PID that is no process has none.
func TestStartTime(t *testing.T) {
	a, ok := StartTime(os.Getpid())
	b, ok2 := StartTime(os.Getpid())
	if !ok || !ok2 || a == 0 || a != b {
		t.Errorf("StartTime(self) = %d, %v then %d, %v; want the same non-zero time", a, ok, b, ok2)
	}
	if _, ok := StartTime(1 << 30); ok {
		t.Error("StartTime(no such pid) found one")
	}
}
