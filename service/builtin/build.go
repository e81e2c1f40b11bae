package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/build"
	"github.com/berthdev/berth/service/builtin/state"
)

const (
	// labelBuildStep marks the containers RUN steps run in; its value is
	// the building process's PID.
	labelBuildStep = "berth.build.step"
	// labelBuildNetwork marks the network RUN steps of one build share;
	// its value is the building process's PID.
	labelBuildNetwork = "berth.build.network"
	// mountPointsFile is the file in a build step's container directory
	// where its init lists the mount points it created (see initConfig).
	mountPointsFile = "mountpoints.json"
	// buildTempRepo is the repository of the references builds give the
	// images their RUN steps run in (build's tempRepo).
	buildTempRepo = "localhost/berth-build:"
)

// BuildImage implements service.Builder: the Dockerfile is built by the
// build package, its RUN steps run in containers of this runtime.
func (b *Backend) BuildImage(ctx context.Context, spec service.BuildSpec, buildContext io.Reader, progress io.Writer) (string, error) {
	done, err := b.beginBuild(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	run := &stepRunner{b: b}
	defer run.close()
	return build.Build(ctx, b.images, run, spec, buildContext, progress)
}

// beginBuild holds builds.lock shared while a build runs. When it can take
// it exclusively first, no build runs: what killed builds left (step
// containers, their networks, temporary image references) is removed.
func (b *Backend) beginBuild(ctx context.Context) (func(), error) {
	lock, err := os.OpenFile(filepath.Join(b.root, "builds.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if state.LockFile(lock, true, false) == nil {
		b.sweepBuilds(ctx)
	}
	if err := state.LockFile(lock, false, true); err != nil {
		lock.Close()
		return nil, fmt.Errorf("build: lock: %w", err)
	}
	return func() { lock.Close() }, nil
}

// sweepBuilds removes what builds left behind; only called when none runs.
func (b *Backend) sweepBuilds(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if cs, err := b.ListContainers(ctx, service.Filter{All: true, Labels: map[string]string{labelBuildStep: ""}}); err == nil {
		for _, c := range cs {
			_ = b.RemoveContainer(ctx, c.ID, service.RemoveOptions{Force: true, Volumes: true})
		}
	}
	if ns, err := b.ListNetworks(ctx, service.Filter{Labels: map[string]string{labelBuildNetwork: ""}}); err == nil {
		for _, n := range ns {
			_ = b.RemoveNetwork(ctx, n.ID)
		}
	}
	imgs, err := b.images.List()
	if err != nil {
		return
	}
	removed := false
	for _, img := range imgs {
		for _, ref := range img.Refs {
			if strings.HasPrefix(ref, buildTempRepo) {
				removed = b.images.Remove(ref) == nil || removed
			}
		}
	}
	if removed {
		_, _ = b.images.GC()
	}
}

// stepRunner runs the RUN steps of one build (build.Runner). Steps on the
// default network share a bridge network made for the build on its first
// such step and removed by close.
type stepRunner struct {
	b       *Backend
	mu      sync.Mutex
	network string // the build's network, once made
}

// PullsMissingBases implements build.Puller: a base image missing from
// the store is pulled, as docker build does.
func (r *stepRunner) PullsMissingBases() bool { return true }

// RunStep implements build.Runner.
func (r *stepRunner) RunStep(ctx context.Context, ref string, step build.RunStep, out io.Writer) (int, string, func(), error) {
	b := r.b
	user := step.User
	if user == "" {
		user = "0:0" // the image's config is not to apply: root
	}
	spec := service.ContainerSpec{
		Image:        ref,
		Labels:       map[string]string{labelBuildStep: strconv.Itoa(os.Getpid())},
		Entrypoint:   []string{},
		Command:      step.Cmd,
		Env:          step.Env,
		WorkingDir:   step.WorkDir,
		User:         user,
		Healthcheck:  &service.Healthcheck{Test: []string{"NONE"}},
		ExtraHosts:   step.ExtraHosts,
		Resources:    service.Resources{ShmSize: step.ShmSize, Memory: step.Memory},
		AttachStdout: true, AttachStderr: true,
	}
	switch step.Network {
	case "host", "none":
		spec.NetworkMode = step.Network
	case "", "default", "bridge":
		n, err := r.buildNetwork(ctx)
		if err != nil {
			return 0, "", nil, err
		}
		spec.Networks = []service.Endpoint{{Network: n}}
	default:
		return 0, "", nil, fmt.Errorf("network %q: the built-in runtime runs build steps on default, host or none: %w", step.Network, service.ErrUnsupported)
	}
	id, err := b.CreateContainer(ctx, spec)
	if err != nil {
		return 0, "", nil, err
	}
	cleanup := func() {
		_ = b.RemoveContainer(context.WithoutCancel(ctx), id, service.RemoveOptions{Force: true, Volumes: true})
	}
	code, err := r.run(ctx, id, out)
	if err != nil {
		cleanup()
		return 0, "", nil, err
	}
	upper := filepath.Join(b.containerDir(id), "upper")
	if err := stripMountPoints(upper, filepath.Join(b.containerDir(id), mountPointsFile)); err != nil {
		cleanup()
		return 0, "", nil, err
	}
	return code, upper, cleanup, nil
}

// run starts the step's container with its output going to out and
// returns its exit code.
func (r *stepRunner) run(ctx context.Context, id string, out io.Writer) (int, error) {
	b := r.b
	wait, err := b.Attach(ctx, id, nil, out, out)
	if err != nil {
		return 0, err
	}
	if err := b.StartContainer(ctx, id); err != nil {
		return 0, err
	}
	code, err := b.WaitContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	if err := wait(); err != nil && ctx.Err() == nil {
		return 0, fmt.Errorf("output of the step: %w", err)
	}
	return code, ctx.Err()
}

// buildNetwork returns the build's bridge network, making it on first use.
func (r *stepRunner) buildNetwork(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.network != "" {
		return r.network, nil
	}
	name := "berth-build-" + state.NewID()[:12]
	if _, err := r.b.CreateNetwork(ctx, service.NetworkSpec{
		Name: name, Driver: "bridge", Labels: map[string]string{labelBuildNetwork: strconv.Itoa(os.Getpid())},
	}); err != nil {
		return "", fmt.Errorf("the network of the build's RUN steps: %w", err)
	}
	r.network = name
	return name, nil
}

// close removes the build's network.
func (r *stepRunner) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.network != "" {
		_ = r.b.RemoveNetwork(context.Background(), r.network)
		r.network = ""
	}
}

// stripMountPoints removes from a step's upper directory the mount points
// its init created (listed in the file list), when they are still what
// the init made: an empty file or an empty directory. Deepest first, so
// that a directory made only to hold a mount point goes too. A list that
// is missing (the init failed before writing it) strips nothing.
func stripMountPoints(upper, list string) error {
	data, err := os.ReadFile(list)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the step's mount points: %w", err)
	}
	var paths []string
	if err := json.Unmarshal(data, &paths); err != nil {
		return fmt.Errorf("the step's mount points (%s): %w", list, err)
	}
	for _, p := range slices.Backward(paths) {
		full := filepath.Join(upper, filepath.Clean("/"+p))
		st, err := os.Lstat(full)
		if err != nil {
			continue
		}
		switch {
		case st.Mode().IsRegular() && st.Size() == 0:
			_ = os.Remove(full)
		case st.IsDir():
			if ents, err := os.ReadDir(full); err == nil && len(ents) == 0 {
				_ = os.Remove(full)
			}
		}
	}
	return nil
}
