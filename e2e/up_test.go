package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// threeTier is the e2e project: a db with a healthcheck and a volume, an api
// that waits for it to be healthy (and restarts with it), and a web server
// published on an ephemeral host port.
func threeTier(dbMode string) string {
	return fmt.Sprintf(`
services:
  db:
    image: %[1]s
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]
    environment:
      DB_MODE: %[2]s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
    volumes: ["data:/data"]
    stop_signal: SIGKILL
  api:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy, restart: true}
  web:
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /www && echo hello from $$HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["127.0.0.1::8080"]
    stop_signal: SIGKILL
    depends_on: [api]
volumes:
  data: {}
`, busyboxImage(), dbMode)
}

// psEntry is the part of ps --format json the tests read.
type psEntry struct {
	ID, Name, Service, State, Health string
	Publishers                       []struct {
		URL           string
		TargetPort    int
		PublishedPort int
	}
}

func (p *testProject) ps(t *testing.T, args ...string) map[string]psEntry {
	t.Helper()
	out := p.mustRun(t, append([]string{"ps", "--format", "json"}, args...)...).stdout
	got := map[string]psEntry{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e psEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("ps --format json line %q: %v", line, err)
		}
		got[e.Name] = e
	}
	return got
}

func (p *testProject) writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startedAt is when a container of p last started.
func (p *testProject) startedAt(t *testing.T, id string) time.Time {
	t.Helper()
	return p.inspect(t, id).StartedAt
}

// TestUpThreeTier is the main scenario: up, no-op up, a changed variable,
// scale up and down, down -v; on both backends.
func TestUpThreeTier(t *testing.T) {
	onBothBackends(t, testUpThreeTier)
}

