package builtin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/servicetest"
)

// TestMain lets this test binary be its own shim: the runtime re-executes
// its Exe (here, the test binary) with a hidden subcommand as a
// container's shim, init, reaper, exec helper and DNS server, as it does
// the berth binary, whose main starts the same way.
//
// Under go test -cover, the children get GOCOVERDIR set to the test's
// coverage directory: their coverage counts too, and the warning a covered
// binary prints without it stays out of the containers' output.
func TestMain(m *testing.M) {
	if code, ok := builtin.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	flag.Parse()
	if f := flag.Lookup("test.gocoverdir"); f != nil && f.Value.String() != "" && os.Getenv("GOCOVERDIR") == "" {
		os.Setenv("GOCOVERDIR", f.Value.String())
	}
	os.Exit(m.Run())
}

// processesNaming lists the processes whose command line holds s.
func processesNaming(s string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		if bytes.Contains(cmdline, []byte(s)) {
			out = append(out, filepath.Dir(p)+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return out
}

// conformanceImage is the test image's name in the test's own state root.
const conformanceImage = "berth-test/busybox:conformance"

// TestConformance runs the backend conformance suite against the built-in
// runtime, in a state root of its own holding the test image, with this
// test binary as the shim. It needs root (it is skipped saying so, or fails
// under CI=true). When it ends, nothing of its root may be left on the host:
// no container, network, mount, process or bridge.
func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		servicetest.Unavailable(t, "the built-in runtime needs root")
	}
	rootfs, err := servicetest.BusyboxRootfs()
	if err != nil {
		servicetest.Unavailable(t, err.Error())
	}
	root := filepath.Join(t.TempDir(), "root")
	b, err := builtin.Open(builtin.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := loadImage(t.Context(), b, rootfs, conformanceImage); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkLeftovers(t, b) })

	buf := make([]byte, 3)
	rand.Read(buf)
	servicetest.Run(t, func(t *testing.T) service.Backend {
		b, err := builtin.Open(builtin.Options{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, servicetest.Config{
		Image:    conformanceImage,
		Prefix:   "berthtest-builtin-" + hex.EncodeToString(buf),
		Registry: servicetest.StartRegistry(t),
	})
}

// loadImage stores a one-layer image of rootfs, configured as `docker
// import --change` configures the engine's test image, as ref.
func loadImage(ctx context.Context, b *builtin.Backend, rootfs []byte, ref string) error {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rootfs)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = v1.Config{Cmd: servicetest.ImageCmd, Env: []string{servicetest.ImageEnv}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	_, err = b.Images().Write(ctx, img, []string{ref})
	return err
}

// checkLeftovers fails the test for anything of b's root left on the host
// once the suite has cleaned up: containers, networks, mounts under the
// root, processes naming it (shims, DNS servers), bridges of its networks.
// What it finds of containers and networks it removes.
func checkLeftovers(t *testing.T, b *builtin.Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := b.Root()
	cs, err := b.ListContainers(ctx, service.Filter{All: true})
	if err != nil {
		t.Errorf("list the containers of %s: %v", root, err)
	}
	for _, c := range cs {
		t.Errorf("container %s (%s) left after the suite: removing it", c.Name, c.State)
		if err := b.RemoveContainer(ctx, c.ID, service.RemoveOptions{Force: true, Volumes: true}); err != nil {
			t.Errorf("remove %s: %v", c.Name, err)
		}
	}
	ns, err := b.ListNetworks(ctx, service.Filter{})
	if err != nil {
		t.Errorf("list the networks of %s: %v", root, err)
	}
	for _, n := range ns {
		t.Errorf("network %s left after the suite: removing it", n.Name)
		if err := b.RemoveNetwork(ctx, n.ID); err != nil {
			t.Errorf("remove network %s: %v", n.Name, err)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, root+"/") {
			t.Errorf("mount left: %s", line)
		}
	}
	// A shim writes the container's last state, then exits: give the last
	// ones a moment.
	var procs []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if procs = processesNaming(root); len(procs) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range procs {
		t.Errorf("process left: %s", p)
	}
	aliases, _ := filepath.Glob("/sys/class/net/*/ifalias")
	for _, p := range aliases {
		alias, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(alias)) == builtin.BridgeAlias(root) {
			t.Errorf("bridge left: %s", filepath.Base(filepath.Dir(p)))
		}
	}
}
