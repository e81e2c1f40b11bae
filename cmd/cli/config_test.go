package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixture is one directory under testdata/config: compose files, an optional
// args file (global flags, space-separated) and env file (the process
// environment, KEY=VALUE lines).
type fixture struct {
	name string
	dir  string
	args []string
	env  []string
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	root, err := filepath.Abs("../../testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		f := fixture{name: e.Name(), dir: dir}
		if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
			f.args = strings.Fields(string(b))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if l != "" {
					f.env = append(f.env, l)
				}
			}
		}
		out = append(out, f)
	}
	if len(out) < 10 {
		t.Fatalf("found %d fixtures under %s, want the whole set", len(out), root)
	}
	return out
}

// runCLI runs berth in dir with env and returns stdout, stderr and the code.
func runCLI(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, Stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, env, dir)
	return stdout.String(), stderr.String(), code
}

// golden compares got (with dir replaced by <dir>) with the file, or
// rewrites the file with -update.
func golden(t *testing.T, file, dir, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, dir, "<dir>")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./cmd/cli -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", file, got, want)
	}
}

func TestConfigGolden(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, f.dir, f.env, append(f.args, "config")...)
			if code != 0 {
				t.Fatalf("config exit %d: %s", code, errOut)
			}
			golden(t, filepath.Join(f.dir, "config.golden"), f.dir, out)

			// Hashes cover absolute paths (bind sources, env_file), so
			// they are computed on a copy at a fixed place.
			fixed := filepath.Join("/tmp", "berth-golden", f.name)
			if err := os.RemoveAll(fixed); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(fixed, os.DirFS(f.dir)); err != nil {
				t.Fatal(err)
			}
			out, errOut, code = runCLI(t, fixed, f.env, append(f.args, "config", "--hash", "*")...)
			if code != 0 {
				t.Fatalf("config --hash exit %d: %s", code, errOut)
			}
			golden(t, filepath.Join(f.dir, "hash.golden"), fixed, out)

			out, errOut, code = runCLI(t, f.dir, f.env, append(f.args, "config", "--format", "json")...)
			if code != 0 {
				t.Fatalf("config --format json exit %d: %s", code, errOut)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("config --format json is not JSON: %v\n%s", err, out)
			}
			if _, ok := m["services"]; !ok {
				t.Errorf("config --format json has no services: %s", out)
			}
		})
	}
}

// TestConfigRoundTrip loads the output of config again: it must be valid
// and render the same, as docker compose's canonical form is.
func TestConfigRoundTrip(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			first, errOut, code := runCLI(t, f.dir, f.env, append(f.args, "config")...)
			if code != 0 {
				t.Fatalf("config exit %d: %s", code, errOut)
			}
			tmp := filepath.Join(f.dir, ".roundtrip.yaml")
			if err := os.WriteFile(tmp, []byte(first), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(tmp)
			args := []string{"-f", tmp}
			for i := 0; i < len(f.args); i++ {
				if f.args[i] == "-f" {
					i++
					continue
				}
				args = append(args, f.args[i])
			}
			second, errOut, code := runCLI(t, f.dir, f.env, append(args, "config")...)
			if code != 0 {
				t.Fatalf("config of config's output exit %d: %s\n%s", code, errOut, first)
			}
			if first != second {
				t.Errorf("config is not stable under a reload\n--- first ---\n%s\n--- second ---\n%s", first, second)
			}
		})
	}
}
