package reconcile

import (
	"strings"
	"testing"
)

const preStartCompose = `
name: ps
services:
  db:
    image: busybox
  web:
    image: busybox
    depends_on: [db]
    volumes: [data:/data]
    environment: {A: "1"}
    pre_start:
      - command: ["sh", "-c", "echo one > /data/x"]
        environment: {B: "2"}
      - command: ["true"]
        image: other
volumes:
  data: {}
`

// TestPreStartPlan: the hooks run in order after the service's container
// exists and its dependencies started, before it starts, with its volumes,
// environment and networks; not at all when a replica already runs.
func TestPreStartPlan(t *testing.T) {
	p := load(t, preStartCompose)
	plan, err := Diff(p, &Observed{Project: p.Name}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hooks []*Step
	var webStart, webCreate, dbStart *Step
	for _, s := range plan.Steps {
		switch {
		case s.Op == OpRunHook:
			hooks = append(hooks, s)
		case s.Op == OpStartContainer && s.Service == "web":
			webStart = s
		case s.Op == OpStartContainer && s.Service == "db":
			dbStart = s
		case s.Op == OpCreateContainer && s.Service == "web":
			webCreate = s
		}
	}
	if len(hooks) != 2 || webStart == nil {
		t.Fatalf("plan:\n%s", plan)
	}
	if !dependsOn(hooks[0], webCreate) || !dependsOn(hooks[0], dbStart) || !dependsOn(hooks[1], hooks[0]) || !dependsOn(webStart, hooks[1]) {
		t.Errorf("hook order:\n%s", plan)
	}
	h := hooks[0].Container
	if h.Image != "busybox" || hooks[1].Container.Image != "other" || strings.Join(h.VolumesFrom, ",") != "ps-web-1" ||
		!strings.Contains(strings.Join(h.Env, " "), "A=1") || !strings.Contains(strings.Join(h.Env, " "), "B=2") || len(h.Networks) == 0 {
		t.Errorf("hook spec: %+v", h)
	}
	if again, err := Diff(p, upToDate(t, p), Options{ForceRecreate: false}); err != nil || again.Count(OpRunHook) != 0 {
		t.Errorf("hooks planned with the service running:\n%s%v", again, err)
	}
}

func dependsOn(s, d *Step) bool {
	for _, x := range s.Deps {
		if x == d {
			return true
		}
	}
	return false
}

// TestPreStartPerReplica: per_replica: true is refused before anything is
// planned, in docker compose's words.
func TestPreStartPerReplica(t *testing.T) {
	p := load(t, "services:\n  web:\n    image: busybox\n    pre_start:\n      - command: [\"true\"]\n        per_replica: true\n")
	_, err := Diff(p, &Observed{Project: p.Name}, Options{})
	if err == nil || !strings.Contains(err.Error(), `service "web" pre_start[0]: per_replica is not yet supported`) {
		t.Errorf("Diff: %v", err)
	}
}
