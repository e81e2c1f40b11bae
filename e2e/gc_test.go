package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func gcFiles(image string) map[string]string {
	return map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    volumes: [data:/data]
volumes:
  data: {}
`, image)}
}

// TestGC: up --ttl labels what it makes; berth gc --dry-run names the
// expired project and removes nothing; berth gc removes its containers,
// network and volume; a project whose owner process (the parent of the up
// --ttl) is gone goes too; a project without --ttl is never touched; and an
// up of another project reaps what expired first. On both backends.
func TestGC(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		expired := newP(t, gcFiles(busyboxImage()))
		kept := newP(t, gcFiles(busyboxImage()))
		orphaned := newP(t, gcFiles(busyboxImage()))
		later := newP(t, gcFiles(busyboxImage()))
		for _, p := range []*testProject{kept, orphaned, later} {
			p.env = append(p.env, expired.env...) // one engine, or one built-in runtime root
		}
		kept.mustRun(t, "up", "-d")
		// every berth up reaps expired projects: another one running on
		// this machine may take ours first, so try again then
		var dry string
		for attempt := 1; ; attempt++ {
			expired.mustRun(t, "up", "-d", "--ttl", "1s")
			time.Sleep(1500 * time.Millisecond)
			dry = expired.mustRun(t, "gc", "--dry-run").stdout
			if strings.Contains(dry, "would remove project "+expired.name) || attempt == 5 {
				break
			}
		}
		for _, want := range []string{"would remove project " + expired.name + ": expired at", "remove container " + expired.name + "-web-1",
			"remove volume " + expired.name + "_data"} {
			if !strings.Contains(dry, want) {
				t.Errorf("gc --dry-run lacks %q:\n%s", want, dry)
			}
		}
		if strings.Contains(dry, kept.name) {
			t.Errorf("gc --dry-run names a project made without --ttl:\n%s", dry)
		}
		if len(expired.ps(t, "-a")) != 1 {
			t.Fatalf("gc --dry-run removed something")
		}
		expired.mustRun(t, "gc")

		// the owner of orphaned is the sh that runs berth, SIGKILLed
		// right after
		if r := command(t.Context(), orphaned.dir, orphaned.environ(), nil, "sh", "-c", berthBin+" up -d --ttl 1h && kill -KILL $$"); r.code != -1 || !strings.Contains(r.stderr, "signal: killed") {
			t.Fatalf("up --ttl 1h under sh, then SIGKILL: %d %s", r.code, r.stderr)
		}
		if dry := orphaned.mustRun(t, "gc", "--dry-run").stdout; !strings.Contains(dry, "would remove project "+orphaned.name+": the process that made it is gone") {
			t.Errorf("gc --dry-run after the owner is gone:\n%s", dry)
		}
		later.mustRun(t, "up", "-d", "--ttl", "1h") // reaps orphaned first
		for _, p := range []*testProject{expired, orphaned} {
			if ps := p.ps(t, "-a"); len(ps) != 0 {
				t.Errorf("%s after gc: %+v", p.name, ps)
			}
			if r := p.run("--dry-run", "down", "-v"); strings.Contains(r.stdout, "remove") {
				t.Errorf("%s: objects left after gc:\n%s", p.name, r.stdout)
			}
		}
		if ps := kept.ps(t); len(ps) != 1 {
			t.Errorf("the project without --ttl lost its container: %+v", ps)
		}
		if ps := later.ps(t); len(ps) != 1 {
			t.Errorf("the reaping up's own project: %+v", ps)
		}
		if out := later.mustRun(t, "gc").stderr; !strings.Contains(out, "Nothing to remove") {
			t.Errorf("gc with an owner alive and the TTL ahead:\n%s", out)
		}
		kept.mustRun(t, "down", "-v", "-t", "0")
		later.mustRun(t, "down", "-v", "-t", "0")
	})
}
