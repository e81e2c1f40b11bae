package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestLogMuxFollowTracked: lines go behind the prefix, standard error to
// errW, their timestamps are read (and shown only with --timestamps), and
// the last one is returned.
func TestLogMuxFollowTracked(t *testing.T) {
	c := upFakeCLI(t)
	if err := c.f.Log("t-db-1", "stdout", "out line"); err != nil {
		t.Fatal(err)
	}
	if err := c.f.Log("t-db-1", "stderr", "err line"); err != nil {
		t.Fatal(err)
	}
	db, _ := c.f.Container("t-db-1")
	for _, ts := range []bool{false, true} {
		var out, errOut bytes.Buffer
		g := &globals{ansi: "never", stdio: Stdio{Out: &out, Err: &errOut}}
		m := newLogMux(g, []string{"db-1", "web-1"}, false, false, ts)
		m.errW = &errOut
		last, err := m.followTracked(context.Background(), c.f, db, service.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if last.IsZero() {
			t.Error("no time of the last line")
		}
		gotOut, gotErr := out.String(), errOut.String()
		if ts {
			if !strings.HasPrefix(gotOut, "db-1   | 20") || !strings.HasSuffix(gotOut, " out line\n") {
				t.Errorf("--timestamps: stdout %q", gotOut)
			}
			continue
		}
		if gotOut != "db-1   | out line\n" || gotErr != "db-1   | err line\n" {
			t.Errorf("stdout %q, stderr %q", gotOut, gotErr)
		}
		m.status("db-1", "exited with code 0")
		if !strings.HasSuffix(out.String(), "\r\x1b[Kdb-1 exited with code 0\n") {
			t.Errorf("status: %q", out.String())
		}
	}
	t.Setenv("NO_COLOR", "") // colours unless NO_COLOR is set (to something)
	var out bytes.Buffer
	m := newLogMux(&globals{ansi: "always", stdio: Stdio{Out: &out}}, []string{"a", "b"}, false, false, false)
	if p := m.prefix("b"); p != "\x1b[33mb  | \x1b[0m" {
		t.Errorf("coloured prefix of the second name: %q", p)
	}
	if m := newLogMux(&globals{ansi: "always", stdio: Stdio{Out: &out}}, []string{"a"}, true, true, false); m.prefix("a") != "" || m.color {
		t.Error("--no-log-prefix --no-color: a prefix or colour")
	}
}
