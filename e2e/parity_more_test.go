package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestIncludeEnvFileSecret: a secret whose source is an
// environment variable set only by the env_file of the include that declares
// it gets its value from there, as docker compose does (berth looked in the
// top-level environment only and refused: "environment variable TOKVAR is
// not set"). A config with an environment source is refused by compose-go
// itself when the variable is set ("file|environment|content attributes are
// mutually exclusive"), in docker compose v5.5.0 as in berth.
func TestIncludeEnvFileSecret(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{
		"compose.yaml": `include:
  - path: sub/compose.yaml
    env_file: sub/inc.env
`,
		"sub/compose.yaml": fmt.Sprintf(`services:
  b:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    secrets: [tok]
    environment:
      X: ${FOO}
secrets:
  tok:
    environment: TOKVAR
`, busyboxImage()),
		"sub/inc.env": "TOKVAR=s3cret\nFOO=bar\n",
	})
	p.mustRun(t, "up", "-d")
	for path, want := range map[string]string{"/run/secrets/tok": "s3cret"} {
		if got := strings.TrimSpace(p.mustRun(t, "exec", "-T", "b", "cat", path).stdout); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	p.mustRun(t, "down", "-t", "0")
}

// TestMissingEnvFileOfOtherService: ps, logs, stop and down work while a
// service that is not running has a missing env_file — docker compose does
// not read env files for those commands — and up of that service still
// fails naming the file (berth refused every command).
func TestMissingEnvFileOfOtherService(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  a:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  b:
    image: %[1]s
    env_file: missing.env
`, busyboxImage())})
	p.mustRun(t, "up", "-d", "a")
	if ps := p.ps(t); ps[p.name+"-a-1"].State != "running" {
		t.Errorf("ps: %+v", ps)
	}
	p.mustRun(t, "logs", "a")
	p.mustRun(t, "stop")
	if r := p.run("up", "-d", "b"); r.code == 0 || !strings.Contains(r.stderr, "missing.env") {
		t.Errorf("up -d b: exit %d, %s", r.code, r.stderr)
	}
	p.mustRun(t, "down")
	if ps := p.ps(t); len(ps) != 0 {
		t.Errorf("down left %+v", ps)
	}
}

// TestStopScopeAsCompose, against the engine: -f a.yaml stop stops only
// a.yaml's services; -p NAME stop from another directory (no compose file)
// stops dependents first, from the depends_on label; up --no-deps of a
// service sharing a missing container's network fails before making
// anything — each as docker compose does.
func TestStopScopeAsCompose(t *testing.T) {
	requireEngine(t)
	svc := func(extra string) string {
		return fmt.Sprintf("    image: %s\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n%s", busyboxImage(), extra)
	}
	p := newProject(t, map[string]string{
		"a.yaml": "services:\n  db:\n" + svc("") + "  app:\n" + svc("    depends_on: [db]\n"),
		"b.yaml": "services:\n  extra:\n" + svc(""),
		"c.yaml": "services:\n  db:\n" + svc("") + "  side:\n" + svc("    network_mode: \"service:db\"\n"),
	})
	p.mustRun(t, "-f", "a.yaml", "-f", "b.yaml", "up", "-d")
	p.mustRun(t, "-f", "a.yaml", "stop")
	ps := p.ps(t, "-a")
	if ps[p.name+"-extra-1"].State != "running" || ps[p.name+"-app-1"].State == "running" {
		t.Errorf("-f a.yaml stop: %+v", ps)
	}

	p.mustRun(t, "-f", "a.yaml", "start")
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	elsewhere := t.TempDir()
	r := command(ctx, elsewhere, p.environ(), nil, berthBin, "-p", p.name, "--dry-run", "stop")
	dbStop := regexp.MustCompile(`#(\d+) stop container ` + p.name + `-db-1 \(after #(\d+)\)`).FindStringSubmatch(r.stdout)
	appStop := regexp.MustCompile(`#(\d+) stop container ` + p.name + `-app-1`).FindStringSubmatch(r.stdout)
	if r.code != 0 || dbStop == nil || appStop == nil || dbStop[2] != appStop[1] {
		t.Errorf("-p NAME --dry-run stop elsewhere: exit %d, db must stop after app:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := command(ctx, elsewhere, p.environ(), nil, berthBin, "-p", p.name, "down", "-t", "0"); r.code != 0 {
		t.Fatalf("-p NAME down elsewhere: %d %s", r.code, r.stderr)
	}

	r = p.run("-f", "c.yaml", "up", "-d", "--no-deps", "side")
	if r.code == 0 || !strings.Contains(r.stderr, "service side shares the container of service db") {
		t.Errorf("up --no-deps side without db: exit %d %s", r.code, r.stderr)
	}
	if ps := p.ps(t, "-a"); len(ps) != 0 {
		t.Errorf("up --no-deps made %+v", ps)
	}
	p.mustRun(t, "-f", "c.yaml", "down")
}

// TestEnvFileRawFormat: an env_file with format: raw gives its values as
// written (no interpolation, no unquoting), as docker run --env-file and
// docker compose do, on both backends.
func TestEnvFileRawFormat(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{
			"compose.yaml": fmt.Sprintf(`services:
  box:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    env_file:
      - path: raw.env
        format: raw
      - plain.env
`, busyboxImage()),
			"raw.env":   "A=$HOME\nB=\"quoted\"\n",
			"plain.env": "C=\"unquoted\"\n",
		})
		p.mustRun(t, "up", "-d")
		got := p.mustRun(t, "exec", "-T", "box", "sh", "-c", `printf '%s|%s|%s' "$A" "$B" "$C"`).stdout
		if want := `$HOME|"quoted"|unquoted`; got != want {
			t.Errorf("environment %q, want %q", got, want)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
