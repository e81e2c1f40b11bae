package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The swarm tests (#15) never put the shared engine in swarm mode, and never
// start a second dockerd in the host's network namespace (it would rewrite
// the shared engine's iptables chains). They run against a private dockerd
// in a network namespace of its own, started once for the whole package run
// by the first test that asks for it (requireSwarm) and stopped by TestMain
// (stopSwarm): its own --data-root, --exec-root, --pidfile, socket under a
// temporary directory and cgroup parent, so that teardown can remove every
// mount, namespace, cgroup directory and process it made.

const (
	// swarmImage is the test image as loaded into the private engine: a
	// tag other than latest, which a swarm would try to pull.
	swarmImage = busyboxRepo + ":swarm"
	// swarmStartTimeout bounds starting the private dockerd, loading the
	// test image and initialising the swarm.
	swarmStartTimeout = 90 * time.Second
	// swarmStopTimeout bounds the private dockerd's own shutdown before it
	// is killed.
	swarmStopTimeout = 30 * time.Second
)

// privateEngine is a dockerd of the tests' own, in network namespace ns.
type privateEngine struct {
	// name names the network namespace and the cgroup parent.
	name string
	// dir holds the data root, exec root, pid file, socket and log.
	dir string
	// host is the DOCKER_HOST of the engine.
	host string
	// cmd is the running dockerd (nsenter execs it: same process).
	cmd *exec.Cmd
	// exited is closed when cmd has been waited for.
	exited chan struct{}
}

// Shared by the swarm tests; set once by swarmOnce.
var (
	swarmOnce   sync.Once
	swarmEngine *privateEngine
	swarmErr    error
)

// requireSwarm returns the private one-node swarm, starting it on first use.
// It skips the test when the machine cannot give one (not root, no `ip
// netns`, no engine to take the test image from) — or fails it under
// CI=true, where a skip would hide a broken set-up.
func requireSwarm(t *testing.T) *privateEngine {
	t.Helper()
	requireEngine(t)
	swarmOnce.Do(func() {
		if err := canMakeNetns(); err != nil {
			swarmErr = err
			return
		}
		swarmEngine, swarmErr = startPrivateEngine(true)
	})
	if swarmErr != nil {
		if inCI {
			t.Fatalf("CI=true and no private swarm: %v", swarmErr)
		}
		t.Skipf("no private swarm: %v", swarmErr)
	}
	return swarmEngine
}

// stopSwarm stops the shared private swarm if a test started it. TestMain
// calls it after the run.
func stopSwarm() {
	if swarmEngine == nil {
		return
	}
	if err := swarmEngine.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping the private swarm: %v\n", err)
	}
}

// canMakeNetns says why a network namespace cannot be made here: not root,
// or no ip, nsenter or dockerd.
func canMakeNetns() error {
	if os.Geteuid() != 0 {
		return errors.New("a private dockerd in its own network namespace needs root")
	}
	for _, tool := range []string{"ip", "nsenter", "dockerd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("a private dockerd needs %s: %w", tool, err)
		}
	}
	return nil
}

