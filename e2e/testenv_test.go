package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// testStack is the stack (a one-shot migration, a db with a
// healthcheck publishing a fixed host port, an app depending on the db),
// and, with tests, a tests service (under a profile, so that up leaves it)
// that exits with code 5 after printing.
func testStack(port int, tests bool) string {
	s := fmt.Sprintf(`services:
  migrate:
    image: berth-test/busybox
    command: ["sh", "-c", "echo migrated"]
  db:
    image: berth-test/busybox
    command: ["sh", "-c", "echo db up; touch /ready; trap 'exit 0' TERM; sleep 1000 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 1s, retries: 30}
    ports: ["%d:5432"]
  app:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on:
      db: {condition: service_healthy}
`, port)
	if tests {
		s += `  tests:
    image: berth-test/busybox
    command: ["sh", "-c", "sleep 1; echo tests ran; exit 5"]
    depends_on: [app, migrate]
    profiles: [tests]
`
	}
	return s
}

// testProjectRe finds the project name berth test prints.
var testProjectRe = regexp.MustCompile(`berth test: project (\S+)`)

// generated is p under the project name berth test printed in stderr (which
// must start with p's name): its leftovers are that project's, and its
// engine objects are removed when the test ends.
func generated(t *testing.T, p *testProject, stderr string) *testProject {
	t.Helper()
	m := testProjectRe.FindStringSubmatch(stderr)
	if m == nil || !strings.HasPrefix(m[1], p.name+"-") || len(m[1]) != len(p.name)+9 {
		t.Fatalf("berth test printed no project name %s-<8 hex digits>:\n%s", p.name, stderr)
	}
	g := *p
	g.name = m[1]
	t.Cleanup(func() { _ = g.removeEngineObjects() })
	return &g
}

// TestBerthTest: berth test on both backends, on the stack: a
// passing command gets the endpoints (on an ephemeral port, not the file's)
// in its environment and file, under a unique project name; a failing one
// gives its exit code and the logs and health of every service; --service
// runs a one-off whose code is berth's while the one-shot's exit does not
// abort; --keep-on-failure keeps the project. Nothing is left after each.
func TestBerthTest(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": testStack(25432, false), "tests/compose.yaml": testStack(25433, true)})

		r := p.run("test", "--endpoints-file", "out/endpoints.json", "--",
			"sh", "-c", `test "$DB_5432_PORT" != 25432 && test "$DB_5432" = "127.0.0.1:$DB_5432_PORT" && echo "ok $COMPOSE_PROJECT_NAME $DB_5432_PORT"`)
		g := generated(t, p, r.stderr)
		if r.code != 0 || !strings.Contains(r.stdout, "ok "+g.name+" ") {
			t.Errorf("berth test of a passing command: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		port := strings.Fields(r.stdout + " x x x")[2]
		if data, err := os.ReadFile(filepath.Join(p.dir, "out", "endpoints.json")); err != nil || !strings.Contains(string(data), `"port": `+port) ||
			!strings.Contains(string(data), `"project": "`+g.name+`"`) {
			t.Errorf("endpoints file %s (%v): want project %s, port %s", data, err, g.name, port)
		}
		if _, err := os.Stat(filepath.Join(p.dir, "berth-logs")); err == nil {
			t.Error("logs written though the command passed")
		}
		if left := g.leftovers(t); len(left) > 0 {
			t.Errorf("left behind after a passing run: %v", left)
		}

		r = p.run("-p", p.name, "test", "--logs-dir", "logs", "--", "sh", "-c", "exit 3")
		if r.code != 3 {
			t.Errorf("berth test -- sh -c 'exit 3': exit %d, want 3\n%s", r.code, r.stderr)
		}
		for svc, want := range map[string]string{"db": "db up\n==> " + p.name + "-db-1 health: healthy <==\n", "migrate": "migrated\n", "app": ""} {
			data, err := os.ReadFile(filepath.Join(p.dir, "logs", svc+".log"))
			if err != nil || string(data) != want {
				t.Errorf("logs/%s.log: %q (%v), want %q", svc, data, err, want)
			}
		}
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("left behind after a failing run: %v", left)
		}

		r = p.run("-f", "tests/compose.yaml", "-p", p.name, "test", "--service", "tests")
		if r.code != 5 || !strings.Contains(r.stdout, "tests ran") {
			t.Errorf("berth test --service tests: exit %d, want 5 after the tests ran\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("left behind after --service: %v", left)
		}

		r = p.run("-p", p.name, "test", "--keep-on-failure", "--", "false")
		if r.code != 1 || !strings.Contains(r.stderr, "kept") || len(p.leftovers(t)) == 0 {
			t.Errorf("--keep-on-failure: exit %d, leftovers %v\n%s", r.code, p.leftovers(t), r.stderr)
		}
		p.mustRun(t, "down", "-v", "-t", "0")
	})
}

