package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bgBerth is a berth command running in the background (watch, attached
// up), its output in a file.
type bgBerth struct {
	cmd        *exec.Cmd
	out        string        // standard output and error
	stdoutPath string        // standard output only
	done       chan struct{} // closed when the command has ended
}

// startBerth starts berth with args in the project's directory; the test's
// end kills it if it still runs.
func startBerth(t *testing.T, p *testProject, args ...string) *bgBerth {
	t.Helper()
	return startCommand(t, p, append([]string{berthBin}, args...)...)
}

// startCommand starts argv in the project's directory, with its
// environment, its output to a file; the test's end kills it if it still
// runs.
func startCommand(t *testing.T, p *testProject, argv ...string) *bgBerth {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = p.dir, p.environ()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	fo, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(f, fo), f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bg := &bgBerth{cmd: cmd, out: f.Name(), stdoutPath: fo.Name(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); fo.Close(); close(bg.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-bg.done
	})
	return bg
}

func (bg *bgBerth) output() string {
	b, _ := os.ReadFile(bg.out)
	return string(b)
}

// stdout is what the command wrote to its standard output only.
func (bg *bgBerth) stdout() string {
	b, _ := os.ReadFile(bg.stdoutPath)
	return string(b)
}

// waitOutput waits for s in the output, failing the test after a minute.
func (bg *bgBerth) waitOutput(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(bg.output(), s); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("berth %s never printed %q:\n%s", strings.Join(bg.cmd.Args[1:], " "), s, bg.output())
		}
	}
}

// interrupt sends SIGINT and returns the exit code.
func (bg *bgBerth) interrupt(t *testing.T) int {
	t.Helper()
	_ = bg.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-bg.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("berth %s did not stop after SIGINT:\n%s", strings.Join(bg.cmd.Args[1:], " "), bg.output())
	}
	return bg.cmd.ProcessState.ExitCode()
}

// pollUntil polls cond for up to 20 s and reports whether it held.
func pollUntil(cond func() bool) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestWatch runs berth watch on both backends: initial_sync, sync of new,
// changed and deleted files and of a new directory, ignore patterns (the
// rule's and the build's .dockerignore), sync+restart, sync+exec, and a
// rebuild that recreates the container, into which what was synced is
// synced again; Ctrl+C ends the watch and leaves
// the services running.
func TestWatch(t *testing.T) {
	onBothBackends(t, testWatch)
}

