package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLifecycle drives stop, start, restart, kill, pause, rm and orphans.
func TestLifecycle(t *testing.T) {
	requireEngine(t)
	two := fmt.Sprintf(`
services:
  a:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  b:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on: [a]
`, busyboxImage())
	p := newProject(t, map[string]string{"compose.yaml": two})
	p.mustRun(t, "up", "-d")

	p.mustRun(t, "stop", "b")
	if ps := p.ps(t, "-a"); ps[p.name+"-b-1"].State != "exited" || ps[p.name+"-a-1"].State != "running" {
		t.Fatalf("after stop b: %+v", ps)
	}
	p.mustRun(t, "start")
	if ps := p.ps(t); len(ps) != 2 {
		t.Fatalf("after start: %+v", ps)
	}
	before := p.ps(t)[p.name+"-a-1"].ID
	started := p.startedAt(t, before)
	p.mustRun(t, "restart", "a")
	if p.ps(t)[p.name+"-a-1"].ID != before || p.startedAt(t, before) == started {
		t.Errorf("restart did not restart a in place")
	}
	p.mustRun(t, "pause", "a")
	if st := p.ps(t)[p.name+"-a-1"].State; st != "paused" {
		t.Errorf("after pause: %s", st)
	}
	p.mustRun(t, "unpause", "a")
	p.mustRun(t, "kill", "-s", "SIGKILL", "b")
	if st := p.ps(t, "-a")[p.name+"-b-1"].State; st != "exited" {
		t.Errorf("after kill: %s", st)
	}
	p.mustRun(t, "rm", "-f", "b")
	if _, ok := p.ps(t, "-a")[p.name+"-b-1"]; ok {
		t.Errorf("rm -f left b")
	}

	// b removed from the file: its container (created again first) is an orphan
	p.mustRun(t, "up", "-d")
	p.writeFile(t, "compose.yaml", fmt.Sprintf("services:\n  a:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n", busyboxImage()))
	r := p.mustRun(t, "up", "-d")
	if !strings.Contains(r.stderr, "Found orphan containers ("+p.name+"-b-1)") {
		t.Errorf("no orphan warning:\n%s", r.stderr)
	}
	p.mustRun(t, "up", "-d", "--remove-orphans")
	if _, ok := p.ps(t, "-a")[p.name+"-b-1"]; ok {
		t.Errorf("--remove-orphans left b")
	}
	if out := p.mustRun(t, "ls", "-q").stdout; !strings.Contains(out, p.name+"\n") {
		t.Errorf("ls -q does not list the project:\n%s", out)
	}
}

// TestLogsFollow follows a service's logs across a restart.
func TestLogsFollow(t *testing.T) {
	onBothBackends(t, testLogsFollow)
}

func testLogsFollow(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  talker:
    image: %s
    command: ["sh", "-c", "echo hello $$(date +%%s%%N); exec sleep 3600"]
    stop_signal: SIGKILL
`, busyboxImage())})
	p.mustRun(t, "up", "-d")
	if out := p.mustRun(t, "logs", "--no-log-prefix").stdout; !strings.HasPrefix(out, "hello ") {
		t.Fatalf("logs: %q", out)
	}
	if out := p.mustRun(t, "logs").stdout; !strings.HasPrefix(out, "talker-1  | hello") {
		t.Errorf("logs prefix: %q", out)
	}

	bg := startBerth(t, p, "logs", "-f", "--no-log-prefix")
	waitFor := func(lines int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(bg.output(), "hello ") < lines {
			if time.Now().After(deadline) {
				t.Fatalf("logs -f showed %d hello lines, want %d:\n%s", strings.Count(bg.output(), "hello "), lines, bg.output())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(1)
	p.mustRun(t, "restart", "talker")
	waitFor(2) // the restarted container's new line, through the same logs -f
	p.mustRun(t, "down", "-t", "0")
}

// TestWaitDownProject: wait returns the exit code and takes the project down.
func TestWaitDownProject(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  job:
    image: %s
    command: ["sh", "-c", "sleep 1; exit 3"]
`, busyboxImage())})
	p.mustRun(t, "up", "-d")
	r := p.run("wait", "--down-project", "job")
	if r.code != 3 || strings.TrimSpace(r.stdout) != "3" {
		t.Errorf("wait: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if out := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+p.name); out != "" {
		t.Errorf("--down-project left containers: %s", out)
	}
}

// TestAttach attaches to a running service on both backends: stdin
// reaches it, its output shows, and attach exits with its exit code.
func TestAttach(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  app:
    image: %s
    command: ["sh", "-c", "read line; echo got $$line; exit 3"]
    stdin_open: true
`, busyboxImage())})
		p.mustRun(t, "up", "-d")
		// stdin stays open until attach ends: the engine drops the output
		// that follows the end of stdin (docker attach too).
		cmd := exec.Command(berthBin, "attach", "app")
		cmd.Dir, cmd.Env = p.dir, p.environ()
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = io.WriteString(in, "hello\n") }()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("attach did not end with the container:\n%s", out.String())
		}
		in.Close()
		if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(out.String(), "got hello") {
			t.Errorf("attach: exit %d, output %q; want 3 and the service's answer", code, out.String())
		}
		if r := p.run("attach", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
			t.Errorf("attach to an unknown service: exit %d, stderr %q", r.code, r.stderr)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestStats samples a busy service on both backends: CPU near one core,
// memory against its limit, processes; a stopped service shows with -a.
func TestStats(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  busy:
    image: %[1]s
    command: ["sh", "-c", "while :; do :; done"]
    mem_limit: 64m
    stop_signal: SIGKILL
  idle:
    image: %[1]s
    command: ["true"]
`, busyboxImage())})
		p.mustRun(t, "up", "-d")
		r := p.mustRun(t, "stats", "--no-stream", "--format", "json")
		var e struct{ Name, CPUPerc, MemUsage, PIDs string }
		if err := json.Unmarshal([]byte(strings.Split(r.stdout, "\n")[0]), &e); err != nil {
			t.Fatalf("stats --format json: %v\n%s", err, r.stdout)
		}
		cpu, _ := strconv.ParseFloat(strings.TrimSuffix(e.CPUPerc, "%"), 64)
		if e.Name != p.name+"-busy-1" || cpu < 20 || !strings.HasSuffix(e.MemUsage, "/ 64MiB") || e.PIDs != "1" {
			t.Errorf("stats of a busy loop limited to 64m: %+v (CPU %.1f%%)", e, cpu)
		}
		if n := strings.Count(r.stdout, "\n"); n != 1 {
			t.Errorf("stats without -a: %d rows, want the running one:\n%s", n, r.stdout)
		}
		if r := p.mustRun(t, "stats", "--no-stream", "-a"); !strings.Contains(r.stdout, "CPU %") || !strings.Contains(r.stdout, p.name+"-idle-1") {
			t.Errorf("stats -a: no table header or no stopped container:\n%s", r.stdout)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
