package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// readyStack has a migration one-shot (exits 0, no restart policy), a db
// with a healthcheck and an app that depends on the db.
func readyStack(image string) string {
	return fmt.Sprintf(`services:
  migrate:
    image: %[1]s
    command: ["sh", "-c", "echo migrated"]
  db:
    image: %[1]s
    command: ["sh", "-c", "touch /ready; trap 'exit 0' TERM; sleep 1000 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 1s, retries: 30}
  app:
    image: %[1]s
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on:
      db: {condition: service_healthy}
`, image)
}

// TestUpWaitOneShot: up --wait counts a one-shot that exited 0 as ready
// (docker compose's open bug #10596 fails it), and a service that does not
// become healthy fails the wait with its health status, its last health
// check output and its last log lines; on both backends.
func TestUpWaitOneShot(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": readyStack(busyboxImage())})
		r := p.mustRun(t, "up", "-d", "--wait", "--wait-timeout", "60")
		if !strings.Contains(r.stderr, p.name+"-migrate-1 Exited") {
			t.Errorf("up --wait does not report the one-shot as done:\n%s", r.stderr)
		}
		p.mustRun(t, "down", "-t", "0")

		sick := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  db:
    image: %s
    command: ["sh", "-c", "echo booting; echo cannot reach the disk >&2; trap 'exit 0' TERM; sleep 1000 & wait"]
    healthcheck: {test: ["CMD-SHELL", "echo probe says no; exit 1"], interval: 1s, retries: 2}
`, busyboxImage())})
		r = sick.run("up", "-d", "--wait", "--wait-timeout", "60")
		for _, want := range []string{"service db is not ready", "container " + sick.name + "-db-1: running, health unhealthy",
			"last health check output:", "probe says no", "last 2 log lines:", "booting", "cannot reach the disk"} {
			if r.code == 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("up --wait of an unhealthy service: exit %d, no %q in:\n%s", r.code, want, r.stderr)
			}
		}
		sick.mustRun(t, "down", "-t", "0")
	})
}

// TestExitCodeFromOneShot: --exit-code-from does not abort when a one-shot
// (the migration) exits 0: the exit code is the named service's.
func TestExitCodeFromOneShot(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  migrate:
    image: %[1]s
    command: ["sh", "-c", "sleep 1; echo migrated"]
  tests:
    image: %[1]s
    command: ["sh", "-c", "sleep 4; echo tests ran; exit 3"]
`, busyboxImage())})
		r := p.run("up", "--exit-code-from", "tests")
		if r.code != 3 || !strings.Contains(r.stdout, "tests ran") {
			t.Errorf("up --exit-code-from tests: exit %d, want 3 after the tests ran:\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
