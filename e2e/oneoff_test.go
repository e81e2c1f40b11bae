package e2e

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// sleepingService is a service body that runs until stopped.
const sleepingService = `    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`

// oneoffScenario runs, with the tool run runs (berth, or a reference docker
// compose), run's one-offs then up: it returns the warnings of up -d, and
// the project's containers (one-offs as "<service>-run") with their
// states after up -d, then after up -d --remove-orphans web.
func oneoffScenario(t *testing.T, p *testProject, run func(args ...string) result) (warned string, afterUp, afterRemove []string) {
	t.Helper()
	must := func(args ...string) result {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	must("up", "-d")
	must("run", "-d", "web")        // a running one-off of web
	must("run", "-T", "db", "true") // a stopped one-off of db
	warned = must("up", "-d").stderr
	afterUp = p.states(t)
	must("up", "-d", "--remove-orphans", "web")
	afterRemove = p.states(t)
	return warned, afterUp, afterRemove
}

// states lists p's containers (one-offs as "<service>-run") with their
// states, sorted.
func (p *testProject) states(t *testing.T) []string {
	t.Helper()
	var out []string
	for name, e := range p.ps(t, "-a") {
		if strings.Contains(name, "-run-") {
			name = e.Service + "-run"
		} else {
			name = strings.TrimPrefix(name, p.name+"-")
		}
		out = append(out, name+" "+e.State)
	}
	sort.Strings(out)
	return out
}

// TestUpOneoffOrphans: up counts the stopped one-offs of run, of any
// service, as orphans, as docker compose v5.5.0 (and v2.40.3) does: up -d
// names them in its orphan warning and keeps them; up --remove-orphans
// removes them, as a plan step --dry-run shows, even when it brings up
// another service; a running one-off stays. On the engine, compose v5.5.0
// runs the same scenario beside berth and must end the same.
func TestUpOneoffOrphans(t *testing.T) {
	files := map[string]string{"compose.yaml": `services:
  db:
` + sleepingService + `  web:
` + sleepingService}
	want := func(t *testing.T, tool, warned string, afterUp, afterRemove []string) {
		t.Helper()
		if !strings.Contains(warned, "Found orphan containers (") || !strings.Contains(warned, "-db-run-") || strings.Contains(warned, "-web-run-") {
			t.Errorf("%s: up -d warned %q: want the stopped one-off of db named as an orphan, not the running one of web", tool, warned)
		}
		if w := []string{"db-1 running", "db-run exited", "web-1 running", "web-run running"}; !slices.Equal(afterUp, w) {
			t.Errorf("%s: after up -d: %q, want %q", tool, afterUp, w)
		}
		if w := []string{"db-1 running", "web-1 running", "web-run running"}; !slices.Equal(afterRemove, w) {
			t.Errorf("%s: after up -d --remove-orphans web: %q, want %q", tool, afterRemove, w)
		}
	}
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, files)
		var dryRun string
		warned, afterUp, afterRemove := oneoffScenario(t, p, func(args ...string) result {
			if slices.Contains(args, "--remove-orphans") {
				before := p.states(t)
				dryRun = p.mustRun(t, append([]string{"--dry-run"}, args...)...).stdout
				if after := p.states(t); !slices.Equal(before, after) {
					t.Errorf("--dry-run %s changed %q into %q", strings.Join(args, " "), before, after)
				}
			}
			return p.run(args...)
		})
		want(t, "berth", warned, afterUp, afterRemove)
		if !strings.Contains(dryRun, "remove container "+p.name+"-db-run-") || !strings.Contains(dryRun, ": orphan: a stopped one-off container of run (--remove-orphans)") || strings.Contains(dryRun, "-web-run-") {
			t.Errorf("--dry-run up -d --remove-orphans web:\n%s", dryRun)
		}
		p.mustRun(t, "down", "-t", "0", "--remove-orphans")
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("down --remove-orphans left %q", left)
		}
		if strings.HasPrefix(t.Name(), "TestUpOneoffOrphans/engine") {
			bin := referenceCompose(t, "v5.5.0")
			q := newProject(t, files)
			warned, afterUp, afterRemove := oneoffScenario(t, q, func(args ...string) result { return refCompose(t, bin, q, args...) })
			want(t, "docker compose v5.5.0", warned, afterUp, afterRemove)
			refCompose(t, bin, q, "down", "-t", "0", "--remove-orphans")
		}
	})
}
