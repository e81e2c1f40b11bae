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
	e, err := newPrivateEngine()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if stopErr := e.stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), swarmStartTimeout)
	defer cancel()
	image, err := testImageTar(ctx)
	if err != nil {
		return nil, err
	}
	if err := e.start(ctx, image); err != nil {
		return nil, err
	}
	if swarm {
		if _, err := e.docker(ctx, nil, "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// newPrivateEngine makes the directory and the network namespace (its
// loopback up) of a private engine, not started yet. On error nothing is
// left.
func newPrivateEngine() (_ *privateEngine, err error) {
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
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", e.name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", e.name, err, bytes.TrimSpace(out))
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", e.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip -n %s link set lo up: %w: %s", e.name, err, bytes.TrimSpace(out))
	}
	return e, nil
}

// testImageTar returns the test image from the shared engine, as docker
// save writes it.
func testImageTar(ctx context.Context) ([]byte, error) {
	image, err := exec.CommandContext(ctx, "docker", "save", busyboxImage()).Output()
	if err != nil {
		return nil, fmt.Errorf("docker save %s: %w", busyboxImage(), err)
	}
	return image, nil
}

// start starts the engine's dockerd in its network namespace and in a UTS
// namespace of its own whose hostname is e.name (so that two private
// engines are two swarm nodes with their own hostnames), waits for it to
// answer and loads image (docker save's output of the test image) as
// swarmImage. The caller stops the engine on error.
func (e *privateEngine) start(ctx context.Context, image []byte) error {
	logf, err := os.Create(filepath.Join(e.dir, "dockerd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// nsenter, not `ip netns exec`, which would remount /sys in a mount
	// namespace of its own. The shell names the new UTS namespace's host
	// and execs dockerd: e.cmd is dockerd.
	e.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+e.name, "--",
		"sh", "-c", `echo "$0" > /proc/sys/kernel/hostname && exec "$@"`, e.name,
		"dockerd",
		"--data-root", filepath.Join(e.dir, "data"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "dockerd.pid"),
		"--host", e.host,
		"--cgroup-parent", "/"+e.name,
		"--log-level", "warn")
	e.cmd.Env = append(os.Environ(), "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWUTS}
	if err := e.cmd.Start(); err != nil {
		e.cmd = nil
		return fmt.Errorf("starting the private dockerd: %w", err)
	}
	e.exited = make(chan struct{})
	go func() { e.cmd.Wait(); close(e.exited) }()

	for {
		if _, err := e.docker(ctx, nil, "info", "--format", "{{.ServerVersion}}"); err == nil {
			break
		}
		select {
		case <-e.exited:
			return fmt.Errorf("the private dockerd exited: %s", e.logTail())
		case <-ctx.Done():
			return fmt.Errorf("the private dockerd did not answer in time: %w: %s", context.Cause(ctx), e.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}

	// The test image, under a tag other than latest.
	if _, err := e.docker(ctx, bytes.NewReader(image), "load", "-q"); err != nil {
		return err
	}
	if _, err := e.docker(ctx, nil, "tag", busyboxImage(), swarmImage); err != nil {
		return err
	}
	if _, err := e.docker(ctx, nil, "rmi", busyboxImage()); err != nil {
		return err
	}
	return nil
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

// swarmNodesEnv is the variable that asks for the multi-node swarm tests:
// BERTH_E2E_SWARM_NODES=2 (make e2e sets it under CI=true).
const swarmNodesEnv = "BERTH_E2E_SWARM_NODES"

// privateCluster is a two-node swarm of private engines: a manager and a
// worker, each in its network namespace, joined by a veth pair on the
// private subnet <prefix>.0/24 (manager .1, worker .2). Nothing of it is in
// the host's network namespace.
type privateCluster struct {
	manager, worker *privateEngine
	// prefix is the first three bytes of the veth pair's /24, "10.213.N".
	prefix string
	// veth names the pair's ends: the manager's, then the worker's.
	veth [2]string
}

// requireSwarmCluster starts a two-node private swarm for the test and
// stops it when the test ends, failing the test if the stop leaves
// anything behind. It skips the test unless BERTH_E2E_SWARM_NODES is 2 or
// more, or the machine cannot give private engines (fails under CI=true).
func requireSwarmCluster(t *testing.T) *privateCluster {
	t.Helper()
	if n, _ := strconv.Atoi(os.Getenv(swarmNodesEnv)); n < 2 {
		t.Skipf("set %s=2 for the multi-node swarm tests (make e2e sets it under CI=true)", swarmNodesEnv)
	}
	requireEngine(t)
	err := canMakeNetns()
	var c *privateCluster
	if err == nil {
		start := time.Now()
		c, err = startPrivateCluster()
		t.Logf("two-node private swarm ready in %v", time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		if inCI {
			t.Fatalf("CI=true and no private two-node swarm: %v", err)
		}
		t.Skipf("no private two-node swarm: %v", err)
	}
	t.Cleanup(func() {
		// What the stop must remove is there: else the check after it
		// would prove nothing.
		if missing := c.parts(); len(missing) > 0 {
			t.Errorf("the running two-node swarm has no %s: the teardown check proves nothing", strings.Join(missing, ", "))
		}
		start := time.Now()
		if err := c.stop(); err != nil {
			t.Errorf("stopping the two-node swarm: %v", err)
		}
		if left := c.leftovers(); len(left) > 0 {
			t.Errorf("the stopped two-node swarm left %s", strings.Join(left, ", "))
		}
		t.Logf("two-node private swarm stopped and cleaned in %v", time.Since(start).Round(time.Millisecond))
	})
	return c
}

// freeSubnetPrefix returns "10.213.N" for an N such that no address or
// route of the host's network namespace is in 10.213.N.0/24. The pair's
// addresses never show in the host's namespace, so this only keeps them
// from being mistaken for the host's own.
func freeSubnetPrefix(ctx context.Context) (string, error) {
	var used []byte
	for _, args := range [][]string{{"-4", "-o", "addr"}, {"-4", "route", "show", "table", "all"}} {
		out, err := exec.CommandContext(ctx, "ip", args...).Output()
		if err != nil {
			return "", fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
		}
		used = append(used, out...)
	}
	var random [1]byte
	rand.Read(random[:])
	for i := range 254 {
		prefix := fmt.Sprintf("10.213.%d", 1+(int(random[0])+i)%254)
		if !bytes.Contains(used, []byte(prefix+".")) && !bytes.Contains(used, []byte("10.213.0.0/")) {
			return prefix, nil
		}
	}
	return "", errors.New("every 10.213.N.0/24 is in use on this host")
}

// startPrivateCluster starts two private engines, joins their namespaces
// with a veth pair, makes the first a swarm manager on its veth address
// and joins the second as a worker (labelled berth.e2e.zone=b) over the
// pair. On error nothing is left.
func startPrivateCluster() (_ *privateCluster, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*swarmStartTimeout)
	defer cancel()
	c := &privateCluster{}
	defer func() {
		if err != nil {
			if stopErr := c.stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	if c.prefix, err = freeSubnetPrefix(ctx); err != nil {
		return nil, err
	}
	if c.manager, err = newPrivateEngine(); err != nil {
		return nil, err
	}
	if c.worker, err = newPrivateEngine(); err != nil {
		return nil, err
	}
	// Interface names are at most 15 bytes: "bz" + the engine's random.
	c.veth = [2]string{"bz" + strings.TrimPrefix(c.manager.name, "berthe2e-swarm-") + "m", "bz" + strings.TrimPrefix(c.worker.name, "berthe2e-swarm-") + "w"}
	ip := func(args ...string) error {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	// Made in the two namespaces directly: never in the host's.
	if err := ip("link", "add", c.veth[0], "netns", c.manager.name, "type", "veth", "peer", "name", c.veth[1], "netns", c.worker.name); err != nil {
		return nil, err
	}
	for i, e := range []*privateEngine{c.manager, c.worker} {
		if err := ip("-n", e.name, "addr", "add", c.addr(i)+"/24", "dev", c.veth[i]); err != nil {
			return nil, err
		}
		if err := ip("-n", e.name, "link", "set", c.veth[i], "up"); err != nil {
			return nil, err
		}
	}

	image, err := testImageTar(ctx)
	if err != nil {
		return nil, err
	}
	// Both dockerds start at once: the slow part.
	errs := make(chan error, 2)
	for _, e := range []*privateEngine{c.manager, c.worker} {
		go func() { errs <- e.start(ctx, image) }()
	}
	if err := errors.Join(<-errs, <-errs); err != nil {
		return nil, err
	}
	for i, e := range []*privateEngine{c.manager, c.worker} {
		if err := openSwarmPorts(ctx, e, c.veth[i]); err != nil {
			return nil, err
		}
	}
	listen := func(i int) string { return c.addr(i) + ":2377" }
	if _, err := c.manager.docker(ctx, nil, "swarm", "init", "--advertise-addr", c.addr(0), "--listen-addr", listen(0)); err != nil {
		return nil, err
	}
	token, err := c.manager.docker(ctx, nil, "swarm", "join-token", "-q", "worker")
	if err != nil {
		return nil, err
	}
	if _, err := c.worker.docker(ctx, nil, "swarm", "join", "--token", token, "--advertise-addr", c.addr(1), "--listen-addr", listen(1), listen(0)); err != nil {
		return nil, err
	}
	if _, err := c.manager.docker(ctx, nil, "node", "update", "--label-add", "berth.e2e.zone=b", c.worker.name); err != nil {
		return nil, err
	}
	for {
		out, err := c.manager.docker(ctx, nil, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}}")
		if err == nil && strings.Count(out, " Ready Active") == 2 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the two nodes are not both ready: %w: %s", context.Cause(ctx), out)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return c, nil
}

// openSwarmPorts makes sure the netfilter of e's namespace (never the
// host's) lets in, on its veth end, what the swarm needs between nodes:
// 2377/tcp (cluster management), 7946/tcp+udp (gossip) and 4789/udp (the
// overlay's VXLAN data path). A new namespace accepts everything, and
// dockerd adds no INPUT rule, so this only acts when something did.
func openSwarmPorts(ctx context.Context, e *privateEngine, veth string) error {
	out, err := e.inNetns(ctx, "iptables", "-S", "INPUT")
	if err != nil {
		return err
	}
	if strings.Contains(out, "-P INPUT ACCEPT") && !strings.Contains(out, "-j DROP") && !strings.Contains(out, "-j REJECT") {
		return nil
	}
	for _, port := range []struct{ proto, port string }{{"tcp", "2377"}, {"tcp", "7946"}, {"udp", "7946"}, {"udp", "4789"}} {
		if _, err := e.inNetns(ctx, "iptables", "-I", "INPUT", "-i", veth, "-p", port.proto, "--dport", port.port, "-j", "ACCEPT"); err != nil {
			return err
		}
	}
	return nil
}

// addr returns the veth address of node i: 0 the manager, 1 the worker.
func (c *privateCluster) addr(i int) string { return fmt.Sprintf("%s.%d", c.prefix, i+1) }

// stop stops both engines at once (the worker leaves the swarm first);
// deleting their namespaces deletes the veth pair. It returns every error.
func (c *privateCluster) stop() error {
	if c.worker != nil && c.worker.cmd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), swarmStopTimeout)
		c.worker.docker(ctx, nil, "swarm", "leave", "--force")
		cancel()
	}
	errs := make(chan error, 2)
	for _, e := range []*privateEngine{c.manager, c.worker} {
		go func() {
			if e == nil {
				errs <- nil
				return
			}
			errs <- e.stop()
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// parts lists what a running cluster should have and has not: each
// engine's network namespace, cgroup directory, mounts and processes, and
// each end of the veth pair in its namespace.
func (c *privateCluster) parts() []string {
	var missing []string
	for i, e := range []*privateEngine{c.manager, c.worker} {
		if _, err := os.Stat("/var/run/netns/" + e.name); err != nil {
			missing = append(missing, "netns "+e.name)
		}
		if len(cgroupDirs(e.name)) == 0 {
			missing = append(missing, "cgroup of "+e.name)
		}
		if len(mountsUnder(e.dir)) == 0 {
			missing = append(missing, "mount under "+e.dir)
		}
		if len(processesUnder(e.dir)) == 0 {
			missing = append(missing, "process of "+e.name)
		}
		if exec.Command("ip", "-n", e.name, "link", "show", c.veth[i]).Run() != nil {
			missing = append(missing, "link "+c.veth[i]+" in "+e.name)
		}
	}
	return missing
}

// leftovers lists what a stopped cluster left behind: each engine's
// leftovers, and either end of the veth pair still anywhere in the host's
// namespace.
func (c *privateCluster) leftovers() []string {
	var left []string
	for _, e := range []*privateEngine{c.manager, c.worker} {
		if e != nil {
			left = append(left, e.leftovers()...)
		}
	}
	for _, v := range c.veth {
		if v == "" {
			continue
		}
		if _, err := os.Stat("/sys/class/net/" + v); err == nil {
			left = append(left, "link "+v)
		} else if exec.Command("ip", "link", "show", v).Run() == nil {
			left = append(left, "link "+v)
		}
	}
	return left
}
