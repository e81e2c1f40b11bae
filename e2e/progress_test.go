package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The progress and stream output of berth next to docker compose v5.5.0's
// (the reference binary), live: the same commands on two projects made of
// the same files, one per tool, the project names masked. Events of
// objects worked on in parallel come in any order, so the comparisons are
// per object: the last line each tool prints for it must be the same, and
// berth prints no line compose does not.

// runTool runs bin (berth or a reference docker compose) with -p p.name in
// p's directory. It never fails the test.
func runTool(bin string, p *testProject, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return command(ctx, p.dir, p.environ(), nil, bin, append([]string{"-p", p.name}, args...)...)
}

// pairProjects makes two projects of the same files: docker compose's and
// berth's.
func pairProjects(t *testing.T, files map[string]string) (ref, berth *testProject) {
	t.Helper()
	return newProject(t, files), newProject(t, files)
}

// mask replaces p's name with P, and one-off slugs with X.
func mask(p *testProject, s string) string {
	s = strings.ReplaceAll(s, p.name, "P")
	return regexp.MustCompile(`-run-[0-9a-f]{12}`).ReplaceAllString(s, "-run-X")
}

// progressLine matches a plain progress line: " Container P-web-1 Started ".
var progressLine = regexp.MustCompile(`^ (Container|Network|Volume|Image) (\S+) `)

// plainLines splits plain progress output into the last line printed for
// each object, every object line printed, and the other lines.
func plainLines(out string) (last map[string]string, all map[string]bool, other []string) {
	last, all = map[string]string{}, map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := progressLine.FindStringSubmatch(l)
		if m == nil {
			if l != "" {
				other = append(other, l)
			}
			continue
		}
		last[m[1]+" "+m[2]] = l
		all[l] = true
	}
	return last, all, other
}

// comparePlain checks berth's plain progress (stderr) against docker
// compose's for one command: the same objects, the same last line for
// each, no line compose does not print; and the same standard output.
func comparePlain(t *testing.T, what string, pc, pb *testProject, rc, rb result) {
	t.Helper()
	failed := false
	errorf := func(format string, args ...any) {
		t.Helper()
		failed = true
		t.Errorf(format, args...)
	}
	if rc.code != rb.code {
		errorf("%s: docker compose exits %d, berth %d\ncompose:\n%s\nberth:\n%s", what, rc.code, rb.code, rc.stderr, rb.stderr)
	}
	if c, b := mask(pc, rc.stdout), mask(pb, rb.stdout); c != b {
		errorf("%s: standard output\ndocker compose:\n%q\nberth:\n%q", what, c, b)
	}
	cl, ca, _ := plainLines(mask(pc, rc.stderr))
	bl, ba, _ := plainLines(mask(pb, rb.stderr))
	for obj, c := range cl {
		if b := bl[obj]; b != c {
			errorf("%s: %s: docker compose ends on %q, berth on %q", what, obj, c, b)
		}
	}
	for obj, b := range bl {
		if _, ok := cl[obj]; !ok {
			errorf("%s: berth reports %s (%q), docker compose does not", what, obj, b)
		}
	}
	for l := range ba {
		if !ca[l] {
			errorf("%s: berth prints %q, docker compose never does", what, l)
		}
	}
	if failed {
		t.Logf("%s\ndocker compose's standard error:\n%s\nberth's:\n%s", what, mask(pc, rc.stderr), mask(pb, rb.stderr))
	}
}

