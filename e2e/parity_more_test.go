package e2e

import (
	"fmt"
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
