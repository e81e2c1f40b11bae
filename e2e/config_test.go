package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigRealProject runs config as a user would, in a project directory
// with an override file, a .env and an env_file, and with -f - on stdin.
func TestConfigRealProject(t *testing.T) {
	p := newProject(t, map[string]string{
		"compose.yaml": `
services:
  web:
    image: "busybox:${TAG}"
    env_file: [web.env]
    ports: ["${PORT:-8080}:80"]
    depends_on: [db]
  db:
    image: busybox
    profiles: [db]
`,
		"compose.override.yaml": "services:\n  web:\n    environment:\n      FROM_OVERRIDE: \"yes\"\n",
		".env":                  "TAG=1.36\nCOMPOSE_PROFILES=db\n",
		"web.env":               "GREETING=hello\n",
	})
	out := p.mustRun(t, "config").stdout
	for _, want := range []string{"name: " + p.name, "image: busybox:1.36", "GREETING: hello", "FROM_OVERRIDE: 'yes'", "published: \"8080\"", "  db:"} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if got := p.mustRun(t, "config", "--services").stdout; got != "db\nweb\n" {
		t.Errorf("config --services = %q, want db then web (dependencies first)", got)
	}
	hashes := p.mustRun(t, "config", "--hash", "*").stdout
	lines := strings.Split(strings.TrimSpace(hashes), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "db ") || len(strings.Fields(lines[1])[1]) != 64 {
		t.Errorf("config --hash '*' = %q", hashes)
	}
	if r := p.run("config", "-q"); r.code != 0 || r.stdout != "" {
		t.Errorf("config -q: exit %d, stdout %q", r.code, r.stdout)
	}

	stdin := "services:\n  piped:\n    image: busybox\n"
	r := p.runStdin(stdin, "-f", "-", "config", "--services")
	if r.code != 0 || r.stdout != "piped\n" {
		t.Errorf("-f - : exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestConfigFixtures runs the binary on every fixture under testdata/config
// and compares with the golden output the unit tests also check.
func TestConfigFixtures(t *testing.T) {
	root := repoPath(t, "testdata/config")
	dirs, _ := filepath.Glob(filepath.Join(root, "*"))
	if len(dirs) < 10 {
		t.Fatalf("found %d fixtures under %s", len(dirs), root)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := append(fixtureArgs(dir), "config")
			r := runIn(t, dir, fixtureEnv(dir), args...)
			if r.code != 0 {
				t.Fatalf("berth %v: exit %d: %s", args, r.code, r.stderr)
			}
			want, err := os.ReadFile(filepath.Join(dir, "config.golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(r.stdout, dir, "<dir>"); got != string(want) {
				t.Errorf("output differs from config.golden\n--- got ---\n%s", got)
			}
		})
	}
}

// TestConfigBrokenFiles checks the binary's error output for every broken
// project under testdata/broken: exit 1, the golden message naming file,
// line, service and key, nothing on stdout, no panic.
func TestConfigBrokenFiles(t *testing.T) {
	root := repoPath(t, "testdata/broken")
	dirs, _ := filepath.Glob(filepath.Join(root, "*"))
	if len(dirs) < 10 {
		t.Fatalf("found %d broken projects under %s", len(dirs), root)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := []string{"config", "-q"}
			if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
				args = strings.Fields(string(b))
			}
			r := runIn(t, dir, nil, args...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr shows a Go panic: %s", r.stderr)
			}
			want, err := os.ReadFile(filepath.Join(dir, "stderr.golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(r.stderr, dir, "<dir>"); got != string(want) {
				t.Errorf("stderr differs from stderr.golden\n--- got ---\n%s--- want ---\n%s", got, want)
			}
		})
	}
}

// repoPath is rel inside the repository.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, rel)
}

// fixtureArgs are the global flags in a fixture's args file.
func fixtureArgs(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "args"))
	return strings.Fields(string(b))
}

// fixtureEnv are the KEY=VALUE lines of a fixture's env file.
func fixtureEnv(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "env"))
	return strings.Fields(string(b))
}

// runIn runs berth in dir with the test process's environment less COMPOSE_*
// variables, plus env.
func runIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COMPOSE_") {
			base = append(base, kv)
		}
	}
	return command(ctx, dir, append(base, env...), nil, berthBin, args...)
}
