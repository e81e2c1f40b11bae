package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func opts(t *testing.T, dir, project, command string) Options {
	t.Helper()
	return Options{Dir: dir, Runtime: "unix:///var/run/docker.sock", Project: project, Command: command}
}

// TestContend has two goroutines take one project's lock: the second waits,
// is told who holds it, and gets it once the first releases it.
func TestContend(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(t.Context(), opts(t, dir, "demo", "up"))
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan Holder, 1)
	got := make(chan error, 1)
	var second *Lock
	go func() {
		o := opts(t, dir, "demo", "down")
		o.Waiting = func(h Holder) { waiting <- h }
		var err error
		second, err = Acquire(t.Context(), o)
		got <- err
	}()
	select {
	case h := <-waiting:
		if h.PID != os.Getpid() || h.Command != "up" {
			t.Errorf("waiting for %+v, want pid %d, up", h, os.Getpid())
		}
		if s := h.String(); s != fmt.Sprintf("pid %d, up", os.Getpid()) {
			t.Errorf("holder string %q", s)
		}
	case err := <-got:
		t.Fatalf("second Acquire returned (%v) while the first held the lock", err)
	case <-time.After(5 * time.Second):
		t.Fatal("second Acquire never said it waits")
	}
	select {
	case err := <-got:
		t.Fatalf("second Acquire returned (%v) while the first held the lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Acquire did not get the released lock")
	}
	b, _ := os.ReadFile(second.Path())
	if !strings.Contains(string(b), `"command":"down"`) || !strings.Contains(string(b), fmt.Sprintf(`"pid":%d`, os.Getpid())) {
		t.Errorf("lock file holds %q, want the second holder", b)
	}
	if h, ok := second.Interrupted(); ok {
		t.Errorf("after a release, Interrupted = %+v, true", h)
	}
	if err := second.Release(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(second.Path()); len(b) != 0 {
		t.Errorf("released lock file still holds %q", b)
	}
}

// TestIndependent: other projects and other runtimes have their own locks.
func TestIndependent(t *testing.T) {
	dir := t.TempDir()
	held, err := Acquire(t.Context(), opts(t, dir, "demo", "up"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	for name, o := range map[string]Options{
		"other project": opts(t, dir, "demo2", "up"),
		"other runtime": {Dir: dir, Runtime: "/var/lib/berth", Project: "demo"},
	} {
		t.Run(name, func(t *testing.T) {
			o.Timeout = time.Second
			l, err := Acquire(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
		})
	}
}

// TestTimeout: a wait longer than Timeout fails with an error naming the
// project and the holder's PID.
func TestTimeout(t *testing.T) {
	dir := t.TempDir()
	held, err := Acquire(t.Context(), opts(t, dir, "demo", "up"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	o := opts(t, dir, "demo", "down")
	o.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = Acquire(t.Context(), o)
	if d := time.Since(start); d < o.Timeout || d > 5*time.Second {
		t.Errorf("gave up after %v, timeout %v", d, o.Timeout)
	}
	var te *TimeoutError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TimeoutError", err)
	}
	want := fmt.Sprintf("project demo is locked by another berth (pid %d, up): gave up after", os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
}

// TestCancel: a cancelled context ends the wait with its cause.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	held, err := Acquire(t.Context(), opts(t, dir, "demo", "up"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = Acquire(ctx, opts(t, dir, "demo", "down"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "pid ") {
		t.Errorf("err = %v, want the deadline and the holder", err)
	}
}

func TestFile(t *testing.T) {
	for _, tc := range []struct{ project, prefix string }{
		{"demo", "demo-"},
		{"My_App-2", "my_app-2-"},
		{"../../etc", "_.._etc-"},
		{"a/b c", "a_b_c-"},
	} {
		t.Run(tc.project, func(t *testing.T) {
			p := File(Options{Dir: "/d", Runtime: "r", Project: tc.project})
			if filepath.Dir(p) != "/d" || !strings.HasPrefix(filepath.Base(p), tc.prefix) || !strings.HasSuffix(p, ".lock") {
				t.Errorf("File = %q, want /d/%s<hash>.lock", p, tc.prefix)
			}
		})
	}
	if File(Options{Dir: "/d", Runtime: "a", Project: "p"}) == File(Options{Dir: "/d", Runtime: "b", Project: "p"}) {
		t.Error("two runtimes share a lock file")
	}
}

// TestDirChecked: a lock directory that is a link, or a file, is refused.
func TestDirChecked(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{link, file} {
		if l, err := Acquire(t.Context(), opts(t, d, "demo", "up")); err == nil {
			l.Release()
			t.Errorf("Acquire in %s: no error", d)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	env := map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}
	got := DefaultDir(func(k string) string { return env[k] })
	want := "/run/user/1000/berth/locks"
	if os.Geteuid() == 0 {
		want = "/run/berth/locks"
	}
	if got != want {
		t.Errorf("DefaultDir = %q, want %q", got, want)
	}
}

// TestProcesses has another process hold the lock: the wait names that
// process's PID, and its SIGKILL frees the lock at once.
func TestProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), "BERTH_LOCK_HELPER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	o := opts(t, dir, "demo", "down")
	o.Timeout = 300 * time.Millisecond
	var told Holder
	o.Waiting = func(h Holder) { told = h }
	_, err = Acquire(t.Context(), o)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "(pid "+strconv.Itoa(cmd.Process.Pid)+", helper)") {
		t.Errorf("err = %v, want a timeout naming pid %d", err, cmd.Process.Pid)
	}
	if told.PID != cmd.Process.Pid {
		t.Errorf("told to wait for pid %d, want %d", told.PID, cmd.Process.Pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	o.Timeout = 2 * time.Second
	l, err := Acquire(t.Context(), o)
	if err != nil {
		t.Fatalf("after the holder's SIGKILL: %v", err)
	}
	h, ok := l.Interrupted()
	if !ok || h.PID != cmd.Process.Pid || len(h.Steps) != 1 || h.Steps[0].Op != "stop container" || h.Steps[0].Target != "web" {
		t.Errorf("Interrupted = %+v, %v; want pid %d with the step it had under way", h, ok, cmd.Process.Pid)
	}
	done := l.Begin(Step{Op: "remove container", Target: "db"})
	b, _ := os.ReadFile(l.Path())
	if !strings.Contains(string(b), `"target":"db"`) {
		t.Errorf("lock file %q: no step under way", b)
	}
	done(false)
	b, _ = os.ReadFile(l.Path())
	if strings.Contains(string(b), `"target":"db"`) || strings.Count(string(b), "\n") != 1 {
		t.Errorf("lock file %q: the step ended but is still there", b)
	}
	// an abandoned step (its call cancelled) outlives the release
	l.Begin(Step{Op: "stop container", Target: "api"})(true)
	l.Release()
	l, err = Acquire(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := l.Interrupted(); !ok || len(h.Steps) != 1 || h.Steps[0].Target != "api" {
		t.Errorf("after an abandoned step, Interrupted = %+v, %v; want the step", h, ok)
	}
	l.Release()
}

// TestHelperHolder is the other process of TestProcesses: it takes the
// lock, says so, and holds it until killed.
func TestHelperHolder(t *testing.T) {
	dir := os.Getenv("BERTH_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process of TestProcesses")
	}
	l, err := Acquire(context.Background(), opts(t, dir, "demo", "helper"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	l.Begin(Step{Op: "stop container", Target: "web"})
	l.Begin(Step{Op: "start container", Target: "api"})(false)
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}
