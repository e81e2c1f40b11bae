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
