package builtin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/image"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
)

// defaultStopTimeout is docker's grace period before SIGKILL.
const defaultStopTimeout = 10 * time.Second

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Prefixes of the container directories being created or removed.
const (
	stagingPrefix = ".new-"
	gonePrefix    = ".gone-"
)

// sweepContainerDirs removes what a killed berth left under containers/: a
// container directory it was making (.new-<id>) or removing (.gone-<id>),
// or one with no record (made by an older berth killed while creating).
// Creations hold containers.lock from their first directory until the
// rename into place, so under that lock every such directory is a
// leftover. It costs one directory read when there is nothing to sweep.
func (b *Backend) sweepContainerDirs() {
	dir := filepath.Join(b.root, "containers")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	leftover := func(name string) bool {
		switch {
		case strings.HasPrefix(name, stagingPrefix), strings.HasPrefix(name, gonePrefix):
			return true
		case len(name) == 64:
			return !state.Exists(filepath.Join(dir, name, "container.json"))
		}
		return false
	}
	var junk []string
	for _, e := range ents {
		if e.IsDir() && leftover(e.Name()) {
			junk = append(junk, e.Name())
		}
	}
	if len(junk) == 0 {
		return
	}
	unlock, err := state.Lock(filepath.Join(b.root, "containers.lock"))
	if err != nil {
		return
	}
	defer unlock()
	for _, name := range junk {
		if !leftover(name) {
			continue
		}
		id := strings.TrimPrefix(strings.TrimPrefix(name, stagingPrefix), gonePrefix)
		_ = cgroup.Open(id, b.cg).Remove()
		_ = os.RemoveAll(filepath.Join(dir, name))
	}
}

// ListContainers implements service.Backend. It sweeps what killed berths
// left first (sweepContainerDirs).
func (b *Backend) ListContainers(ctx context.Context, f service.Filter) ([]service.Container, error) {
	b.sweepContainerDirs()
	ids, err := b.ids()
	if err != nil {
		return nil, err
	}
	var out []service.Container
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := b.get(id)
		if errors.Is(err, service.ErrNotFound) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, err
		}
		if !f.Matches(r.Spec.Labels) || (!f.All && !r.State.Active()) {
			continue
		}
		out = append(out, containerOf(r, false))
	}
	return out, nil
}

// InspectContainer implements service.Backend.
func (b *Backend) InspectContainer(ctx context.Context, ref string) (service.Container, error) {
	r, err := b.get(ref)
	if err != nil {
		return service.Container{}, err
	}
	return containerOf(r, true), nil
}

// containerOf is the service view of a record.
func containerOf(r *records.Container, inspect bool) service.Container {
	c := service.Container{
		ID:       r.ID,
		Name:     r.Name,
		Image:    r.Spec.Image,
		ImageID:  r.ImageID,
		Labels:   r.Spec.Labels,
		State:    r.State.Status,
		Health:   r.State.Health,
		ExitCode: r.State.ExitCode,
		Status:   r.State.Describe(time.Now()),
		Command:  strings.Join(r.Process.Args, " "),
		Created:  r.Created,
		Networks: map[string]string{},
		Ports:    r.State.Ports,
	}
	if inspect {
		c.StartedAt, c.FinishedAt = r.State.StartedAt, r.State.FinishedAt
		c.HealthOutput = r.State.HealthOutput
	}
	for name, a := range r.Networks {
		c.Networks[name] = a.ID
	}
	for _, m := range r.Spec.Mounts {
		c.Mounts = append(c.Mounts, service.MountPoint{Type: m.Type, Name: volumeName(m), Source: m.Source, Destination: m.Target})
	}
	return c
}

func volumeName(m service.Mount) string {
	if m.Type == service.MountVolume {
		return m.Source
	}
	return ""
}

