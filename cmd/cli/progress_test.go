package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func testProgress(mode string, out *bytes.Buffer) (*progress, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return &progress{mode: mode, w: out, op: "up", color: true, size: func() (int, int) { return 80, 24 }, now: clock.now, tasks: map[string]*task{}}, clock
}

func step(op reconcile.Op, object string) *reconcile.Step {
	return &reconcile.Step{Op: op, Object: object, Target: object}
}

func recreateSteps() (create, stop, rename *reconcile.Step) {
	create = step(reconcile.OpCreateContainer, "abc_p-web-1")
	create.Container = &service.ContainerSpec{Labels: map[string]string{service.LabelReplace: "p-web-1"}}
	stop = step(reconcile.OpStopContainer, "p-web-1")
	stop.Cause = "replaced by abc_p-web-1"
	rename = step(reconcile.OpRenameContainer, "abc_p-web-1")
	rename.NewName, rename.Cause = "p-web-1", "replaces the old p-web-1"
	return create, stop, rename
}

// TestProgressPlain: the plain view prints docker compose v5's lines, and
// nothing for the steps compose shows none for.
func TestProgressPlain(t *testing.T) {
	create, stop, rename := recreateSteps()
	wait := step(reconcile.OpWait, "p-db-1")
	wait.Service, wait.Condition, wait.Optional = "db", reconcile.CondCompleted, true
	health := step(reconcile.OpWait, "p-hc-1")
	health.Service, health.Condition = "hc", reconcile.CondHealthy
	tests := []struct {
		name   string
		events []reconcile.Event
		want   string
	}{
		{"start", []reconcile.Event{
			{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusWorking},
			{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusDone},
		}, " Container p-web-1 Starting \n Container p-web-1 Started \n"},
		{"network connect is not shown", []reconcile.Event{
			{Step: step(reconcile.OpConnectNetwork, "p-web-1"), Status: reconcile.StatusWorking},
			{Step: step(reconcile.OpDisconnectNetwork, "p-web-1"), Status: reconcile.StatusDone},
		}, ""},
		{"recreate", []reconcile.Event{
			{Step: create, Status: reconcile.StatusWorking},
			{Step: create, Status: reconcile.StatusDone},
			{Step: stop, Status: reconcile.StatusWorking},
			{Step: stop, Status: reconcile.StatusDone},
			{Step: rename, Status: reconcile.StatusWorking},
			{Step: rename, Status: reconcile.StatusDone},
		}, " Container p-web-1 Recreate \n Container p-web-1 Recreated \n"},
		{"failure", []reconcile.Event{
			{Step: step(reconcile.OpCreateNetwork, "p_default"), Status: reconcile.StatusFailed, Err: errors.New("boom")},
		}, " Network p_default Error boom\n"},
		{"optional dependency", []reconcile.Event{
			{Step: wait, Status: reconcile.StatusWarning, Err: errors.New(`service "db" didn't complete successfully: exit 1`)},
		}, " Container p-db-1 Skipped: optional dependency \"db\" didn't complete successfully: exit 1 \nWARN optional dependency \"db\" didn't complete successfully: exit 1\n"},
		{"optional healthy dependency", []reconcile.Event{
			{Step: health, Status: reconcile.StatusWarning, Err: errors.New("dependency failed to start: container p-hc-1 is unhealthy")},
		}, " Container p-hc-1 Skipped: optional dependency \"hc\" failed to start \nWARN optional dependency \"hc\" failed to start: container p-hc-1 is unhealthy\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p, _ := testProgress("plain", &out)
			for _, e := range tt.events {
				p.event(e)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestProgressRestartWords: restart shows docker compose's Restarting then
// Started.
func TestProgressRestartWords(t *testing.T) {
	var out bytes.Buffer
	p, _ := testProgress("plain", &out)
	p.op = "restart"
	for _, e := range []reconcile.Event{
		{Step: step(reconcile.OpStopContainer, "p-web-1"), Status: reconcile.StatusWorking},
		{Step: step(reconcile.OpStopContainer, "p-web-1"), Status: reconcile.StatusDone},
		{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusWorking},
		{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusDone},
	} {
		p.event(e)
	}
	if want := " Container p-web-1 Restarting \n Container p-web-1 Started \n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestProgressJSON: docker compose's fields, then berth's.
func TestProgressJSON(t *testing.T) {
	var out bytes.Buffer
	p, _ := testProgress("json", &out)
	p.event(reconcile.Event{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusDone})
	p.lineWith("Service", "app", "Building", false, map[string]any{"context_bytes": 42})
	p.event(reconcile.Event{Step: step(reconcile.OpCreateVolume, "p_data"), Status: reconcile.StatusFailed, Err: errors.New("no space")})
	p.warn("careful")
	want := `{"id":"Container p-web-1","status":"Done","text":"Started","version":2,"time":"2026-01-02T03:04:05Z","kind":"Container","name":"p-web-1"}
{"id":"Service app","status":"Working","text":"Building","version":2,"time":"2026-01-02T03:04:05Z","kind":"Service","name":"app","context_bytes":42}
{"id":"Volume p_data","status":"Error","text":"Error","details":"no space","version":2,"time":"2026-01-02T03:04:05Z","kind":"Volume","name":"p_data"}
{"level":"warning","msg":"careful","version":2,"time":"2026-01-02T03:04:05Z","kind":"warning"}
`
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("not JSON: %s", l)
		}
	}
}

// TestProgressTTY: the terminal view, frame by frame, as docker compose
// v5's: the header, marks, aligned status, timers at the right edge, the
// cursor back up to redraw.
func TestProgressTTY(t *testing.T) {
	var out bytes.Buffer
	p, clock := testProgress("tty", &out)
	p.ticking = true // no timer goroutine: frames on events only
	p.detached = true
	net := step(reconcile.OpCreateNetwork, "p_default")
	web := step(reconcile.OpStartContainer, "p-web-1")
	p.event(reconcile.Event{Step: net, Status: reconcile.StatusWorking})
	clock.t = clock.t.Add(200 * time.Millisecond)
	p.event(reconcile.Event{Step: net, Status: reconcile.StatusDone})
	p.event(reconcile.Event{Step: web, Status: reconcile.StatusWorking})
	clock.t = clock.t.Add(1500 * time.Millisecond)
	p.event(reconcile.Event{Step: web, Status: reconcile.StatusDone})
	frames := strings.Split(out.String(), "\x1b[?25h")
	if len(frames) != 5 {
		t.Fatalf("%d frames: %q", len(frames)-1, out.String())
	}
	first := "\x1b[?25l\x1b[0G[+] up 0/1\n \x1b[33m⠋\x1b[0m Network p_default Creating" + strings.Repeat(" ", 47) + "\x1b[34m0.0s\x1b[0m\n"
	if frames[0] != first {
		t.Errorf("first frame\n%q\nwant\n%q", frames[0], first)
	}
	last := "\x1b[?25l\x1b[3A\x1b[0G[+] up 2/2\n" +
		" \x1b[32m✔\x1b[0m Network p_default \x1b[32mCreated\x1b[0m" + strings.Repeat(" ", 48) + "\x1b[34m0.2s\x1b[0m\n" +
		" \x1b[32m✔\x1b[0m Container p-web-1 \x1b[32mStarted\x1b[0m" + strings.Repeat(" ", 48) + "\x1b[34m1.5s\x1b[0m\n"
	if frames[3] != last {
		t.Errorf("last frame\n%q\nwant\n%q", frames[3], last)
	}
}

// TestProgressTTYAttached: attached (no -d), the tty view leaves out
// Starting and Started, as docker compose does not to mix them with the
// containers' output; text scrolls above the block.
func TestProgressTTYAttached(t *testing.T) {
	var out bytes.Buffer
	p, _ := testProgress("tty", &out)
	p.ticking, p.color = true, false
	p.event(reconcile.Event{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusWorking})
	if out.Len() != 0 {
		t.Fatalf("attached: Starting shown: %q", out.String())
	}
	p.event(reconcile.Event{Step: step(reconcile.OpCreateContainer, "p-web-1"), Status: reconcile.StatusDone})
	p.text("hello")
	got := out.String()
	if !strings.Contains(got, "\x1b[2A\x1b[0G\x1b[Jhello\n\x1b[?25l\x1b[0G[+] up 1/1\n ✔ Container p-web-1 Created") {
		t.Errorf("text does not scroll above the block: %q", got)
	}
}

// TestProgressTTYNarrow: on a narrow terminal, details and then ids are
// cut so that each line fits.
func TestProgressTTYNarrow(t *testing.T) {
	var out bytes.Buffer
	p, _ := testProgress("tty", &out)
	p.ticking, p.color = true, false
	p.size = func() (int, int) { return 40, 24 }
	p.event(reconcile.Event{Step: step(reconcile.OpCreateVolume, "a-rather-long-project-name_data"), Status: reconcile.StatusFailed, Err: errors.New("a long explanation of what went wrong")})
	frame := strings.Split(out.String(), "\n")[1]
	if n := len([]rune(frame)); n != 40 {
		t.Errorf("line %q is %d wide, want 40", frame, n)
	}
}

// TestStatusOf: the texts of callers that give no status.
func TestStatusOf(t *testing.T) {
	for text, want := range map[string]string{
		"Copying": statusWorking, "Copied": statusDone, "Waiting": statusWorking, "Healthy": statusDone,
		"Error: x": statusError, "Warning: x": statusWarning, "Skipped - no build": statusWarning,
		"Recreate": statusWorking, "Pulled": statusDone, "": statusDone,
	} {
		if got := statusOf(text); got != want {
			t.Errorf("statusOf(%q) = %s, want %s", text, got, want)
		}
	}
}

// TestLogMuxStatus: the exit line as docker compose's log printer writes
// it, in the container's colour; the colours in compose's order.
func TestLogMuxStatus(t *testing.T) {
	var out bytes.Buffer
	m := &logMux{w: &out, width: 9, color: true, assigned: map[string]string{"exit-1-1": colors[0], "other-1": colors[5]}}
	m.status("exit-1-1", "exited with code 0")
	m.color = false
	m.status("other-1", "exited with code 3 (restarting)")
	want := "\x1b[36m\r\x1b[Kexit-1-1 exited with code 0\n\x1b[0m\r\x1b[Kother-1 exited with code 3 (restarting)\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	if colors[5] != "36;1" {
		t.Errorf("the sixth colour is %s; docker compose's is intense cyan, 36;1", colors[5])
	}
}

// TestNewProgressMode: --progress, COMPOSE_PROGRESS and --ansi pick the
// view as docker compose v5.5.0 does (off a terminal here).
func TestNewProgressMode(t *testing.T) {
	tests := []struct {
		progress, ansi, env, command string
		want, op                     string
	}{
		{"", "auto", "", "up", "plain", "up"},
		{"auto", "always", "", "up", "plain", "up"}, // --ansi always does not make it tty
		{"tty", "auto", "", "rm", "tty", "remove"},
		{"tty", "never", "", "up", "plain", "up"},
		{"none", "auto", "", "cp", "quiet", "copy"},
		{"", "auto", "COMPOSE_PROGRESS=json", "down", "json", "down"},
		{"plain", "auto", "COMPOSE_PROGRESS=json", "down", "plain", "down"},
	}
	for _, tt := range tests {
		var env []string
		if tt.env != "" {
			env = append(env, tt.env)
		}
		g := &globals{progress: tt.progress, ansi: tt.ansi, command: tt.command, env: env, wd: t.TempDir(), stdio: Stdio{Err: &bytes.Buffer{}}}
		p := newProgress(g)
		if p.mode != tt.want || p.op != tt.op {
			t.Errorf("--progress %q --ansi %s %s, %s: mode %s op %s, want %s %s", tt.progress, tt.ansi, tt.env, tt.command, p.mode, p.op, tt.want, tt.op)
		}
	}
}

// TestProgressTTYFinish: once finished, the view is not drawn again, even
// with a step still working (its timer goroutine stops).
func TestProgressTTYFinish(t *testing.T) {
	var out bytes.Buffer
	p, _ := testProgress("tty", &out)
	p.detached = true
	p.event(reconcile.Event{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusWorking})
	p.finish()
	p.mu.Lock()
	n := out.Len()
	p.mu.Unlock()
	p.event(reconcile.Event{Step: step(reconcile.OpStartContainer, "p-db-1"), Status: reconcile.StatusWorking})
	time.Sleep(300 * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	if out.Len() != n {
		t.Errorf("drawn after finish: %q", out.String()[n:])
	}
	if p.ticking {
		t.Error("the timer goroutine still runs after finish")
	}
}

// TestAlreadyStopped: the containers a stop finds stopped, which docker
// compose reports as Stopped too; one-offs, other services and what the
// plan stops are left out.
func TestAlreadyStopped(t *testing.T) {
	c := func(name, svc, state string, oneoff bool) service.Container {
		l := map[string]string{service.LabelService: svc}
		if oneoff {
			l[service.LabelOneoff] = service.OneoffTrue
		}
		return service.Container{Name: name, State: state, Labels: l}
	}
	obs := &reconcile.Observed{Containers: []service.Container{
		c("p-web-1", "web", service.StateExited, false),
		c("p-web-2", "web", service.StateRunning, false),
		c("p-db-1", "db", service.StateCreated, false),
		c("p-web-run-1", "web", service.StateExited, true),
		c("p-cache-1", "cache", service.StatePaused, false),
	}}
	plan := &reconcile.Plan{Steps: []*reconcile.Step{step(reconcile.OpStopContainer, "p-web-2")}}
	tests := []struct {
		services []string
		want     string
	}{
		{nil, "[p-db-1 p-web-1]"},
		{[]string{"web"}, "[p-web-1]"},
		{[]string{"cache"}, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(alreadyStopped(obs, plan, tt.services)); got != tt.want {
			t.Errorf("alreadyStopped(%v) = %s, want %s", tt.services, got, tt.want)
		}
	}
}

// TestRunningUntouched: an up reports as Running the running containers
// of the services it acts on (those named and their dependencies) that
// its plan leaves alone, as docker compose.
func TestRunningUntouched(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  web: {image: busybox, depends_on: [db]}
  db: {image: busybox}
  other: {image: busybox}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(t.Context(), project.Options{ProjectName: "p", WorkingDir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:0123")
	for _, svc := range []string{"web", "db", "other"} {
		id, err := f.CreateContainer(t.Context(), service.ContainerSpec{Name: "p-" + svc + "-1", Image: "busybox", Labels: map[string]string{
			service.LabelProject: "p", service.LabelService: svc, service.LabelContainerNumber: "1",
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.StartContainer(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	wait := step(reconcile.OpWait, "p-db-1")
	tests := []struct {
		args   []string
		noDeps bool
		plan   []*reconcile.Step
		want   string
	}{
		{nil, false, nil, "[p-db-1 p-other-1 p-web-1]"},
		{[]string{"web"}, false, nil, "[p-db-1 p-web-1]"},
		{[]string{"web"}, true, nil, "[p-web-1]"},
		{[]string{"web"}, false, []*reconcile.Step{step(reconcile.OpStopContainer, "p-web-1"), wait}, "[p-db-1]"},
	}
	for _, tt := range tests {
		got := runningUntouched(t.Context(), f, p, &reconcile.Plan{Steps: tt.plan}, upScope(p, tt.args, tt.noDeps))
		if fmt.Sprint(got) != tt.want {
			t.Errorf("up %v (no-deps %v): %v, want %s", tt.args, tt.noDeps, got, tt.want)
		}
	}
}

// TestProgressNoErr: warning and failure events without an error do not
// panic.
func TestProgressNoErr(t *testing.T) {
	var out bytes.Buffer
	p, _ := testProgress("plain", &out)
	w := step(reconcile.OpWait, "p-db-1")
	w.Condition = reconcile.CondHealthy
	for _, e := range []reconcile.Event{
		{Step: w, Status: reconcile.StatusWarning},
		{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusWarning},
		{Step: step(reconcile.OpStartContainer, "p-web-1"), Status: reconcile.StatusFailed},
	} {
		p.event(e)
	}
	if !strings.Contains(out.String(), " Container p-web-1 Error \n") {
		t.Errorf("got %q", out.String())
	}
}