func testWatch(t *testing.T, newP newProjectFunc) {
	p := newP(t, map[string]string{
		"compose.yaml": `services:
  app:
    build: app
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./app/src
          target: /src
          action: sync
          ignore: ["*.tmp"]
          initial_sync: true
        - path: ./app/conf
          target: /etc/app.conf
          action: sync+restart
        - path: ./app/hook
          target: /hook
          action: sync+exec
          exec: {command: ["sh", "-c", "cat /hook > /hook.out"]}
        - path: ./app/version
          action: rebuild
`,
		"app/Dockerfile":    fmt.Sprintf("FROM %s\nCOPY version /version\n", busyboxImage()),
		"app/.dockerignore": "src/*.secret\n",
		"app/version":       "1\n",
		"app/src/a.txt":     "before the watch\n",
		"app/conf":          "c1\n",
		"app/hook":          "h1\n",
	})
	t.Cleanup(func() { removeImages(p.name + "-app") })
	bg := startBerth(t, p, "watch")
	bg.waitOutput(t, "Watch enabled")
	cat := func(path string) string {
		return p.run("exec", "-T", "app", "cat", path).stdout
	}
	if !pollUntil(func() bool { return cat("/src/a.txt") == "before the watch\n" }) {
		t.Errorf("initial_sync: /src/a.txt is %q", cat("/src/a.txt"))
	}

	p.writeFile(t, "app/src/c.tmp", "ignored by the rule\n")
	p.writeFile(t, "app/src/d.secret", "ignored by .dockerignore\n")
	p.writeFile(t, "app/src/b.txt", "new\n")
	if !pollUntil(func() bool { return cat("/src/b.txt") == "new\n" }) {
		t.Fatalf("a new file was not synced:\n%s", bg.output())
	}
	if err := os.MkdirAll(filepath.Join(p.dir, "app/src/sub/deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.writeFile(t, "app/src/sub/deep/e.txt", "in a new directory\n")
	if !pollUntil(func() bool { return cat("/src/sub/deep/e.txt") == "in a new directory\n" }) {
		t.Errorf("a file in a new directory was not synced:\n%s", bg.output())
	}
	if r := p.run("exec", "-T", "app", "ls", "/src"); strings.Contains(r.stdout, "c.tmp") || strings.Contains(r.stdout, "d.secret") {
		t.Errorf("ignored files were synced: /src holds %q", r.stdout)
	}
	if err := os.Remove(filepath.Join(p.dir, "app/src/b.txt")); err != nil {
		t.Fatal(err)
	}
	if !pollUntil(func() bool { return p.run("exec", "-T", "app", "test", "-e", "/src/b.txt").code == 1 }) {
		t.Errorf("a deleted file is still in the container")
	}

	before := p.inspect(t, p.name+"-app-1")
	p.writeFile(t, "app/conf", "c2\n")
	if !pollUntil(func() bool {
		return cat("/etc/app.conf") == "c2\n" && p.inspect(t, p.name+"-app-1").StartedAt.After(before.StartedAt)
	}) {
		t.Errorf("sync+restart: /etc/app.conf is %q, the container started at %v then %v", cat("/etc/app.conf"), before.StartedAt, p.inspect(t, p.name+"-app-1").StartedAt)
	}
	p.writeFile(t, "app/hook", "h2\n")
	if !pollUntil(func() bool { return cat("/hook.out") == "h2\n" }) {
		t.Errorf("sync+exec: /hook.out is %q", cat("/hook.out"))
	}

	p.writeFile(t, "app/version", "2\n")
	if !pollUntil(func() bool { return cat("/version") == "2\n" }) {
		t.Errorf("rebuild: /version is %q:\n%s", cat("/version"), bg.output())
	}
	if after := p.inspect(t, p.name+"-app-1"); after.ID == before.ID {
		t.Errorf("rebuild: the container was not recreated")
	}
	// What was synced into the old container is synced into the new one
	// (docker compose loses it: docker/compose#12592).
	if !pollUntil(func() bool {
		return cat("/src/sub/deep/e.txt") == "in a new directory\n" && cat("/src/a.txt") == "before the watch\n"
	}) {
		t.Errorf("after the rebuild, the synced files are missing: /src/a.txt %q:\n%s", cat("/src/a.txt"), bg.output())
	}
	if r := p.run("exec", "-T", "app", "test", "-e", "/src/b.txt"); r.code == 0 {
		t.Errorf("after the rebuild, a file deleted during the watch came back")
	}
	if code := bg.interrupt(t); code != 0 {
		t.Errorf("watch after Ctrl+C: exit %d, want 0:\n%s", code, bg.output())
	}
	if ps := p.ps(t); ps[p.name+"-app-1"].State != "running" {
		t.Errorf("the service stopped with the watch: %+v", ps)
	}
	p.mustRun(t, "down", "-t", "0", "--rmi", "local")
}

// TestUpWatch runs an attached up --watch: the service's output shows, a
// changed file is synced, a sync+exec hook's output and the watch's
// messages show on standard output in docker compose's words, and Ctrl+C
// stops the services (exit 130) and the watch.
func TestUpWatch(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{
			"compose.yaml": fmt.Sprintf(`services:
  app:
    image: %s
    command: ["sh", "-c", "echo ready; exec sleep 600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, target: /src, action: sync}
        - path: ./hook
          target: /hook
          action: sync+exec
          exec:
            command: ["sh", "-c", "echo HOOK-SAW-$(cat /hook/h.txt)"]
`, busyboxImage()),
			"src/a.txt":  "a\n",
			"hook/h.txt": "0\n",
		})
		bg := startBerth(t, p, "up", "--watch")
		bg.waitOutput(t, "ready")
		bg.waitOutput(t, "Watch enabled")
		p.writeFile(t, "src/a.txt", "changed\n")
		if !pollUntil(func() bool { return p.run("exec", "-T", "app", "cat", "/src/a.txt").stdout == "changed\n" }) {
			t.Errorf("up --watch did not sync:\n%s", bg.output())
		}
		p.writeFile(t, "hook/h.txt", "1\n")
		bg.waitOutput(t, "HOOK-SAW-1")
		for _, want := range []string{"HOOK-SAW-1", "Watch enabled", `Syncing service "app" after 1 changes were detected`} {
			if !strings.Contains(bg.stdout(), want) {
				t.Errorf("up --watch: %q is not on standard output:\n%s", want, bg.stdout())
			}
		}
		if code := bg.interrupt(t); code != 130 {
			t.Errorf("up --watch after Ctrl+C: exit %d, want 130:\n%s", code, bg.output())
		}
		if ps := p.ps(t); len(ps) != 0 {
			t.Errorf("still running after Ctrl+C: %+v", ps)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