func progressFiles() map[string]string {
	return map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sh", "-c", "echo hello from web; exec sleep 3600"]
    stop_signal: SIGKILL
    depends_on: [db]
  db:
    image: %[1]s
    command: ["sh", "-c", "echo db up; exec sleep 3600"]
    stop_signal: SIGKILL
`, busyboxImage())}
}

// TestProgressPlainAsCompose: --progress plain prints docker compose
// v5.5.0's lines (" Container P-web-1 Started ", its spacing), "Running"
// for containers an up leaves as they are, "Stopped" for those a stop finds
// stopped, and no Disconnecting/Connecting lines when a network is
// recreated.
func TestProgressPlainAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, progressFiles())
	steps := []struct {
		what string
		args []string
		edit string // appended to compose.yaml first
	}{
		{what: "up", args: []string{"up", "-d"}},
		{what: "up with nothing to do", args: []string{"up", "-d"}},
		{what: "up --no-start with nothing to do", args: []string{"up", "-d", "--no-start"}},
		{what: "stop", args: []string{"stop"}},
		{what: "stop of stopped containers", args: []string{"stop"}},
		{what: "start", args: []string{"start"}},
		{what: "up after a network change", args: []string{"up", "-d", "-y"}, edit: "networks:\n  default:\n    labels: {changed: \"1\"}\n"},
		{what: "restart", args: []string{"restart"}},
		{what: "down", args: []string{"down"}},
	}
	for _, s := range steps {
		if s.edit != "" {
			for _, p := range []*testProject{pc, pb} {
				f, err := os.OpenFile(p.dir+"/compose.yaml", os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.WriteString(s.edit)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		args := append([]string{"--progress", "plain"}, s.args...)
		comparePlain(t, s.what, pc, pb, runTool(ref, pc, args...), runTool(berthBin, pb, args...))
	}
}

// TestProgressOptionalDependencyAsCompose: an optional dependency
// (required: false) that does not become ready is reported in docker
// compose's words: "Skipped: optional dependency ..." on its line, and a
// warning with the reason.
func TestProgressOptionalDependencyAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on:
      done: {condition: service_completed_successfully, required: false}
      sick: {condition: service_healthy, required: false}
  done:
    image: %[1]s
    command: ["sh", "-c", "exit 1"]
  sick:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 1}
`, busyboxImage())})
	args := []string{"--progress", "plain", "up", "-d"}
	rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
	comparePlain(t, "up", pc, pb, rc, rb)
	// compose's logger: time="..." level=warning msg="optional dependency \"done\" ..."
	msgs := regexp.MustCompile(`level=warning msg=("(?:[^"\\]|\\.)*")`).FindAllStringSubmatch(mask(pc, rc.stderr), -1)
	if len(msgs) != 2 {
		t.Fatalf("docker compose printed %d warnings, want 2:\n%s", len(msgs), rc.stderr)
	}
	for _, m := range msgs {
		msg, err := strconv.Unquote(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(mask(pb, rb.stderr), "WARN "+msg+"\n") {
			t.Errorf("berth does not warn %q:\n%s", msg, mask(pb, rb.stderr))
		}
	}
	runTool(ref, pc, "down", "-t", "0")
	runTool(berthBin, pb, "down", "-t", "0")
}

// jsonEvents parses --progress json output: the events by id (in order),
// and the warnings' messages.
func jsonEvents(t *testing.T, p *testProject, out string) (events map[string][]map[string]any, warnings []string) {
	t.Helper()
	events = map[string][]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(mask(p, out)), "\n") {
		if l == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("--progress json line %q: %v", l, err)
		}
		if e["level"] == "warning" {
			warnings = append(warnings, fmt.Sprint(e["msg"]))
			continue
		}
		id := fmt.Sprint(e["id"])
		events[id] = append(events[id], e)
	}
	return events, warnings
}

// TestProgressJSONAsCompose: --progress json has docker compose v5.5.0's
// fields with its values (id "Container P-web-1", status Working/Done,
// text "Started"), and berth's versioned fields beside them.
func TestProgressJSONAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, progressFiles())
	for _, args := range [][]string{{"up", "-d"}, {"up", "-d"}, {"up", "-d", "--force-recreate"}, {"stop"}, {"down"}} {
		what := strings.Join(args, " ")
		args = append([]string{"--progress", "json"}, args...)
		rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
		if rc.code != 0 || rb.code != 0 {
			t.Fatalf("%s: docker compose exits %d, berth %d:\n%s\n%s", what, rc.code, rb.code, rc.stderr, rb.stderr)
		}
		ce, _ := jsonEvents(t, pc, rc.stderr)
		be, _ := jsonEvents(t, pb, rb.stderr)
		seen := map[string]bool{}
		for _, evs := range ce {
			for _, e := range evs {
				seen[fmt.Sprint(e["id"], e["status"], e["text"])] = true
			}
		}
		for id, cevs := range ce {
			bevs := be[id]
			if len(bevs) == 0 {
				t.Errorf("%s: berth has no event for %s (docker compose: %v)", what, id, cevs)
				continue
			}
			c, b := cevs[len(cevs)-1], bevs[len(bevs)-1]
			for k, v := range c {
				if b[k] != v {
					t.Errorf("%s: %s: last event's %s is %v, docker compose's %v\nberth: %v\ncompose: %v", what, id, k, b[k], v, b, c)
				}
			}
		}
		for id, bevs := range be {
			if _, ok := ce[id]; !ok {
				t.Errorf("%s: berth reports %s, docker compose does not: %v", what, id, bevs)
			}
			for _, e := range bevs {
				if !seen[fmt.Sprint(e["id"], e["status"], e["text"])] {
					t.Errorf("%s: berth's event %v: docker compose has no such event", what, e)
				}
				if e["version"] != float64(2) || e["time"] == nil || fmt.Sprint(e["kind"], " ", e["name"]) != id {
					t.Errorf("%s: berth's own fields: %v", what, e)
				}
			}
		}
	}
}

