package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
	"github.com/berthdev/berth/service/servicetest"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// noEngine is a DOCKER_HOST where no engine answers: the built-in runtime's
// tests run with it, so that anything reaching for an engine fails.
const noEngine = "unix:///nonexistent/berth-e2e/docker.sock"

var (
	busyboxTarOnce sync.Once
	busyboxTarPath string
	busyboxTarErr  error
)

// busyboxTarball returns the path of a `docker save` tarball of the test
// image (berth-test/busybox:latest), made once per run from Debian's
// busybox-static, without an engine.
func busyboxTarball(t *testing.T) string {
	t.Helper()
	busyboxTarOnce.Do(func() { busyboxTarPath, busyboxTarErr = makeBusyboxTarball() })
	if busyboxTarErr != nil {
		t.Fatalf("making the test image tarball: %v", busyboxTarErr)
	}
	return busyboxTarPath
}

func makeBusyboxTarball() (string, error) {
	rootfs, err := servicetest.BusyboxRootfs()
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rootfs)), nil })
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	ref, err := name.NewTag(busyboxImage())
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "berth-e2e-image-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "busybox.tar")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return "", err
	}
	return path, nil
}

// requireBuiltin skips the test when the built-in runtime cannot run here
// (not root), or fails it under CI=true.
func requireBuiltin(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "the built-in runtime needs root"
	case func() bool { _, err := exec.LookPath("nsenter"); return err != nil }():
		why = "nsenter (util-linux) is missing: make deps"
	}
	if why == "" {
		return
	}
	if inCI {
		t.Fatalf("CI=true but the built-in runtime tests cannot run: %s", why)
	}
	t.Skip(why)
}

// newBuiltinProject is newProject on the built-in runtime: its own state
// root (BERTH_ROOT, in a temporary directory) holding the test image, and
// DOCKER_HOST pointing nowhere, so that nothing can use an engine. When the
// test ends, its containers are removed and the root is checked to hold
// nothing of them: no process, no mount, no cgroup.
func newBuiltinProject(t *testing.T, files map[string]string) *testProject {
	t.Helper()
	requireBuiltin(t)
	root := builtinRoot(t)
	p := newProject(t, files)
	p.env = append(p.env, "BERTH_BACKEND=builtin", "BERTH_ROOT="+root, "DOCKER_HOST="+noEngine)
	return p
}

// builtinRoot returns a new state root holding the test image, cleaned up
// (and checked for leftovers) when the test ends.
func builtinRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	env := append(os.Environ(), "BERTH_ROOT="+root, "DOCKER_HOST="+noEngine)
	if r := command(ctx, "", env, nil, berthBin, "image", "load", "-i", busyboxTarball(t)); r.code != 0 {
		t.Fatalf("berth image load: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { cleanBuiltinRoot(t, root) })
	return root
}

// cleanBuiltinRoot removes every container of root and fails the test if
// anything of them is left: a container, a mount under root, a process
// started from root, a cgroup of a container the root ever had, a bridge
// of one of its networks. What other roots on the host have (other tests,
// other berth users) is not looked at.
func cleanBuiltinRoot(t *testing.T, root string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	b, err := builtin.Open(builtin.Options{Root: root, Exe: berthBin})
	if err != nil {
		t.Errorf("open %s: %v", root, err)
		return
	}
	cs, err := b.ListContainers(ctx, service.Filter{All: true})
	if err != nil {
		t.Errorf("list the containers of %s: %v", root, err)
	}
	for _, c := range cs {
		t.Errorf("container %s (%s) left after the test: removing it", c.Name, c.State)
		if err := b.RemoveContainer(ctx, c.ID, service.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove %s: %v", c.Name, err)
		}
	}
	ns, err := b.ListNetworks(ctx, service.Filter{})
	if err != nil {
		t.Errorf("list the networks of %s: %v", root, err)
	}
	for _, n := range ns {
		t.Errorf("network %s left after the test: removing it", n.Name)
		if err := b.RemoveNetwork(ctx, n.ID); err != nil {
			t.Errorf("remove network %s: %v", n.Name, err)
		}
	}
	for _, leak := range builtinLeftovers(root) {
		t.Errorf("left behind: %s", leak)
	}
	for _, br := range bridgesOf(root) {
		t.Errorf("left behind: bridge %s", br)
	}
}

// bridgesOf lists the bridges of the networks of root on the host: those
// whose alias names root (builtin.BridgeAlias).
func bridgesOf(root string) []string {
	var out []string
	paths, _ := filepath.Glob("/sys/class/net/bb-*/ifalias")
	for _, p := range paths {
		alias, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(alias)) == builtin.BridgeAlias(root) {
			out = append(out, filepath.Base(filepath.Dir(p)))
		}
	}
	return out
}