// TestBerthTestInterrupted: SIGINT while the command runs ends it, and
// berth test takes everything down and exits 130; --timeout does the same
// with 124 and the logs; on both backends.
func TestBerthTestInterrupted(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": testStack(25434, false)})
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		marker := filepath.Join(p.dir, "started")
		cmd := exec.CommandContext(ctx, berthBin, "-p", p.name, "test", "--", "sh", "-c", "echo $$ > "+marker+"; exec sleep 600")
		cmd.Dir, cmd.Env = p.dir, p.environ()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.WaitDelay = waitDelay
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var pid string
		eventually(t, func() string {
			data, err := os.ReadFile(marker)
			if pid = strings.TrimSpace(string(data)); err != nil || pid == "" {
				return "the command has not started"
			}
			return ""
		})
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("berth test after SIGINT: exit %d (%v), want 130\n%s", code, err, stderr.String())
		}
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("left behind after SIGINT: %v", left)
		}
		if stat, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
			t.Errorf("the command (pid %s) still runs: %s", pid, stat)
		}

		r := p.run("-p", p.name, "test", "--timeout", "3s", "--logs-dir", "timeout-logs", "--", "sleep", "600")
		if _, err := os.Stat(filepath.Join(p.dir, "timeout-logs", "db.log")); r.code != 124 || !strings.Contains(r.stderr, "timeout after 3s") || err != nil {
			t.Errorf("berth test --timeout 3s -- sleep 600: exit %d, want 124 with the logs (%v)\n%s", r.code, err, r.stderr)
		}
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("left behind after --timeout: %v", left)
		}
	})
}

// TestBerthTestParallel: four copies of one project with a fixed host
// port, run with berth test at the same time, all pass, each on its own
// ephemeral port.
func TestBerthTestParallel(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": testStack(25435, false)})
		var wg sync.WaitGroup
		results := make([]result, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = p.run("test", "--", "sh", "-c", `echo "port=$DB_5432_PORT"`)
			}()
		}
		wg.Wait()
		ports := map[string]bool{}
		for _, r := range results {
			g := generated(t, p, r.stderr)
			m := regexp.MustCompile(`port=(\d+)`).FindStringSubmatch(r.stdout)
			if r.code != 0 || m == nil || m[1] == "25435" {
				t.Errorf("copy %s: exit %d\n%s\n%s", g.name, r.code, r.stdout, r.stderr)
				continue
			}
			ports[m[1]] = true
			if left := g.leftovers(t); len(left) > 0 {
				t.Errorf("copy %s left %v", g.name, left)
			}
		}
		if len(ports) != len(results) {
			t.Errorf("ports %v: want %d distinct ones", ports, len(results))
		}
	})
}