func testUpThreeTier(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{"compose.yaml": threeTier("one")})

	p.mustRun(t, "up", "-d", "--wait")
	// exec of a command the image lacks: the engine's code and message.
	for _, c := range []string{"nosuch", "/nosuch", "/etc"} {
		if r := p.run("exec", "-T", "db", c); r.code != 126 || !strings.Contains(r.stdout, "exec: \""+c+"\"") {
			t.Errorf("exec %s: exit %d, output %q; want 126 and the exec error (on stdout, as docker)", c, r.code, r.stdout+r.stderr)
		}
	}
	ps := p.ps(t)
	db, api, web := ps[p.name+"-db-1"], ps[p.name+"-api-1"], ps[p.name+"-web-1"]
	if db.State != "running" || db.Health != "healthy" || api.State != "running" || web.State != "running" {
		t.Fatalf("after up --wait: %+v", ps)
	}
	if len(web.Publishers) == 0 || web.Publishers[0].PublishedPort == 0 {
		t.Fatalf("web publishes no port: %+v", web)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", web.Publishers[0].PublishedPort))
	if err != nil {
		t.Fatalf("web not reachable from the host: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello from") {
		t.Errorf("web answered %q", body)
	}
	// the backend itself sees the compose labels and names
	if l := p.inspect(t, p.name+"-web-1").Labels; l["com.docker.compose.service"]+" "+l["com.docker.compose.container-number"] != "web 1" {
		t.Errorf("labels of web-1: %v", l)
	}

	// no-op: nothing recreated or restarted
	apiStarted := p.startedAt(t, api.ID)
	if out := p.mustRun(t, "up", "-d", "--dry-run").stdout; !strings.Contains(out, "Nothing to do") {
		t.Errorf("dry-run of a no-op up plans:\n%s", out)
	}
	p.mustRun(t, "up", "-d")
	ps2 := p.ps(t)
	for name, e := range ps {
		if ps2[name].ID != e.ID {
			t.Errorf("no-op up recreated %s", name)
		}
	}
	if p.startedAt(t, api.ID) != apiStarted {
		t.Errorf("no-op up restarted api")
	}

	// change one variable of db: db recreated, api (restart: true) restarted, web untouched
	p.writeFile(t, "compose.yaml", threeTier("two"))
	plan := p.mustRun(t, "up", "-d", "--dry-run").stdout
	if !strings.Contains(plan, "recreate "+p.name+"-db-1: config hash changed (environment.DB_MODE)") {
		t.Errorf("the plan does not say why db is recreated:\n%s", plan)
	}
	if len(p.ps(t)) != 3 || p.ps(t)[p.name+"-db-1"].ID != db.ID {
		t.Fatalf("--dry-run changed something")
	}
	webStarted := p.startedAt(t, web.ID)
	p.mustRun(t, "up", "-d", "--wait")
	ps3 := p.ps(t)
	if ps3[p.name+"-db-1"].ID == db.ID {
		t.Errorf("db was not recreated")
	}
	if ps3[p.name+"-api-1"].ID != api.ID || p.startedAt(t, api.ID) == apiStarted {
		t.Errorf("api should be kept but restarted (restart: true)")
	}
	if ps3[p.name+"-web-1"].ID != web.ID || p.startedAt(t, web.ID) != webStarted {
		t.Errorf("web should be left alone")
	}
	if got := p.mustRun(t, "exec", "-T", "db", "sh", "-c", "echo $DB_MODE").stdout; got != "two\n" {
		t.Errorf("db env DB_MODE = %q, want two", got)
	}

	// scale 1 → 3 → 1, keeping the low numbers
	p.mustRun(t, "up", "-d", "--scale", "web=3")
	ps4 := p.ps(t, "web")
	for i := 1; i <= 3; i++ {
		if ps4[fmt.Sprintf("%s-web-%d", p.name, i)].State != "running" {
			t.Errorf("web-%d not running after scale 3: %+v", i, ps4)
		}
	}
	p.mustRun(t, "up", "-d", "--scale", "web=1")
	ps5 := p.ps(t, "-a", "web")
	if len(ps5) != 1 || ps5[p.name+"-web-1"].ID != web.ID {
		t.Errorf("after scale 1: %+v", ps5)
	}

	p.mustRun(t, "down", "-v")
	if left := p.leftovers(t); len(left) > 0 {
		t.Errorf("after down -v: %v", left)
	}
	// down again: nothing to do, no error
	p.mustRun(t, "down", "-v")
}

func TestRun(t *testing.T) {
	onBothBackends(t, testRun)
}

func testRun(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  tool:
    image: %s
    environment: {GREETING: hi}
`, busyboxImage())})
	if r := p.run("run", "--rm", "tool", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("run --rm exit 3: got %d (%s)", r.code, r.stderr)
	}
	if r := p.runStdin("piped data\n", "run", "--rm", "-T", "tool", "cat"); r.code != 0 || r.stdout != "piped data\n" {
		t.Errorf("run with stdin: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r := p.mustRun(t, "run", "--rm", "-e", "EXTRA=1", "tool", "sh", "-c", "echo $GREETING $EXTRA $(id -u)")
	if r.stdout != "hi 1 0\n" {
		t.Errorf("run env: %q", r.stdout)
	}
	r = p.mustRun(t, "run", "--rm", "-u", "nobody", "tool", "id", "-u")
	if r.stdout != "65534\n" {
		t.Errorf("run -u nobody: %q", r.stdout)
	}
	p.mustRun(t, "down")
	if left := p.leftovers(t); len(left) > 0 {
		t.Errorf("run --rm, then down, left %v", left)
	}
}

func TestExitCodeFrom(t *testing.T) {
	onBothBackends(t, testExitCodeFrom)
}

func testExitCodeFrom(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  server:
    image: %[1]s
    command: ["sh", "-c", "echo server up; exec sleep 3600"]
    stop_signal: SIGKILL
  tests:
    image: %[1]s
    command: ["sh", "-c", "sleep 1; echo running tests; sleep 1; exit 7"]
    depends_on: [server]
`, busyboxImage())})
	r := p.run("up", "--exit-code-from", "tests")
	if r.code != 7 {
		t.Fatalf("up --exit-code-from tests: code %d, want 7\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "tests-1") || !strings.Contains(r.stdout, "running tests") {
		t.Errorf("attached output lacks the prefixed line:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "server up") {
		t.Errorf("up of every service does not show server's output:\n%s", r.stdout)
	}
	if ps := p.ps(t); len(ps) != 0 {
		t.Errorf("containers still running after the abort: %+v", ps)
	}
	// up of one service shows its output only, unless --attach-dependencies.
	r = p.run("up", "--exit-code-from", "tests", "tests")
	if r.code != 7 || strings.Contains(r.stdout, "server up") || !strings.Contains(r.stdout, "running tests") {
		t.Errorf("up tests: code %d, output:\n%s\nwant 7, tests' output and not server's", r.code, r.stdout)
	}
	if ps := p.ps(t); len(ps) != 0 {
		t.Errorf("up tests: the abort left its dependency running: %+v", ps)
	}
	r = p.run("up", "--attach-dependencies", "--exit-code-from", "tests", "tests")
	if r.code != 7 || !strings.Contains(r.stdout, "server up") {
		t.Errorf("up --attach-dependencies tests: code %d, output:\n%s\nwant 7 and server's output", r.code, r.stdout)
	}
	p.mustRun(t, "down")
}

func TestUpWaitUnhealthy(t *testing.T) {
	onBothBackends(t, testUpWaitUnhealthy)
}

func testUpWaitUnhealthy(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  db:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 2
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    depends_on:
      db: {condition: service_healthy}
`, busyboxImage())})
	start := time.Now()
	r := p.run("up", "-d", "--wait")
	if r.code == 0 {
		t.Fatalf("up --wait succeeded with an unhealthy dependency")
	}
	if !strings.Contains(r.stderr, p.name+"-db-1 is unhealthy") {
		t.Errorf("the error does not name the unhealthy container:\n%s", r.stderr)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("took %v to fail", time.Since(start))
	}
	if e, ok := p.ps(t, "-a")[p.name+"-app-1"]; ok && e.State == "running" {
		t.Errorf("app started although its dependency is unhealthy")
	}
	p.mustRun(t, "down", "-t", "0")
}

func TestUpWaitHealthy(t *testing.T) {
	onBothBackends(t, testUpWaitHealthy)
}

func testUpWaitHealthy(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  init:
    image: %[1]s
    command: ["true"]
  db:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully}
`, busyboxImage())})
	p.mustRun(t, "up", "-d", "--wait", "--wait-timeout", "60")
	ps := p.ps(t, "-a")
	if ps[p.name+"-app-1"].State != "running" || ps[p.name+"-db-1"].Health != "healthy" || ps[p.name+"-init-1"].State != "exited" {
		t.Errorf("after up --wait: %+v", ps)
	}
	p.mustRun(t, "down", "-t", "0")
}

