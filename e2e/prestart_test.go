package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestPreStart: pre_start hooks run as docker compose v5 runs them — in a
// container of their own with the service's volumes and environment, in
// order, before the service starts, not again while it runs; a failing
// hook stops the up with compose's message and the service does not start.
// On both backends (berth ignored pre_start).
func TestPreStart(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sh", "-c", "cat /data/log; trap 'exit 0' TERM; sleep 1000 & wait"]
    stop_signal: SIGKILL
    environment: {GREETING: hello}
    volumes: [data:/data]
    pre_start:
      - command: ["sh", "-c", "echo first $$GREETING $$EXTRA >> /data/log"]
        environment: {EXTRA: there}
      - command: ["sh", "-c", "echo second >> /data/log"]
  broken:
    image: %[1]s
    command: ["sleep", "1000"]
    profiles: [broken]
    pre_start:
      - command: ["sh", "-c", "echo migration failed; exit 3"]
volumes:
  data: {}
`, busyboxImage())})
		plan := p.mustRun(t, "--dry-run", "up", "-d").stdout
		if !strings.Contains(plan, "run hook container web pre_start[0]") || !strings.Contains(plan, "run hook container web pre_start[1]") {
			t.Errorf("up --dry-run:\n%s", plan)
		}
		p.mustRun(t, "up", "-d")
		p.mustRun(t, "up", "-d") // running: no hook
		if got := p.mustRun(t, "exec", "-T", "web", "cat", "/data/log").stdout; got != "first hello there\nsecond\n" {
			t.Errorf("/data/log = %q", got)
		}
		if ps := p.ps(t, "-a"); len(ps) != 1 {
			t.Errorf("hook containers left: %+v", ps)
		}
		r := p.run("up", "-d", "broken")
		if r.code == 0 || !strings.Contains(r.stderr, `service "broken" pre_start[0] exited with code 3`) || !strings.Contains(r.stderr, "migration failed") {
			t.Errorf("failing hook: exit %d\n%s", r.code, r.stderr)
		}
		if e, ok := p.ps(t, "-a")[p.name+"-broken-1"]; ok && e.State == "running" {
			t.Errorf("broken started after its hook failed: %+v", e)
		}
		p.mustRun(t, "down", "-v", "-t", "0", "--remove-orphans")
	})
}