// TestLogsOutput: logs --output DIR writes one plain file per service, the
// replicas of a service one after the other under their names, no colour
// and no prefix, on both backends.
func TestLogsOutput(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  web:
    image: berth-test/busybox
    command: ["sh", "-c", "echo web says hi; echo web ready; sleep 600"]
    stop_signal: SIGKILL
    scale: 2
  job:
    image: berth-test/busybox
    command: ["sh", "-c", "echo job done >&2"]
`})
		p.mustRun(t, "up", "-d", "--wait")
		want := map[string]string{
			"job.log": "job done\n",
			"web.log": "==> " + p.name + "-web-1 <==\nweb says hi\nweb ready\n==> " + p.name + "-web-2 <==\nweb says hi\nweb ready\n",
		}
		eventually(t, func() string {
			dir := filepath.Join(p.dir, "artifacts")
			r := p.run("--ansi", "always", "logs", "--output", dir)
			if r.code != 0 {
				return fmt.Sprintf("logs --output: exit %d\n%s", r.code, r.stderr)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != len(want) {
				return fmt.Sprintf("%d files, want %d", len(entries), len(want))
			}
			for name, w := range want {
				data, _ := os.ReadFile(filepath.Join(dir, name))
				if string(data) != w {
					return fmt.Sprintf("%s: %q, want %q", name, data, w)
				}
			}
			return ""
		})
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestEphemeralPorts: up --ephemeral-ports publishes a fixed host port on
// an ephemeral one (endpoints shows it); repeated, it changes nothing; a
// plain up then recreates once, back on the fixed port, and a second plain
// up changes nothing: the hash never churns. On both backends.
func TestEphemeralPorts(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  web:
    image: berth-test/busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    ports: ["25436:80"]
`})
		id := func() string { return strings.TrimSpace(p.mustRun(t, "ps", "-q", "web").stdout) }
		port := func() string { return strings.TrimSpace(p.mustRun(t, "port", "web", "80").stdout) }
		p.mustRun(t, "up", "-d", "--ephemeral-ports")
		first, eph := id(), port()
		if eph == "" || strings.HasSuffix(eph, ":25436") {
			t.Errorf("up --ephemeral-ports published on %q", eph)
		}
		if env := p.mustRun(t, "endpoints").stdout; !strings.Contains(env, "WEB_80="+strings.Replace(eph, "0.0.0.0", "127.0.0.1", 1)) {
			t.Errorf("endpoints %q do not show %s", env, eph)
		}
		p.mustRun(t, "up", "-d", "--ephemeral-ports")
		if id() != first {
			t.Error("a second up --ephemeral-ports recreated web")
		}
		p.mustRun(t, "up", "-d")
		second := id()
		if second == first || !strings.HasSuffix(port(), ":25436") {
			t.Errorf("plain up after --ephemeral-ports: recreated %v, port %q", second != first, port())
		}
		p.mustRun(t, "up", "-d")
		if id() != second {
			t.Error("a second plain up recreated web: the hash churns")
		}
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestContainerNameClash: up of a project whose container_name a container
// of another project holds fails before creating anything, naming both
// projects; on both backends.
func TestContainerNameClash(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		files := func(name string) map[string]string {
			return map[string]string{"compose.yaml": fmt.Sprintf(`services:
  db:
    image: berth-test/busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    container_name: %s
  other:
    image: berth-test/busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`, name)}
		}
		first := newP(t, files("placeholder"))
		shared := first.name + "-shared"
		_ = os.WriteFile(filepath.Join(first.dir, "compose.yaml"), []byte(files(shared)["compose.yaml"]), 0o644)
		first.mustRun(t, "up", "-d")
		second := newP(t, files(shared))
		second.env = append([]string(nil), first.env...) // same runtime (builtin: same root)
		r := second.run("up", "-d")
		for _, want := range []string{`service "db" of project "` + second.name + `"`, `container_name "` + shared + `"`, `project "` + first.name + `"`, "nothing was created"} {
			if r.code == 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("up with a clashing container_name: exit %d, no %q in:\n%s", r.code, want, r.stderr)
			}
		}
		if left := second.leftovers(t); len(left) > 0 {
			t.Errorf("the clash created %v", left)
		}
		first.mustRun(t, "down", "-t", "0")
	})
}

