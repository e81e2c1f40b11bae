package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berthdev/berth/cmd/cli"
)

// TestRun: the arguments after the program's name go to the command line,
// its output to the streams given, its exit code back.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"version", []string{"berth", "version", "--short"}, 0, "dev\n", ""},
		{"unknown command", []string{"berth", "nope"}, 1, "", `unknown command "nope" for "berth"`},
		{"bad flag", []string{"berth", "ps", "--nope"}, 1, "", "unknown flag: --nope"},
		// the built-in runtime's re-executions come before the command
		// line (which would say unknown command, exit 1): its DNS server
		// without its state root prints its usage (on the process's
		// standard error) and exits 2
		{"runtime re-execution", []string{"berth", "__berth-dns"}, 2, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, cli.Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			if out.String() != tc.out {
				t.Errorf("stdout %q, want %q", out.String(), tc.out)
			}
			if !strings.Contains(errOut.String(), tc.err) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tc.err)
			}
		})
	}
}
