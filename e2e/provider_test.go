package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// providerScript is a provider binary (compose's provider protocol): it
// logs its arguments to calls.log beside it and gives its dependents
// DB_URL (setenv URL) and RAWV (rawsetenv).
const providerScript = `#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$1 $2" in "compose metadata") exit 0;; esac
case "$*" in
  *" up "*) echo '{"type":"info","message":"creating db"}'
            echo '{"type":"setenv","message":"URL=mysql://db.example:3306"}'
            echo '{"type":"rawsetenv","message":"RAWV=1"}';;
  *" down "*) echo '{"type":"info","message":"releasing db"}';;
esac
`

func providerFiles(image string) map[string]string {
	return map[string]string{"compose.yaml": fmt.Sprintf(`services:
  db:
    provider:
      type: fakecloud
      options:
        type: mysql
        size: 256
  app:
    image: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on: [db]
`, image)}
}

// withProvider puts the provider on the project's PATH.
func withProvider(t *testing.T, p *testProject) {
	t.Helper()
	bin := filepath.Join(p.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "fakecloud"), []byte(providerScript), 0o755); err != nil {
		t.Fatal(err)
	}
	p.env = append(p.env, "PATH="+bin+":"+os.Getenv("PATH"))
}

func providerCalls(t *testing.T, p *testProject) string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "bin", "calls.log"))
	return string(b)
}

// TestProviderService: a provider: service runs its binary with compose's
// protocol at up (options as flags), its variables reach the dependent's
// container, a second up recreates nothing, and down releases it — on both
// backends (berth said "image p-db is not present").
func TestProviderService(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, providerFiles(busyboxImage()))
		withProvider(t, p)
		r := p.mustRun(t, "up", "-d")
		if !strings.Contains(r.stderr, "Provider db creating db") || !strings.Contains(r.stderr, "Provider db Created") {
			t.Errorf("up's progress does not show the provider:\n%s", r.stderr)
		}
		env := p.mustRun(t, "exec", "-T", "app", "env").stdout
		for _, want := range []string{"DB_URL=mysql://db.example:3306", "RAWV=1"} {
			if !strings.Contains(env, want) {
				t.Errorf("app's environment lacks %s:\n%s", want, env)
			}
		}
		ps := p.ps(t)
		before := ps[p.name+"-app-1"].ID
		p.mustRun(t, "up", "-d")
		if after := p.ps(t)[p.name+"-app-1"].ID; after != before || before == "" {
			t.Errorf("a second up recreated app: %s → %s", before, after)
		}
		p.mustRun(t, "down", "-t", "0")
		want := fmt.Sprintf("compose metadata\ncompose --project-name=%[1]s up --size=256 --type=mysql db\n"+
			"compose metadata\ncompose --project-name=%[1]s up --size=256 --type=mysql db\n"+
			"compose metadata\ncompose --project-name=%[1]s down --size=256 --type=mysql db\n", p.name)
		if got := providerCalls(t, p); got != want {
			t.Errorf("provider calls:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestProviderInterop: the hash berth gives a provider's dependent is the
// one docker compose v5.5.0 writes, so berth keeps compose's container.
func TestProviderInterop(t *testing.T) {
	requireEngine(t)
	v5 := referenceCompose(t, "v5.5.0")
	p := newProject(t, providerFiles(busyboxImage()))
	withProvider(t, p)
	refCompose(t, v5, p, "up", "-d")
	before := containerIDs(t, p)
	p.mustRun(t, "up", "-d")
	if after := containerIDs(t, p); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("berth up recreated docker compose's containers: %v → %v", before, after)
	}
	p.mustRun(t, "down", "-t", "0")
}
