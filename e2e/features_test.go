package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestUpFeatures covers hooks, secrets and configs from the environment and
// inline content, network_mode: service:x and volumes_from.
func TestUpFeatures(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    post_start:
      - command: ["sh", "-c", "echo started > /tmp/hook"]
    pre_stop:
      - command: ["sh", "-c", "echo stopping > /shared/prestop"]
    secrets: [token]
    configs:
      - source: conf
        target: /etc/app.conf
    volumes: ["shared:/shared"]
  sidecar:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    network_mode: "service:app"
    volumes_from: [app]
secrets:
  token:
    environment: TOKEN
configs:
  conf:
    content: |
      level=debug
volumes:
  shared: {}
`, busyboxImage())})
	p.env = append(p.env, "TOKEN=s3cr3t")
	p.mustRun(t, "up", "-d", "--wait")

	checks := []struct{ svc, path, want string }{
		{"app", "/tmp/hook", "started"},
		{"app", "/run/secrets/token", "s3cr3t"},
		{"app", "/etc/app.conf", "level=debug"},
	}
	for _, c := range checks {
		if got := strings.TrimSpace(p.mustRun(t, "exec", "-T", c.svc, "cat", c.path).stdout); got != c.want {
			t.Errorf("%s:%s = %q, want %q", c.svc, c.path, got, c.want)
		}
	}
	appID := docker(t, "inspect", "--format", "{{.Id}}", p.name+"-app-1")
	if got := docker(t, "inspect", "--format", "{{.HostConfig.NetworkMode}}", p.name+"-sidecar-1"); got != "container:"+appID {
		t.Errorf("sidecar network mode %q", got)
	}
	p.mustRun(t, "exec", "-T", "sidecar", "touch", "/shared/from-sidecar")
	if r := p.run("exec", "-T", "app", "ls", "/shared/from-sidecar"); r.code != 0 {
		t.Errorf("volumes_from: app does not see the sidecar's file: %s", r.stderr)
	}
	if r := p.run("exec", "-T", "app", "sh", "-c", "exit 4"); r.code != 4 {
		t.Errorf("exec exit code %d, want 4", r.code)
	}

	p.mustRun(t, "down")
	got := docker(t, "run", "--rm", "-v", p.name+"_shared:/s", busyboxImage(), "cat", "/s/prestop")
	if got != "stopping" {
		t.Errorf("pre_stop hook did not run before the stop: %q", got)
	}
	p.mustRun(t, "down", "-v")
}
