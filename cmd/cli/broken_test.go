package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenFiles runs config on every project under testdata/broken: each
// must fail with exit code 1 and the message in its stderr.golden, which
// names the file, line, service and key, with no Go panic or stack trace.
func TestBrokenFiles(t *testing.T) {
	root, err := filepath.Abs("../../testdata/broken")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			args := []string{"config", "-q"}
			if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
				args = strings.Fields(string(b))
			}
			out, errOut, code := runCLI(t, dir, nil, args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if out != "" {
				t.Errorf("printed on stdout: %q", out)
			}
			for _, bad := range []string{"panic", "goroutine ", ".go:"} {
				if strings.Contains(errOut, bad) {
					t.Errorf("stderr shows %q: %s", bad, errOut)
				}
			}
			golden(t, filepath.Join(dir, "stderr.golden"), dir, errOut)
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		wantErr  string
		wantHelp bool
	}{
		{args: []string{"nosuch"}, code: 1, wantErr: `unknown command "nosuch" for "berth"`},
		{args: []string{"volume", "ls"}, code: 1, wantErr: "Did you mean this?\n\tvolumes"},
		{args: nil, code: 0, wantHelp: true},
	}
	for _, tt := range tests {
		out, errOut, code := runCLI(t, t.TempDir(), nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("berth %q: exit %d, stderr %q; want exit %d and %q", tt.args, code, errOut, tt.code, tt.wantErr)
		}
		if tt.wantHelp != strings.Contains(out, "Available Commands") {
			t.Errorf("berth %q: help printed: %v, want %v", tt.args, !tt.wantHelp, tt.wantHelp)
		}
	}
}
