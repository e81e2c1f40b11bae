package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunEveryCommandOnEngine runs every command that changes state with
// --dry-run against the real engine, the project up, and compares what the
// docker CLI sees of the project before and after: containers (ID, state,
// start time, restarts), networks, volumes, images and the files cp and
// export would write (issue 13; the same list runs on the fake in
// cmd/cli's TestDryRunChangesNothing).
func TestDryRunEveryCommandOnEngine(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{
		"compose.yaml": `services:
  web:
    build: .
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    environment:
      LEVEL: ${LEVEL:-info}
    volumes: [data:/data]
  db:
    image: ` + busyboxImage() + `
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
volumes:
  data: {}
`,
		"Dockerfile": "FROM " + busyboxImage() + "\nRUN echo built > /built\n",
		"host.txt":   "from the host\n",
	})
	t.Cleanup(func() { p.run("down", "-v", "--rmi", "local", "-t", "0") })
	p.mustRun(t, "up", "-d", "--build")
	web := p.name + "-web-1"

	snap := func() string {
		t.Helper()
		filter := "label=com.docker.compose.project=" + p.name
		var b strings.Builder
		ids := strings.Fields(docker(t, "ps", "-aq", "--filter", filter))
		if len(ids) > 0 {
			b.WriteString(docker(t, append([]string{"inspect", "--format",
				"{{.Name}} {{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}} {{.Config.Image}}"}, ids...)...))
		}
		b.WriteString("\nnetworks: " + docker(t, "network", "ls", "--filter", filter, "--format", "{{.Name}}"))
		b.WriteString("\nvolumes: " + docker(t, "volume", "ls", "--filter", filter, "--format", "{{.Name}}"))
		for _, img := range strings.Fields(docker(t, "images", "--format", "{{.Repository}}:{{.Tag}}={{.ID}}")) {
			if strings.HasPrefix(img, p.name) {
				b.WriteString("\nimage " + img)
			}
		}
		for _, f := range []string{"out.txt", "web.tar"} {
			if _, err := os.Stat(filepath.Join(p.dir, f)); err == nil {
				b.WriteString("\nfile " + f)
			}
		}
		return b.String()
	}

	check := func(state string, cmds [][]string) {
		t.Helper()
		before := snap()
		for _, args := range cmds {
			r := p.run(append([]string{"--dry-run"}, args...)...)
			if r.code != 0 {
				t.Errorf("--dry-run %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
			if after := snap(); after != before {
				t.Errorf("%s: --dry-run %s changed the project:\nbefore:\n%s\nafter:\n%s", state, strings.Join(args, " "), before, after)
				before = after
			}
		}
	}

	// the check sees a change: a real restart changes the start time
	before := snap()
	p.mustRun(t, "restart", "db")
	if snap() == before {
		t.Fatal("the snapshot does not see a restart: the test could not fail")
	}

	p.env = []string{"LEVEL=debug"} // up would recreate web
	check("running", [][]string{
		{"up", "-d"},
		{"up", "-d", "--force-recreate", "--build"},
		{"create", "--force-recreate"},
		{"stop"},
		{"restart"},
		{"kill"},
		{"kill", "-s", "SIGKILL", "db"},
		{"pause"},
		{"rm", "-f", "-s"},
		{"scale", "web=3"},
		{"run", "--rm", "db", "true"},
		{"run", "-d", "db", "sleep", "100"},
		{"commit", "web", p.name + "-snap:1"},
		{"build", "--no-cache"},
		{"pull", "--ignore-pull-failures"},
		{"cp", "host.txt", "web:/tmp/host.txt"},
		{"cp", "web:/built", "out.txt"},
		{"export", "-o", "web.tar", "web"},
		{"gc"},
		{"down", "-v", "--rmi", "all"},
	})
	p.env = nil
	if r := p.run("exec", "-T", "web", "test", "-e", "/tmp/host.txt"); r.code == 0 {
		t.Error("--dry-run cp copied host.txt into web")
	}

	p.mustRun(t, "pause", "web")
	check("paused", [][]string{{"unpause"}, {"down"}})
	p.mustRun(t, "unpause", "web")

	p.mustRun(t, "stop", "-t", "0")
	check("stopped", [][]string{{"start"}, {"up", "-d"}, {"rm", "-f"}, {"restart"}})
	if r := docker(t, "inspect", "--format", "{{.State.Status}}", web); r != "exited" {
		t.Errorf("web is %s after the stopped checks", r)
	}
}