// builtinLeftovers lists what of root's containers is still on the host.
func builtinLeftovers(root string) []string {
	var out []string
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, root) {
			out = append(out, "mount "+line)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(root)) {
			out = append(out, "process "+filepath.Dir(p)+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	events, _ := os.ReadFile(filepath.Join(root, "events.jsonl"))
	seen := map[string]bool{}
	for _, line := range strings.Split(string(events), "\n") {
		var e struct{ ID string }
		if json.Unmarshal([]byte(line), &e) != nil || e.ID == "" || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		if exists, _ := filepath.Glob(filepath.Join(root, "containers", e.ID)); len(exists) > 0 {
			out = append(out, "container directory "+exists[0])
		}
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/berth/" + e.ID)
		for _, cg := range cgs {
			out = append(out, "cgroup "+cg)
		}
	}
	return out
}

// newProjectFunc makes a test project on one backend.
type newProjectFunc func(t *testing.T, files map[string]string) *testProject

// onBothBackends runs fn as the subtests "engine" (the Docker engine) and
// "builtin" (the built-in runtime, no engine), one table for the two.
func onBothBackends(t *testing.T, fn func(t *testing.T, newP newProjectFunc)) {
	t.Run("engine", func(t *testing.T) {
		requireEngine(t)
		fn(t, newProject)
	})
	t.Run("builtin", func(t *testing.T) {
		fn(t, newBuiltinProject)
	})
}

// backend returns an in-process view of the backend p runs on, to inspect
// what berth made.
func (p *testProject) backend(t *testing.T) service.Backend {
	t.Helper()
	if root := builtinRootOf(p); root != "" {
		b, err := builtin.Open(builtin.Options{Root: root, Exe: berthBin})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := engine.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// inspect returns a container of p, by name, as its backend sees it.
func (p *testProject) inspect(t *testing.T, name string) service.Container {
	t.Helper()
	c, err := p.backend(t).InspectContainer(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leftovers lists the containers, networks and volumes of p's project.
func (p *testProject) leftovers(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	b := p.backend(t)
	f := service.Filter{Labels: map[string]string{service.LabelProject: p.name}, All: true}
	var out []string
	cs, err := b.ListContainers(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		out = append(out, "container "+c.Name)
	}
	ns, err := b.ListNetworks(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	vs, err := b.ListVolumes(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		out = append(out, "volume "+v.Name)
	}
	return out
}

// TestDemoImage makes the test image (berth-test/busybox:latest) for `make
// demo` on the backend berth would use: imported into the engine when one
// answers, else loaded into the built-in runtime's store (BERTH_ROOT). It
// runs only with BERTH_DEMO=1.
func TestDemoImage(t *testing.T) {
	if os.Getenv("BERTH_DEMO") == "" {
		t.Skip("set BERTH_DEMO=1 (make demo)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	r := command(ctx, "", os.Environ(), nil, berthBin, "version", "--format", "json")
	var v struct{ Backend string }
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil {
		t.Fatalf("berth version: exit %d, %v: %s", r.code, err, r.stderr)
	}
	if v.Backend == "engine" {
		if err := ensureBusyboxImage(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if r := command(ctx, "", os.Environ(), nil, berthBin, "image", "load", "-i", busyboxTarball(t)); r.code != 0 {
		t.Fatalf("berth image load: exit %d: %s", r.code, r.stderr)
	}
}
