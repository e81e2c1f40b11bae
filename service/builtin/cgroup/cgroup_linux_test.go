package cgroup

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Tests on the real cgroup filesystem, in groups berth-test/<random>.

const testParent = "berth-test"

// realV1 returns the options of the host's v1 hierarchies, or skips.
func realV1(t *testing.T) Options {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if !isDir(filepath.Join(DefaultRoot, "memory")) {
		t.Skip("no cgroup v1 memory hierarchy")
	}
	o := Options{Parent: testParent}
	t.Cleanup(func() {
		for _, m := range v1Mounts(DefaultRoot) {
			os.Remove(filepath.Join(m, testParent)) // unless another test uses it
		}
	})
	return o
}

// newReal makes a group with a random name, removed at the end of the test.
func newReal(t *testing.T, l Limits, o Options) *Cgroup {
	t.Helper()
	c, err := New("t"+rand.Text()[:12], l, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kill()
		c.Remove()
	})
	return c
}

// start starts cmd and kills it at the end of the test.
func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// content returns the content of the file of the group's hierarchy of ctrl.
func content(t *testing.T, c *Cgroup, ctrl, file string) string {
	t.Helper()
	d, _ := c.dir(ctrl)
	s, err := c.read(d, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkGone checks that the group's directories are gone.
func checkGone(t *testing.T, c *Cgroup) {
	t.Helper()
	for _, d := range c.Paths() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Remove: %v", d, err)
		}
	}
}

func TestRealMode(t *testing.T) {
	mode, err := Mode(Options{})
	if err != nil {
		t.Skip(err)
	}
	want := "v1"
	if v2, _ := isCgroup2(filepath.Join(DefaultRoot, "unified")); v2 {
		want = "hybrid"
	}
	if mode != "v2" && mode != want {
		t.Errorf("Mode = %s, want %s", mode, want)
	}
	t.Logf("mode %s", mode)
}

func TestRealV1(t *testing.T) {
	o := realV1(t)
	c := newReal(t, Limits{Memory: 32 * mib, PidsLimit: 20, NanoCPUs: 5e8, CPUShares: 512, CpusetCpus: "0"}, o)
	for _, f := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "33554432"},
		{"memory", "memory.memsw.limit_in_bytes", "67108864"},
		{"pids", "pids.max", "20"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.shares", "512"},
		{"cpuset", "cpuset.cpus", "0"},
	} {
		if f.file == "memory.memsw.limit_in_bytes" && !isFile(c, f.ctrl, f.file) {
			continue
		}
		if got := content(t, c, f.ctrl, f.file); got != f.want {
			t.Errorf("%s = %s, want %s", f.file, got, f.want)
		}
	}
	if got := Open(c.name, o).Paths(); !slices.Equal(got, c.Paths()) || len(got) < 5 {
		t.Errorf("Open: Paths = %v, want %v", got, c.Paths())
	}

	cmd := exec.Command("sleep", "30")
	start(t, cmd)
	pid := cmd.Process.Pid
	if err := c.Add(pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := c.Procs(); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Fatalf("Procs = %v, %v, want [%d]", pids, err, pid)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if want := ":memory:/" + c.rel + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("/proc/%d/cgroup lacks %q:\n%s", pid, want, b)
	}

	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	if s := content(t, c, "freezer", "freezer.state"); s != "FROZEN" {
		t.Errorf("freezer.state = %s after Freeze", s)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s := content(t, c, "freezer", "freezer.state"); s != "THAWED" {
		t.Errorf("freezer.state = %s after Thaw", s)
	}

	if err := c.Freeze(); err != nil { // killing must work on a paused container
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); !killed(err) {
		t.Errorf("sleep ended with %v, want SIGKILL", err)
	}
	if pids, err := c.Procs(); len(pids) != 0 || err != nil {
		t.Errorf("Procs after Kill = %v, %v", pids, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, c)
	if pids, err := c.Procs(); len(pids) != 0 || err != nil {
		t.Errorf("Procs after Remove = %v, %v", pids, err)
	}
}

// TestRealV1Update checks that raising the memory limit above the current
// memory+swap limit works, as does lowering both.
func TestRealV1Update(t *testing.T) {
	o := realV1(t)
	c := newReal(t, Limits{Memory: 32 * mib}, o)
	if !isFile(c, "memory", "memory.memsw.limit_in_bytes") {
		t.Skip("no swap accounting")
	}
	for _, l := range []Limits{{Memory: 96 * mib, MemorySwap: 128 * mib}, {Memory: 16 * mib}, {Memory: 64 * mib, MemorySwap: -1}} {
		if _, err := New(c.name, l, o); err != nil {
			t.Fatalf("New(%+v): %v", l, err)
		}
		if got, want := content(t, c, "memory", "memory.limit_in_bytes"), itoa(l.Memory); got != want {
			t.Errorf("%+v: memory.limit_in_bytes = %s, want %s", l, got, want)
		}
		want := itoa(l.swap())
		if l.swap() == -1 {
			want = "9223372036854771712" // unlimited, as the kernel shows it
		}
		if got := content(t, c, "memory", "memory.memsw.limit_in_bytes"); got != want {
			t.Errorf("%+v: memory.memsw.limit_in_bytes = %s, want %s", l, got, want)
		}
	}
}

func TestRealOOM(t *testing.T) {
	o := realV1(t)
	c := newReal(t, Limits{Memory: 16 * mib}, o)
	// The shell waits for a line before running the pipeline, so that it runs
	// in the group; tail keeps the endless line in memory.
	cmd := exec.Command("/bin/sh", "-c", "read x; head -c 100m /dev/zero | tail")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, cmd)
	if err := c.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("\n"))
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGKILL) {
		t.Errorf("sh ended with %v, want status 137 (tail OOM-killed)", err)
	}
	if n, err := c.OOMKills(); n < 1 || err != nil {
		t.Errorf("OOMKills = %d, %v, want >= 1", n, err)
	}
}

// TestRealV2 uses the unified hierarchy of a hybrid host, where v2 has no
// controllers but has the freezer and cgroup.kill.
func TestRealV2(t *testing.T) {
	o := Options{Root: filepath.Join(DefaultRoot, "unified"), Parent: testParent}
	if mode, err := Mode(o); os.Geteuid() != 0 || err != nil || mode != "v2" {
		t.Skip("needs root and a cgroup2 hierarchy at", o.Root)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(o.Root, testParent)) })
	name := "t" + rand.Text()[:12]
	if _, err := New(name, Limits{Memory: 16 * mib}, o); err == nil || !strings.Contains(err.Error(), "memory controller is not available") {
		t.Errorf("New with a memory limit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(o.Root, testParent, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed New left its group: %v", err)
	}
	c := newReal(t, Limits{}, o)
	cmd := exec.Command("sleep", "30")
	start(t, cmd)
	if err := c.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := c.Procs(); err != nil || !slices.Equal(pids, []int{cmd.Process.Pid}) {
		t.Fatalf("Procs = %v, %v", pids, err)
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.keyed(c.Paths()[0], "cgroup.events", "frozen"); n != 1 || err != nil {
		t.Errorf("frozen = %d, %v after Freeze", n, err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); !killed(err) {
		t.Errorf("sleep ended with %v, want SIGKILL", err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, c)
}

func isFile(c *Cgroup, ctrl, file string) bool {
	d, _ := c.dir(ctrl)
	_, err := os.Stat(filepath.Join(d, file))
	return err == nil
}

func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