// ttyRun runs bin with its standard output and error on a terminal of
// rows×cols and returns what it wrote there.
func ttyRun(t *testing.T, bin string, p *testProject, rows, cols uint16, args ...string) string {
	t.Helper()
	master, slave := openPty(t, rows, cols)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-p", p.name}, args...)...)
	cmd.Dir, cmd.Env = p.dir, p.environ()
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&out, master) // ends with EIO once the slave is closed
	}()
	err := cmd.Wait()
	slave.Close()
	<-done
	if err != nil {
		t.Fatalf("%s %s on a terminal: %v\n%q", bin, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

var (
	ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	ttyTimer   = regexp.MustCompile(` +\x1b\[34m\d+\.\ds\x1b\[0m$`)
	spinner    = regexp.MustCompile(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]`)
)

// lastFrame returns the last frame a tty view drew: its header and its
// lines, sorted, the timers masked ("<timer>"), after checking that each
// line's timer ends at the right edge of a cols-wide terminal.
func lastFrame(t *testing.T, who string, p *testProject, out string, cols int) (header string, lines []string) {
	t.Helper()
	out = strings.ReplaceAll(out, "\r", "")
	frames := strings.Split(out, "\x1b[?25l")
	frame := frames[len(frames)-1]
	frame, _, _ = strings.Cut(frame, "\x1b[?25h")
	// the cursor moves before the header
	frame = regexp.MustCompile(`^(\x1b\[\d+A)?\x1b\[0G`).ReplaceAllString(frame, "")
	rows := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
	if len(rows) < 2 {
		t.Fatalf("%s: no tty frame in %q", who, out)
	}
	for _, l := range rows[1:] {
		if n := len([]rune(ansiEscape.ReplaceAllString(l, ""))); n != cols {
			t.Errorf("%s: line %q is %d wide, want %d (the timer at the right edge)", who, l, n, cols)
		}
		l = mask(p, l)
		lines = append(lines, spinner.ReplaceAllString(ttyTimer.ReplaceAllString(l, " <timer>"), "<spin>"))
	}
	sort.Strings(lines)
	return mask(p, rows[0]), lines
}

// TestProgressTTYAsCompose: on a terminal, the view is docker compose
// v5.5.0's: the "[+] up 3/3" header, a ✔ (green) per object done, the
// status aligned and coloured, the timer right-aligned (blue), redrawn in
// place.
func TestProgressTTYAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, progressFiles())
	const rows, cols = 30, 100
	for _, args := range [][]string{{"up", "-d"}, {"up", "-d"}, {"stop"}, {"rm", "-f"}, {"up", "-d"}, {"down"}} {
		what := strings.Join(args, " ")
		c := ttyRun(t, ref, pc, rows, cols, args...)
		b := ttyRun(t, berthBin, pb, rows, cols, args...)
		ch, cl := lastFrame(t, "docker compose "+what, pc, c, cols)
		bh, bl := lastFrame(t, "berth "+what, pb, b, cols)
		if ch != bh || !slices.Equal(cl, bl) {
			t.Errorf("%s: the last frame\ndocker compose:\n%s\n%s\nberth:\n%s\n%s", what, ch, strings.Join(cl, "\n"), bh, strings.Join(bl, "\n"))
		}
		if !strings.Contains(b, "\x1b[0G[+] ") || (strings.Count(b, "[+] ") > 1 && !regexp.MustCompile(`\x1b\[\d+A\x1b\[0G\[\+\] `).MatchString(b)) {
			t.Errorf("%s: berth does not redraw in place: %q", what, b)
		}
	}
}

// TestAttachedUpAsCompose: up without -d writes "Attaching to" and the
// containers' standard output to standard output, their standard error to
// standard error, both behind "name  | ", and each exit as docker compose
// does ("\r\x1b[Kexit-1-1 exited with code 0", no prefix).
func TestAttachedUpAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  exit-1:
    image: %[1]s
    command: ["sh", "-c", "echo out line; echo err line >&2; exit 0"]
  other:
    image: %[1]s
    command: ["sh", "-c", "echo two; sleep 1; exit 3"]
`, busyboxImage())})
	args := []string{"--progress", "plain", "up"}
	rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
	if rc.code != rb.code {
		t.Errorf("docker compose exits %d, berth %d", rc.code, rb.code)
	}
	// docker compose pads the prefixes to the longest name among the
	// containers whose output it has seen so far (so "other-1  | " or
	// "other-1   | " by chance); berth to the longest of all from the
	// start: the padding is left out of the comparison
	pad := regexp.MustCompile(`(?m)^(\S+) +\| `)
	sorted := func(s string) []string {
		l := strings.Split(strings.TrimSuffix(pad.ReplaceAllString(s, "$1 | "), "\n"), "\n")
		sort.Strings(l)
		return l
	}
	if c, b := sorted(mask(pc, rc.stdout)), sorted(mask(pb, rb.stdout)); !slices.Equal(c, b) {
		t.Errorf("standard output (sorted)\ndocker compose:\n%q\nberth:\n%q", c, b)
	}
	for _, l := range []string{"exit-1-1  | err line\n"} {
		if !strings.Contains(rc.stderr, l) {
			t.Fatalf("docker compose's standard error has no %q:\n%s", l, rc.stderr)
		}
		if !strings.Contains(rb.stderr, l) {
			t.Errorf("berth's standard error has no %q:\n%s", l, rb.stderr)
		}
	}
	// the progress lines too: "Started" shows in the plain view
	_, ca, _ := plainLines(mask(pc, rc.stderr))
	_, ba, _ := plainLines(mask(pb, rb.stderr))
	for l := range ca {
		if !ba[l] && !strings.Contains(l, "Creating") && !strings.Contains(l, "Created") && !strings.Contains(l, "Starting") {
			t.Errorf("berth does not print %q", l)
		}
	}
	runTool(ref, pc, "down", "-t", "0")
	runTool(berthBin, pb, "down", "-t", "0")

	// On a terminal: the view leaves Starting and Started out (not to mix
	// them with the containers' output), as docker compose's.
	const rows, cols = 30, 100
	ch, cl := lastFrame(t, "docker compose up", pc, ttyRun(t, ref, pc, rows, cols, "up"), cols)
	bh, bl := lastFrame(t, "berth up", pb, ttyRun(t, berthBin, pb, rows, cols, "up"), cols)
	if ch != bh || !slices.Equal(cl, bl) {
		t.Errorf("attached up on a terminal: the last frame\ndocker compose:\n%s\n%s\nberth:\n%s\n%s", ch, strings.Join(cl, "\n"), bh, strings.Join(bl, "\n"))
	}
	runTool(ref, pc, "down", "-t", "0")
	runTool(berthBin, pb, "down", "-t", "0")
}

// TestRunStreamsAsCompose: run prints the one-off container's progress on
// standard error (and its running dependencies as Running), its output on
// the streams it wrote to, and with -d its ID on standard output, as
// docker compose does.
func TestRunStreamsAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  box:
    image: %[1]s
    command: ["sh", "-c", "echo out line; echo err line >&2"]
    depends_on: [dep]
  dep:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
`, busyboxImage())})
	for _, args := range [][]string{
		{"run", "--rm", "box"}, // creates dep
		{"run", "--rm", "-T", "box", "sh", "-c", "echo o; echo e >&2; exit 2"}, // "Container P-dep-1 Running"
		{"run", "--rm", "--no-deps", "box"},
	} {
		what := strings.Join(args, " ")
		args = append([]string{"--progress", "plain"}, args...)
		rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
		comparePlain(t, what, pc, pb, rc, rb)
		_, _, co := plainLines(mask(pc, rc.stderr))
		_, _, bo := plainLines(mask(pb, rb.stderr))
		if !slices.Equal(co, bo) {
			t.Errorf("%s: standard error besides the progress\ndocker compose: %q\nberth: %q", what, co, bo)
		}
	}
	args := []string{"--progress", "plain", "run", "-d", "box", "sleep", "60"}
	rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
	id := regexp.MustCompile(`^[0-9a-f]{64}\n$`)
	if !id.MatchString(rc.stdout) {
		t.Fatalf("docker compose run -d printed %q", rc.stdout)
	}
	if !id.MatchString(rb.stdout) {
		t.Errorf("berth run -d printed %q, want the container's ID as docker compose", rb.stdout)
	}
	runTool(ref, pc, "down", "-t", "0")
	runTool(berthBin, pb, "down", "-t", "0")
}

// TestHookFailureAsCompose: a post_start hook that fails is reported with
// docker compose's words first ("web hook exited with status 3"), berth's
// details after them.
func TestHookFailureAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	pc, pb := pairProjects(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    post_start:
      - command: ["sh", "-c", "echo hook out; exit 3"]
`, busyboxImage())})
	args := []string{"--progress", "plain", "up", "-d"}
	rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
	if rc.code == 0 || rb.code == 0 {
		t.Fatalf("a failing hook: docker compose exits %d, berth %d", rc.code, rb.code)
	}
	last := func(s string) string {
		l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		return l[len(l)-1]
	}
	if c, b := last(rc.stderr), last(rb.stderr); !strings.HasPrefix(b, c) {
		t.Errorf("the error: docker compose %q, berth %q", c, b)
	}
	runTool(ref, pc, "down", "-t", "0")
	runTool(berthBin, pb, "down", "-t", "0")
}