// TestContainerNameClashAsCompose: against a project docker compose v5.5.0
// made, whose container_name another project also sets, docker compose
// v5.5.0's up of the second project fails halfway (the engine's conflict,
// after creating the network and the other service's container); berth's
// fails before creating anything and names both projects.
func TestContainerNameClashAsCompose(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	compose := func(name string) map[string]string {
		return map[string]string{"compose.yaml": fmt.Sprintf(`services:
  db:
    image: berth-test/busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    container_name: %s
  other:
    image: berth-test/busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`, name)}
	}
	first := newProject(t, nil)
	shared := first.name + "-shared"
	if err := os.WriteFile(filepath.Join(first.dir, "compose.yaml"), []byte(compose(shared)["compose.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	refCompose(t, bin, first, "up", "-d")

	second := newProject(t, compose(shared))
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	r := command(ctx, second.dir, second.environ(), nil, bin, "-p", second.name, "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "Conflict") || len(second.leftovers(t)) == 0 {
		t.Errorf("docker compose v5.5.0 up with a clashing container_name: exit %d, leftovers %v (expected a failure halfway)\n%s", r.code, second.leftovers(t), r.stderr)
	}
	if err := second.removeEngineObjects(); err != nil {
		t.Fatal(err)
	}

	r = second.run("up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `project "`+first.name+`"`) || !strings.Contains(r.stderr, `project "`+second.name+`"`) {
		t.Errorf("berth up with a clashing container_name: exit %d\n%s", r.code, r.stderr)
	}
	if left := second.leftovers(t); len(left) > 0 {
		t.Errorf("berth created %v", left)
	}
}

// TestBenchReportBerthTest prints, with make bench (BERTH_BENCH=1), the
// median time of berth test -- true on the three-service stack against
// that of up -d --wait followed by down -v, on the engine.
func TestBenchReportBerthTest(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("set BERTH_BENCH=1 (make bench)")
	}
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": testStack(25437, false)})
	berth := tool{"berth", []string{berthBin}}
	whole := timeIt(t, nil, func() error { return berth.run(p, "-p", p.name, "test", "--", "true") })
	parts := timeIt(t, nil, func() error {
		if err := berth.run(p, "up", "-d", "--wait"); err != nil {
			return err
		}
		return berth.run(p, "down", "-v")
	})
	fmt.Printf("\nmedians of %d runs, the 3-service stack (a one-shot, a db with a healthcheck, an app)\n", benchRuns)
	fmt.Printf("%-36s%10.2fs\n%-36s%10.2fs\n", "berth test -- true", whole.Seconds(), "berth up -d --wait + down -v", parts.Seconds())
}

// TestBerthTestKilledIsReaped: berth test gives what it brings up a
// lifetime owned by itself, so a berth test killed with SIGKILL (no
// teardown) leaves a project that berth gc removes.
func TestBerthTestKilledIsReaped(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": testStack(25435, false)})
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		marker := filepath.Join(p.dir, "started")
		cmd := exec.CommandContext(ctx, berthBin, "-p", p.name, "test", "--", "sh", "-c", "echo $$ > "+marker+"; exec sleep 600")
		cmd.Dir, cmd.Env = p.dir, p.environ()
		cmd.WaitDelay = waitDelay
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var pid string
		eventually(t, func() string {
			data, err := os.ReadFile(marker)
			if pid = strings.TrimSpace(string(data)); err != nil || pid == "" {
				return "the command has not started"
			}
			return ""
		})
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if n, err := strconv.Atoi(pid); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL) // the test command, in its own process group
		}
		if len(p.leftovers(t)) == 0 {
			t.Fatal("nothing left after SIGKILL: the test shows nothing")
		}
		out := p.mustRun(t, "gc").stderr
		if !strings.Contains(out, "Removing project "+p.name+": the process that made it is gone") {
			t.Errorf("gc after a killed berth test:\n%s", out)
		}
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("left behind after gc: %v", left)
		}
	})
}