// CreateContainer implements service.Backend.
func (b *Backend) CreateContainer(ctx context.Context, spec service.ContainerSpec) (string, error) {
	id := state.NewID()
	if spec.Name == "" {
		spec.Name = id[:12]
	}
	name := spec.Name
	if !validName.MatchString(name) {
		return "", fmt.Errorf("create container %q: invalid name: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if err := checkSpec(spec); err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	img, err := b.images.Get(spec.Image)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	args, env, cwd, user, err := image.ApplyConfig(img.Config, spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	layers, err := b.unpackLayers(ctx, img)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	r := &records.Container{
		ID: id, Name: name, Created: time.Now().UTC(), Spec: spec, ImageID: img.ID, Layers: layers,
		Process:    records.Process{Args: args, Env: env, Cwd: cwd, User: user},
		Health:     image.MergeHealthcheck(img.Config, spec),
		StopSignal: image.StopSignal(img.Config, spec),
		Networks:   map[string]records.Attachment{},
		State:      records.RunState{Status: service.StateCreated},
	}
	if r.Spec.Hostname == "" {
		r.Spec.Hostname = id[:12]
	}
	if other, ok := strings.CutPrefix(spec.NetworkMode, "container:"); ok {
		o, err := b.get(other)
		if err != nil {
			return "", fmt.Errorf("create container %s: network_mode %s: %w", name, spec.NetworkMode, err)
		}
		// Docker records the container by ID and gives the joiner its
		// hostname.
		r.Spec.NetworkMode, r.Spec.Hostname = "container:"+o.ID, o.Spec.Hostname
	}
	if spec.NetworkMode == "" {
		for i, ep := range spec.Networks {
			n, err := b.findNetwork(cmp.Or(ep.NetworkID, ep.Network))
			if err != nil {
				return "", fmt.Errorf("create container %s: %w", name, err)
			}
			a, err := records.EndpointAttachment(n.ID, ep, i)
			if err != nil {
				return "", fmt.Errorf("create container %s: %w", name, err)
			}
			r.Networks[n.Name] = a
		}
	}
	if err := b.inheritVolumes(r); err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	// Anonymous volumes: those the spec asks for with no name, and the
	// image's VOLUMEs nothing else is mounted at, as docker makes them.
	for _, v := range img.Config.Volumes {
		covered := false
		for _, m := range r.Spec.Mounts {
			covered = covered || path.Clean(m.Target) == path.Clean(v)
		}
		if !covered {
			r.Spec.Mounts = append(r.Spec.Mounts, service.Mount{Type: service.MountVolume, Target: v})
		}
	}
	var anonymous []string
	for i, m := range r.Spec.Mounts {
		if m.Type != service.MountVolume {
			continue
		}
		if m.Source == "" {
			v, err := b.CreateVolume(ctx, service.VolumeSpec{Name: state.NewID(), Labels: map[string]string{labelAnonymous: ""}})
			if err != nil {
				return "", fmt.Errorf("create container %s: anonymous volume at %s: %w", name, m.Target, err)
			}
			r.Spec.Mounts[i].Source = v.Name
			anonymous = append(anonymous, v.Name)
			continue
		}
		if _, err := b.InspectVolume(ctx, m.Source); err != nil {
			return "", fmt.Errorf("create container %s: %w", name, err)
		}
	}
	dropAnonymous := func() {
		for _, v := range anonymous {
			_ = b.RemoveVolume(context.WithoutCancel(ctx), v, true)
		}
	}

	unlock, err := state.Lock(filepath.Join(b.root, "containers.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if other, err := b.resolve(name); err == nil {
		dropAnonymous()
		return "", fmt.Errorf("create container %s: the name is already in use by container %s: %w", name, other[:12], service.ErrConflict)
	}
	// Made whole under a staging name, then renamed into place: a berth
	// killed meanwhile leaves a .new- directory, which sweepContainerDirs
	// removes, never a container directory without its record.
	staging := filepath.Join(b.root, "containers", stagingPrefix+id)
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(staging, d), 0o755); err != nil {
			os.RemoveAll(staging)
			dropAnonymous()
			return "", fmt.Errorf("create container %s: %w", name, err)
		}
	}
	if err := state.WriteJSON(filepath.Join(staging, "container.json"), r); err != nil {
		os.RemoveAll(staging)
		dropAnonymous()
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	if err := os.Rename(staging, b.containerDir(id)); err != nil {
		os.RemoveAll(staging)
		dropAnonymous()
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	b.emit(r, "create", 0)
	return id, nil
}

// checkSpec rejects what the built-in runtime cannot do yet, rather than
// silently running something else.
func checkSpec(spec service.ContainerSpec) error {
	switch mode := spec.NetworkMode; {
	case mode == "", mode == "none", mode == "host", mode == "bridge", mode == "default", strings.HasPrefix(mode, "container:"):
	default:
		return fmt.Errorf("network_mode %q is not supported by the built-in runtime yet: %w", mode, service.ErrUnsupported)
	}
	if d := spec.LogDriver; d != "" && d != "json-file" && d != "local" {
		return fmt.Errorf("logging driver %q: the built-in runtime writes json-file logs only: %w", d, service.ErrUnsupported)
	}
	return nil
}

// StartContainer implements service.Backend: it launches the container's
// shim and returns once the container's command is running, or with the
// reason it could not start (`exec: "x": executable file not found in $PATH`).
func (b *Backend) StartContainer(ctx context.Context, ref string) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	if r.State.Active() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(r.Networks) > 0 && r.Spec.NetworkMode == "" {
		// The DNS server may have been killed since its network was made.
		if err := b.ensureDNS(); err != nil {
			return fmt.Errorf("start container %s: DNS server: %w", r.Name, err)
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start container %s: %w", r.Name, err)
	}
	defer pr.Close()
	logf, err := os.OpenFile(filepath.Join(b.containerDir(r.ID), "shim.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		pw.Close()
		return fmt.Errorf("start container %s: %w", r.Name, err)
	}
	defer logf.Close()
	cmd := exec.Command(b.exe, shimCommand, b.root, r.ID, b.cg.Root, b.cg.Parent)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Env = helperEnv("PATH=" + os.Getenv("PATH"))
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return fmt.Errorf("start container %s: run the shim %s: %w", r.Name, b.exe, err)
	}
	go cmd.Wait() //nolint:errcheck // reaps the shim if this process outlives it
	msg, _ := io.ReadAll(pr)
	switch s := strings.TrimSpace(string(msg)); {
	case s == "ok":
		return nil
	case s == "":
		log, _ := os.ReadFile(filepath.Join(b.containerDir(r.ID), "shim.log"))
		return fmt.Errorf("start container %s: the shim failed: %s", r.Name, lastLine(string(log)))
	default:
		return fmt.Errorf("start container %s: %s", r.Name, s)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no message"
	}
	return s
}

// StopContainer implements service.Backend.
func (b *Backend) StopContainer(ctx context.Context, ref string, timeout *time.Duration) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	if !r.State.Active() {
		return nil
	}
	t := defaultStopTimeout
	if r.Spec.StopTimeout != nil {
		t = *r.Spec.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	if r.State.Status == service.StatePaused {
		if err := b.UnpauseContainer(ctx, r.ID); err != nil {
			return err
		}
	}
	return b.stop(ctx, r, r.StopSignal, t)
}

// stop asks the shim to stop the container: signal, up to grace, SIGKILL.
// It returns once the shim has recorded the container's end.
func (b *Backend) stop(ctx context.Context, r *records.Container, signal string, grace time.Duration) error {
	_, err := b.call(ctx, r, request{Op: "stop", Signal: signal, Timeout: grace})
	if err != nil {
		return fmt.Errorf("stop container %s: %w", r.Name, err)
	}
	return b.awaitInactive(ctx, r.ID)
}

// awaitInactive waits until no shim supervises the container.
func (b *Backend) awaitInactive(ctx context.Context, id string) error {
	for {
		r, err := b.get(id)
		if err != nil || !r.State.Active() {
			if errors.Is(err, service.ErrNotFound) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// KillContainer implements service.Signaller.
func (b *Backend) KillContainer(ctx context.Context, ref, signal string) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	if _, err := parseSignal(signal); err != nil {
		return fmt.Errorf("kill container %s: %w", r.Name, err)
	}
	if r.State.Status != service.StateRunning && r.State.Status != service.StatePaused {
		return fmt.Errorf("kill container %s: it is not running: %w", r.Name, service.ErrConflict)
	}
	if _, err := b.call(ctx, r, request{Op: "kill", Signal: signal}); err != nil {
		return fmt.Errorf("kill container %s: %w", r.Name, err)
	}
	return nil
}

// PauseContainer implements service.Signaller (the cgroup freezer).
func (b *Backend) PauseContainer(ctx context.Context, ref string) error {
	return b.freeze(ref, true)
}

// UnpauseContainer implements service.Signaller.
func (b *Backend) UnpauseContainer(ctx context.Context, ref string) error {
	return b.freeze(ref, false)
}

func (b *Backend) freeze(ref string, pause bool) error {
	id, err := b.resolve(ref)
	if err != nil {
		return err
	}
	verb, from, to := "pause", service.StateRunning, service.StatePaused
	if !pause {
		verb, from, to = "unpause", service.StatePaused, service.StateRunning
	}
	r, err := b.update(id, func(r *records.Container) error {
		if r.State.Status != from {
			return fmt.Errorf("%s container %s: it is %s, not %s: %w", verb, r.Name, r.State.Status, from, service.ErrConflict)
		}
		cg := cgroup.Open(r.ID, b.cg)
		op := cg.Freeze
		if !pause {
			op = cg.Thaw
		}
		if err := op(); err != nil {
			return fmt.Errorf("%s container %s: %w", verb, r.Name, err)
		}
		r.State.Status = to
		return nil
	})
	if err != nil {
		return err
	}
	b.emit(r, verb, 0)
	return nil
}

// RestartContainer implements service.Signaller.
func (b *Backend) RestartContainer(ctx context.Context, ref string, timeout *time.Duration) error {
	if err := b.StopContainer(ctx, ref, timeout); err != nil {
		return err
	}
	return b.StartContainer(ctx, ref)
}

// WaitContainer implements service.Waiter.
func (b *Backend) WaitContainer(ctx context.Context, ref string) (int, error) {
	r, err := b.get(ref)
	if err != nil {
		return 0, err
	}
	// Until it is not running: a container its policy restarts is not
	// running in between, as with the engine's "not-running" condition.
	for r.State.Status == service.StateRunning || r.State.Status == service.StatePaused {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		next, err := b.get(r.ID)
		if errors.Is(err, service.ErrNotFound) {
			break // auto-removed: the last state seen is the answer
		} else if err != nil {
			return 0, err
		}
		r = next
	}
	return r.State.ExitCode, nil
}

// RemoveContainer implements service.Backend.
func (b *Backend) RemoveContainer(ctx context.Context, ref string, opts service.RemoveOptions) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	if r.State.Active() {
		if !opts.Force {
			return fmt.Errorf("remove container %s: it is %s: stop it first or force the removal: %w", r.Name, r.State.Status, service.ErrConflict)
		}
		if r.State.Status == service.StatePaused {
			_ = b.UnpauseContainer(ctx, r.ID)
		}
		if err := b.stop(ctx, r, "SIGKILL", 0); err != nil {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if err := b.destroy(r.ID); err != nil {
		return err
	}
	if opts.Volumes {
		for _, m := range r.Spec.Mounts {
			if m.Type != service.MountVolume {
				continue
			}
			if v, err := b.volume(m.Source); err == nil {
				if _, anon := v.Labels[labelAnonymous]; anon {
					_ = b.RemoveVolume(ctx, v.Name, false)
				}
			}
		}
	}
	return nil
}

// inheritVolumes adds the volumes and bind mounts of the containers of
// r's volumes_from ("name[:ro|:rw]") to its mounts, as docker does at
// create: read-only with ro, writable with rw, else as the other has them;
// a target r mounts itself is left alone.
func (b *Backend) inheritVolumes(r *records.Container) error {
	for _, from := range r.Spec.VolumesFrom {
		name, mode, _ := strings.Cut(from, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return fmt.Errorf("volumes_from %s: invalid mode %q (ro or rw)", from, mode)
		}
		o, err := b.get(name)
		if err != nil {
			return fmt.Errorf("volumes_from %s: %w", from, err)
		}
		for _, m := range o.Spec.Mounts {
			if m.Type != service.MountVolume && m.Type != service.MountBind {
				continue
			}
			if slices.ContainsFunc(r.Spec.Mounts, func(x service.Mount) bool { return path.Clean(x.Target) == path.Clean(m.Target) }) {
				continue
			}
			if mode != "" {
				m.ReadOnly = mode == "ro"
			}
			r.Spec.Mounts = append(r.Spec.Mounts, m)
		}
	}
	return nil
}

// ResizeTTY implements service.Resizer: the shim resizes the terminal of
// a running container with a TTY (and of its later runs).
func (b *Backend) ResizeTTY(ctx context.Context, ref string, size service.TerminalSize) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	if !r.Spec.Tty {
		return nil
	}
	if !r.State.Active() {
		return fmt.Errorf("resize the terminal of %s: it is %s, not running: %w", r.Name, r.State.Status, service.ErrConflict)
	}
	_, err = b.call(ctx, r, request{Op: "resize", Size: size})
	return err
}

// labelAnonymous marks the volumes the runtime made for a container's
// anonymous mounts, as the engine does.
const labelAnonymous = "com.docker.volume.anonymous"

// destroy deletes a stopped container's files.
func (b *Backend) destroy(id string) error {
	unlock, err := state.Lock(filepath.Join(b.containerDir(id), "lock"))
	if err != nil {
		return fmt.Errorf("container %q: %w", id, service.ErrNotFound)
	}
	defer unlock()
	r, err := b.load(id)
	if err != nil {
		return err
	}
	if r.State.Active() {
		return fmt.Errorf("remove container %s: it is %s again: %w", r.Name, r.State.Status, service.ErrConflict)
	}
	_ = cgroup.Open(r.ID, b.cg).Remove()
	os.Remove(b.sockPath(r.ID))
	// The directory is renamed away first: a concurrent reader sees the
	// whole container or none of it, and a berth killed meanwhile leaves a
	// .gone- directory, which sweepContainerDirs removes.
	gone := filepath.Join(b.root, "containers", gonePrefix+id)
	if err := os.Rename(b.containerDir(id), gone); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	b.emit(r, "destroy", 0)
	return nil
}

// RenameContainer implements service.Backend.
func (b *Backend) RenameContainer(ctx context.Context, ref, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("rename container %s: invalid name %q", ref, name)
	}
	id, err := b.resolve(ref)
	if err != nil {
		return err
	}
	unlock, err := state.Lock(filepath.Join(b.root, "containers.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if other, err := b.resolve(name); err == nil && other != id {
		return fmt.Errorf("rename container %s to %s: the name is in use by container %s: %w", ref, name, other[:12], service.ErrConflict)
	}
	r, err := b.update(id, func(r *records.Container) error { r.Name = name; return nil })
	if err != nil {
		return err
	}
	b.emit(r, "rename", 0)
	return nil
}
