package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLogsVolumesMatchCompose: logs' selection flags (--tail, --index,
// --no-log-prefix, services) and volumes' listings print what docker
// compose v5.5.0 prints for the same project.
func TestLogsVolumesMatchCompose(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	p := newProject(t, map[string]string{
		"compose.yaml": "services:\n  talk:\n    image: " + busyboxImage() + "\n" +
			"    command: [\"sh\", \"-c\", \"echo one; echo two; echo three; sleep 300\"]\n    deploy: {replicas: 2}\n" +
			"  db:\n    image: " + busyboxImage() + "\n    command: [\"sh\", \"-c\", \"echo ready; sleep 300\"]\n    volumes: [data:/data]\n" +
			"volumes:\n  data: {}\n",
	})
	p.mustRun(t, "up", "-d", "--wait")
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.mustRun(t, "logs", "talk").stdout, "three") < 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, args := range [][]string{
		{"logs", "--no-color"},
		{"logs", "--no-color", "--tail", "1", "talk"},
		{"logs", "--no-color", "--index", "2", "talk"},
		{"logs", "--no-log-prefix", "-n", "2", "db", "talk"},
		{"volumes", "-q"},
		{"volumes", "-q", "talk"},
		{"volumes", "--format", "{{.Name}} {{.Driver}}", "db"},
	} {
		// the containers' lines interleave as they come: compared sorted;
		// docker compose pads the prefixes to the longest name seen so far
		// (its presenters register at a container's first line), berth to
		// the longest of all from the start: compared without the padding
		want := unpadded(lines(refCompose(t, bin, p, args...).stdout))
		got := unpadded(lines(p.mustRun(t, args...).stdout))
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("berth %s:\n%s\ndocker compose v5.5.0:\n%s", strings.Join(args, " "), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// unpadded is ls with the spaces before a log prefix's "|" collapsed.
func unpadded(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		if name, rest, ok := strings.Cut(l, " | "); ok {
			l = strings.TrimRight(name, " ") + " | " + rest
		}
		out[i] = l
	}
	return out
}