// TestCtrlC sends SIGINT to an attached up: the services stop and the exit
// code is 130.
func TestCtrlC(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  svc:
    image: %s
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"]
`, busyboxImage())})
	bg := startBerth(t, p, "up")
	bg.waitOutput(t, "ready")
	if code := bg.interrupt(t); code != 130 {
		t.Errorf("exit code %d, want 130\n%s", code, bg.output())
	}
	if !strings.Contains(bg.output(), "got TERM") {
		t.Errorf("the container was not stopped gracefully:\n%s", bg.output())
	}
	if ps := p.ps(t); len(ps) != 0 {
		t.Errorf("still running: %+v", ps)
	}
}

func TestUpBadInput(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": `
services:
  app:
    image: berth-test/does-not-exist:1
`})
	if r := p.run("up", "-d", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "no such service: nosuch") {
		t.Errorf("up of an unknown service: code %d, stderr %q", r.code, r.stderr)
	}
	// a missing image is pulled; no registry has it
	r := p.run("up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `service app: pull image "berth-test/does-not-exist:1"`) {
		t.Errorf("up with a missing image: code %d, stderr %q", r.code, r.stderr)
	}
	r = p.run("up", "-d", "--pull", "never")
	if r.code == 0 || !strings.Contains(r.stderr, "service app: image berth-test/does-not-exist:1 is not present, and the pull policy is never") {
		t.Errorf("up --pull never with a missing image: code %d, stderr %q", r.code, r.stderr)
	}
	if out := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+p.name); out != "" {
		t.Errorf("a failed up left containers: %s", out)
	}
	if r := p.run("up", "-d", "--scale", "app=x"); r.code == 0 || !strings.Contains(r.stderr, "invalid --scale") {
		t.Errorf("bad --scale: code %d, stderr %q", r.code, r.stderr)
	}
}

// TestUpAttachedRestarts: an attached up shows every run a restart policy
// makes, each once, then the last exit.
func TestUpAttachedRestarts(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  flaky:
    image: %s
    command: ["sh", "-c", "echo run; exit 3"]
    restart: on-failure:2
`, busyboxImage())})
		r := p.run("up")
		if n := strings.Count(r.stdout, "flaky-1  | run\n"); n != 3 || !strings.Contains(r.stdout, "flaky-1 exited with code 3") && !strings.Contains(r.stdout, "flaky-1  | exited with code 3") {
			t.Errorf("up with on-failure:2: %d runs shown, want 3, then the exit:\n%s\n%s", n, r.stdout, r.stderr)
		}
		p.mustRun(t, "down")
	})
}