// startPrivateEngine starts a dockerd in a new network namespace, loads the
// test image into it as swarmImage and, when swarm is true, makes it a
// one-node swarm manager advertising 127.0.0.1. On error nothing is left.
func startPrivateEngine(swarm bool) (_ *privateEngine, err error) {
	var random [4]byte
	rand.Read(random[:])
	e := &privateEngine{name: fmt.Sprintf("berthe2e-swarm-%x", random)}
	// Not under t.TempDir: the engine outlives the test that started it.
	if e.dir, err = os.MkdirTemp("", "berthe2e-swarm-"); err != nil {
		return nil, err
	}
	e.host = "unix://" + filepath.Join(e.dir, "docker.sock")
	defer func() {
		if err != nil {
			if stopErr := e.stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), swarmStartTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", e.name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", e.name, err, bytes.TrimSpace(out))
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", e.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip -n %s link set lo up: %w: %s", e.name, err, bytes.TrimSpace(out))
	}
	logf, err := os.Create(filepath.Join(e.dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// nsenter, not `ip netns exec`, which would remount /sys in a mount
	// namespace of its own.
	e.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+e.name, "dockerd",
		"--data-root", filepath.Join(e.dir, "data"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "dockerd.pid"),
		"--host", e.host,
		"--cgroup-parent", "/"+e.name,
		"--log-level", "warn")
	e.cmd.Env = append(os.Environ(), "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		e.cmd = nil
		return nil, fmt.Errorf("starting the private dockerd: %w", err)
	}
	e.exited = make(chan struct{})
	go func() { e.cmd.Wait(); close(e.exited) }()

	for {
		if _, err := e.docker(ctx, nil, "info", "--format", "{{.ServerVersion}}"); err == nil {
			break
		}
		select {
		case <-e.exited:
			return nil, fmt.Errorf("the private dockerd exited: %s", e.logTail())
		case <-ctx.Done():
			return nil, fmt.Errorf("the private dockerd did not answer in %v: %s", swarmStartTimeout, e.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}

	// The test image, under a tag other than latest.
	save := exec.CommandContext(ctx, "docker", "save", busyboxImage())
	image, err := save.Output()
	if err != nil {
		return nil, fmt.Errorf("docker save %s: %w", busyboxImage(), err)
	}
	if _, err := e.docker(ctx, bytes.NewReader(image), "load", "-q"); err != nil {
		return nil, err
	}
	if _, err := e.docker(ctx, nil, "tag", busyboxImage(), swarmImage); err != nil {
		return nil, err
	}
	if _, err := e.docker(ctx, nil, "rmi", busyboxImage()); err != nil {
		return nil, err
	}
	if swarm {
		if _, err := e.docker(ctx, nil, "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// docker runs the docker CLI against the private engine.
func (e *privateEngine) docker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	r := command(ctx, "", append(os.Environ(), "DOCKER_HOST="+e.host), stdin, "docker", args...)
	if r.code != 0 {
		return "", fmt.Errorf("docker %s (private engine): exit %d: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.stderr))
	}
	return strings.TrimSpace(r.stdout), nil
}

// mustDocker is docker that fails the test on error.
func (e *privateEngine) mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := e.docker(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inNetns runs name with args in the engine's network namespace (where the
// published ports are) and returns its combined output.
func (e *privateEngine) inNetns(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/var/run/netns/" + e.name, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in netns %s: %w: %s", name, strings.Join(args, " "), e.name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// logTail returns the last lines of the private dockerd's log.
func (e *privateEngine) logTail() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// stop removes the engine's containers, stops it (killing it after
// swarmStopTimeout), kills any process left that runs from its directory
// (containerd, shims), unmounts what is mounted under its directory,
// removes its cgroup directories, its network namespace and its
// directory. It does what it can and returns every error.
func (e *privateEngine) stop() error {
	var errs []error
	if e.cmd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), swarmStopTimeout)
		// Removing the containers first spares the stop grace periods.
		if e.swarmActive(ctx) {
			e.docker(ctx, nil, "swarm", "leave", "--force")
		}
		if ids, err := e.docker(ctx, nil, "ps", "-aq"); err == nil && ids != "" {
			e.docker(ctx, nil, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
		}
		cancel()
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(swarmStopTimeout):
			errs = append(errs, fmt.Errorf("the private dockerd did not stop in %v: killed", swarmStopTimeout))
			e.cmd.Process.Kill()
			<-e.exited
		}
	}
	if pids := processesUnder(e.dir); len(pids) > 0 {
		errs = append(errs, fmt.Errorf("processes left running from %s: %v: killed", e.dir, pids))
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, m := range mountsUnder(e.dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	for _, d := range cgroupDirs(e.name) {
		if err := removeCgroup(d); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat("/var/run/netns/" + e.name); err == nil {
		if out, err := exec.Command("ip", "netns", "del", e.name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", e.name, err, bytes.TrimSpace(out)))
		}
	}
	if err := os.RemoveAll(e.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// swarmActive says whether the engine is part of a swarm.
func (e *privateEngine) swarmActive(ctx context.Context) bool {
	out, err := e.docker(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}")
	return err == nil && out == "active"
}

// processesUnder returns the pids of the processes whose command line
// names something under dir.
func processesUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder returns the mount points at or under dir, deepest last
// mounted first (the order to unmount them in).
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// mountinfo escapes spaces and the like as octal; our paths have none
		if m := fields[4]; m == dir || strings.HasPrefix(m, dir+"/") {
			mounts = append(mounts, m)
		}
	}
	slices.Reverse(mounts)
	return mounts
}

// cgroupDirs returns the cgroup directories named name at the top of each
// hierarchy (v1) or of the unified hierarchy (v2).
func cgroupDirs(name string) []string {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", name)); err == nil {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	}
	return dirs
}

// removeCgroup removes the cgroup directory d and the ones below it,
// deepest first (a cgroup directory is removed with rmdir, not unlink).
func removeCgroup(d string) error {
	var dirs []string
	filepath.WalkDir(d, func(path string, ent os.DirEntry, err error) error {
		if err == nil && ent.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	slices.Reverse(dirs)
	var errs []error
	for _, sub := range dirs {
		if err := syscall.Rmdir(sub); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", sub, err))
		}
	}
	return errors.Join(errs...)
}

// leftovers lists what a stopped private engine left behind: processes,
// mounts, cgroup directories, its network namespace or directory.
func (e *privateEngine) leftovers() []string {
	var left []string
	if pids := processesUnder(e.dir); len(pids) > 0 {
		left = append(left, fmt.Sprintf("processes %v", pids))
	}
	if e.cmd != nil && syscall.Kill(e.cmd.Process.Pid, 0) == nil {
		left = append(left, fmt.Sprintf("dockerd %d", e.cmd.Process.Pid))
	}
	for _, m := range mountsUnder(e.dir) {
		left = append(left, "mount "+m)
	}
	for _, d := range cgroupDirs(e.name) {
		left = append(left, "cgroup "+d)
	}
	if _, err := os.Stat("/var/run/netns/" + e.name); err == nil {
		left = append(left, "netns "+e.name)
	}
	if _, err := os.Stat(e.dir); err == nil {
		left = append(left, "directory "+e.dir)
	}
	return left
}

// TestSwarmHarness checks the private engine itself: it is a one-node swarm
// manager with the test image under its non-latest tag, the shared engine is
// not in swarm mode, a service with a host-mode port converges and answers
// inside the namespace; and a second private engine, stopped, leaves no
// process, mount, cgroup directory, namespace or directory behind.
func TestSwarmHarness(t *testing.T) {
	start := time.Now()
	e := requireSwarm(t)
	t.Logf("private swarm ready in %v", time.Since(start).Round(time.Millisecond))
	if got := e.mustDocker(t, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"); got != "active true" {
		t.Fatalf("private engine swarm state = %q, want %q", got, "active true")
	}
	if got := docker(t, "info", "--format", "{{.Swarm.LocalNodeState}}"); got == "active" {
		t.Fatalf("the shared engine is in swarm mode: the tests must never do that")
	}
	e.mustDocker(t, "image", "inspect", swarmImage)
	if _, err := e.docker(context.Background(), nil, "image", "inspect", busyboxImage()); err == nil {
		t.Errorf("the private engine has %s: only the non-latest tag %s should be there", busyboxImage(), swarmImage)
	}

	name := "harness-" + strings.ToLower(rand.Text()[:6])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		e.docker(ctx, nil, "service", "rm", name)
	})
	e.mustDocker(t, "service", "create", "--quiet", "--detach", "--name", name,
		"--endpoint-mode", "dnsrr", "--publish", "mode=host,target=8080,published=18080",
		"--stop-grace-period", "1s", swarmImage,
		"httpd", "-f", "-p", "8080", "-h", "/etc")
	waitFor(t, 60*time.Second, "the service's task to run", func() (bool, string) {
		out, err := e.docker(context.Background(), nil, "service", "ps", "--format", "{{.CurrentState}} {{.Error}}", name)
		return err == nil && strings.HasPrefix(out, "Running"), out
	})
	waitFor(t, 20*time.Second, "the host-mode port to answer in the namespace", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := e.inNetns(ctx, busyboxPath, "wget", "-q", "-O", "-", "http://127.0.0.1:18080/group")
		return err == nil && strings.Contains(out, "root:"), out
	})

	t.Logf("service converged and answered in %v", time.Since(start).Round(time.Millisecond))

	t.Run("teardown", func(t *testing.T) {
		start := time.Now()
		other, err := startPrivateEngine(false)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		if _, err := other.docker(ctx, nil, "run", "-d", "--name", "left", swarmImage, "sleep", "600"); err != nil {
			other.stop()
			t.Fatal(err)
		}
		if len(cgroupDirs(other.name)) == 0 || len(mountsUnder(other.dir)) == 0 {
			other.stop()
			t.Fatalf("the running private engine has no cgroup directory or mount: the check below would prove nothing")
		}
		t.Logf("second engine up in %v", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		if err := other.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		t.Logf("stopped and cleaned in %v", time.Since(start).Round(time.Millisecond))
		if left := other.leftovers(); len(left) > 0 {
			t.Errorf("the stopped private engine left %s", strings.Join(left, ", "))
		}
	})
}

// waitFor polls cond every 200ms until it holds, failing the test with what
// cond last said when timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