// TestBuildOutputStreamAsCompose: a build's output goes to standard
// output, its progress (" Image P-app:latest Built ") to standard error,
// as docker compose's.
func TestBuildOutputStreamAsCompose(t *testing.T) {
	requireEngine(t)
	ref := referenceCompose(t, "v5.5.0")
	files := map[string]string{
		"Dockerfile": "FROM " + busyboxImage() + "\nRUN echo building-now\n",
	}
	pc, pb := newProject(t, files), newProject(t, files)
	for _, p := range []*testProject{pc, pb} {
		p.writeFile(t, "compose.yaml", "services:\n  app:\n    build: .\n    image: "+p.name+"-app:latest\n    command: [\"true\"]\n")
	}
	args := []string{"--progress", "plain", "build", "--no-cache"}
	rc, rb := runTool(ref, pc, args...), runTool(berthBin, pb, args...)
	if rc.code != 0 || rb.code != 0 {
		t.Fatalf("build: docker compose exits %d, berth %d\n%s\n%s", rc.code, rb.code, rc.stderr, rb.stderr)
	}
	if !strings.Contains(rc.stdout, "building-now") || strings.Contains(rc.stderr, "building-now") {
		t.Fatalf("docker compose's build output is not on standard output only:\n%s\n%s", rc.stdout, rc.stderr)
	}
	if !strings.Contains(rb.stdout, "building-now") || strings.Contains(rb.stderr, "building-now") {
		t.Errorf("berth's build output is not on standard output only:\nstdout:\n%s\nstderr:\n%s", rb.stdout, rb.stderr)
	}
	// the progress: " Image P-app:latest Building ", then "Built"
	cl, _, _ := plainLines(mask(pc, rc.stderr))
	bl, _, _ := plainLines(mask(pb, rb.stderr))
	if fmt.Sprint(cl) != fmt.Sprint(bl) {
		t.Errorf("the build's progress\ndocker compose: %q\nberth: %q", cl, bl)
	}
	for _, p := range []*testProject{pc, pb} {
		docker(t, "image", "rm", "-f", p.name+"-app:latest")
	}
}
