package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// imagesHeader is docker compose v5.5.0's images table header (columns
// at least 20 wide, 3 apart).
const imagesHeader = "CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED"

// TestImagesColumns: images lists compose v5's columns and JSON keys on
// both backends (size, age and platform from the backend), -q the IDs
// without "sha256:"; on the engine its table and JSON equal docker compose
// v5.5.0's for the same project.
func TestImagesColumns(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": sleeper()})
		p.mustRun(t, "up", "-d")
		t.Cleanup(func() { p.run("down", "-v") })

		table := p.mustRun(t, "images").stdout
		lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != imagesHeader || !strings.HasPrefix(lines[0], "CONTAINER           ") {
			t.Fatalf("images printed\n%s\nwant the header\n%s\nand one line", table, imagesHeader)
		}
		repo, tag, _ := strings.Cut(busyboxImage(), ":")
		row := regexp.MustCompile(`^` + regexp.QuoteMeta(p.name+"-svc-1") + ` +` + regexp.QuoteMeta(repo) + ` +` + regexp.QuoteMeta(tag) +
			` +linux/[a-z0-9]+ +[0-9a-f]{12} +[0-9.]+[kMG]?B +(\S.* ago|N/A)$`)
		if !row.MatchString(lines[1]) {
			t.Errorf("images row %q does not match %s", lines[1], row)
		}

		var list []map[string]any
		out := p.mustRun(t, "images", "--format", "json").stdout
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
			t.Fatalf("images --format json: %v\n%s", err, out)
		}
		// Created too when the image says (the test image of the built-in
		// runtime has no creation time: N/A in the table, as compose)
		for _, k := range []string{"ID", "ContainerName", "Repository", "Tag", "Platform", "Size"} {
			if _, ok := list[0][k]; !ok {
				t.Errorf("images --format json has no %s: %v", k, list[0])
			}
		}
		id, _ := list[0]["ID"].(string)
		if size, _ := list[0]["Size"].(float64); !strings.HasPrefix(id, "sha256:") || size <= 0 || list[0]["ContainerName"] != p.name+"-svc-1" {
			t.Errorf("images --format json = %v", list[0])
		}
		if q := p.mustRun(t, "images", "-q").stdout; q != strings.TrimPrefix(id, "sha256:")+"\n" {
			t.Errorf("images -q = %q, want the ID without sha256:", q)
		}

		if builtinRootOf(p) != "" {
			return
		}
		ref := referenceCompose(t, "v5.5.0")
		if want := refCompose(t, ref, p, "images").stdout; table != want {
			t.Errorf("images\n%s\ndocker compose v5.5.0's\n%s", table, want)
		}
		var refList []map[string]any
		refOut := refCompose(t, ref, p, "images", "--format", "json").stdout
		if err := json.Unmarshal([]byte(refOut), &refList); err != nil {
			t.Fatalf("docker compose images --format json: %v\n%s", err, refOut)
		}
		if a, b := fmt.Sprint(list), fmt.Sprint(refList); a != b {
			t.Errorf("images --format json\n%s\ndocker compose v5.5.0's\n%s", a, b)
		}
	})
}

// eventLine is a line of events --json.
type eventLine struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Service    string            `json:"service"`
	ID         string            `json:"id"`
	Action     string            `json:"action"`
	Attributes map[string]string `json:"attributes"`
}

// parseEvents reads events --json output.
func parseEvents(t *testing.T, out string) []eventLine {
	t.Helper()
	var evs []eventLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e eventLine
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events --json line %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestEventsSinceUntil: events --since replays the project's past events
// and --until ends the stream (exit 0), with compose's JSON keys and text
// form, on both backends; on the engine the same events as docker compose
// v5.5.0's.
func TestEventsSinceUntil(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": sleeper()})
		since := time.Now().Add(-time.Second)
		p.mustRun(t, "up", "-d")
		t.Cleanup(func() { p.run("down", "-v") })
		p.mustRun(t, "stop", "svc")
		until := time.Now().Add(time.Second)
		time.Sleep(time.Until(until))
		s, u := strconv.FormatInt(since.Unix(), 10), strconv.FormatInt(until.Unix()+1, 10)

		start := time.Now()
		r := p.mustRun(t, "events", "--json", "--since", s, "--until", u)
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("events --until took %v: the stream did not end at until", d)
		}
		evs := parseEvents(t, r.stdout)
		var actions []string
		for _, e := range evs {
			actions = append(actions, e.Action)
			if e.Type != "container" || e.Service != "svc" || e.Attributes["name"] != p.name+"-svc-1" || e.Attributes["image"] == "" || e.ID == "" {
				t.Errorf("event %+v: want compose's keys, the service, the name and image attributes", e)
			}
			if e.Action == "kill" && e.Attributes["signal"] != "9" {
				t.Errorf("kill event %+v: want the signal attribute, 9 (stop_signal SIGKILL)", e)
			}
			if _, ok := e.Attributes["com.docker.compose.project"]; ok {
				t.Errorf("event %+v: compose's labels are left out of the attributes", e)
			}
			if e.Time.Before(since.Truncate(time.Second)) || e.Time.After(until.Add(2*time.Second)) {
				t.Errorf("event at %v, outside [%v, %v]", e.Time, since, until)
			}
		}
		for _, want := range []string{"create", "start", "kill", "die"} {
			if !slices.Contains(actions, want) {
				t.Errorf("events %q: no %s", actions, want)
			}
		}

		text := p.mustRun(t, "events", "--since", s, "--until", u).stdout
		line := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} container \S+ \S+ \((\S+=\S*)(, \S+=\S*)*\)$`)
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		if len(lines) != len(evs) {
			t.Errorf("%d text lines, %d JSON events", len(lines), len(evs))
		}
		for _, l := range lines {
			if !line.MatchString(l) {
				t.Errorf("events line %q is not docker compose's form", l)
			}
		}
		if r := p.run("events", "--since", "garbage"); r.code == 0 || !strings.Contains(r.stderr, `failed to parse value as time or duration: "garbage"`) {
			t.Errorf("events --since garbage: exit %d, %s", r.code, r.stderr)
		}

		if builtinRootOf(p) != "" {
			return
		}
		// docker compose v5.5.0 ends its stream at --until with "EOF"
		// and exit 1: its output is what is compared.
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		ref := command(ctx, p.dir, p.environ(), nil, referenceCompose(t, "v5.5.0"), "-p", p.name, "events", "--json", "--since", s, "--until", u)
		want := parseEvents(t, ref.stdout)
		key := func(es []eventLine) string {
			var out []string
			for _, e := range es {
				out = append(out, fmt.Sprintf("%s %s %s %s %v", e.Time.UTC().Format(time.RFC3339Nano), e.Action, e.ID, e.Service, e.Attributes))
			}
			return strings.Join(out, "\n")
		}
		if a, b := key(evs), key(want); a != b {
			t.Errorf("events --json\n%s\ndocker compose v5.5.0's\n%s", a, b)
		}
	})
}
