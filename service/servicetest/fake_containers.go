package servicetest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
)

// fakeContainer is a container of a Fake. Its fields are guarded by the
// Fake's mutex.
type fakeContainer struct {
	id, name  string
	spec      service.ContainerSpec
	imageID   string
	state     string
	health    string
	exitCode  int
	created   time.Time
	started   time.Time
	finished  time.Time
	endpoints map[string]service.Endpoint // by network ID
	mounts    []service.MountPoint
	ports     []service.Port
	logs      []logEntry
	files     map[string]fakeFile // what CopyTo stored, by clean absolute path
	removed   bool
}

// fakeFile is a regular file or a directory CopyTo stored in a container.
type fakeFile struct {
	dir     bool
	mode    int64 // permission bits
	modTime time.Time
	data    []byte
}

// running reports whether the container has a process: running or paused.
func (c *fakeContainer) running() bool {
	return c.state == service.StateRunning || c.state == service.StatePaused
}

type logEntry struct {
	time   time.Time
	stderr bool
	line   string // ends with a newline
}

// containerLocked finds a container by ID or name; nil if there is none.
func (f *Fake) containerLocked(ref string) *fakeContainer {
	if c, ok := f.containers[ref]; ok {
		return c
	}
	name := strings.TrimPrefix(ref, "/")
	for _, c := range f.containers {
		if c.name == name {
			return c
		}
	}
	return nil
}

// resolveContainerLocked finds a container and the Call.Object that names
// it: its name, or ref when there is none.
func (f *Fake) resolveContainerLocked(ref string) (*fakeContainer, string) {
	c := f.containerLocked(ref)
	if c == nil {
		return nil, ref
	}
	return c, c.name
}

// containerNames returns what faults match against for a container: the
// argument, and the name and ID when it exists.
func containerNames(ref string, c *fakeContainer) []string {
	if c == nil {
		return []string{ref}
	}
	return []string{ref, c.name, c.id}
}

// viewLocked returns what the backend shows of c; inspect adds the start
// and finish times.
func (f *Fake) viewLocked(c *fakeContainer, inspect bool) service.Container {
	v := service.Container{
		ID:       c.id,
		Name:     c.name,
		Image:    c.spec.Image,
		ImageID:  c.imageID,
		Labels:   maps.Clone(c.spec.Labels),
		State:    c.state,
		Health:   c.health,
		ExitCode: c.exitCode,
		Status:   c.status(f.now()),
		Command:  strings.Join(slices.Concat(c.spec.Entrypoint, c.spec.Command), " "),
		Created:  c.created,
		Networks: make(map[string]string, len(c.endpoints)),
		Mounts:   slices.Clone(c.mounts),
		Ports:    slices.Clone(c.ports),
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	for id := range c.endpoints {
		if n := f.networks[id]; n != nil {
			v.Networks[n.spec.Name] = id
		}
	}
	if inspect {
		v.StartedAt, v.FinishedAt = c.started, c.finished
	}
	return v
}

// status is the engine's human summary of the container's state.
func (c *fakeContainer) status(now time.Time) string {
	return service.StatusText(service.Container{State: c.state, Health: c.health, ExitCode: c.exitCode, StartedAt: c.started, FinishedAt: c.finished}, now)
}

// ListContainers returns the containers whose labels match filter: running
// and paused ones, and with filter.All created and exited ones too. They
// are sorted by name and have no StartedAt or FinishedAt.
func (f *Fake) ListContainers(ctx context.Context, filter service.Filter) ([]service.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "ListContainers", Call{}); err != nil {
		return nil, err
	}
	var out []service.Container
	for _, c := range f.containers {
		if (filter.All || c.running()) && filter.Matches(c.spec.Labels) {
			out = append(out, f.viewLocked(c, false))
		}
	}
	slices.SortFunc(out, func(a, b service.Container) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectContainer returns the container named by ID or name, with its start
// and finish times; ErrNotFound if there is none.
func (f *Fake) InspectContainer(ctx context.Context, id string) (service.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "InspectContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		return service.Container{}, err
	}
	if c == nil {
		return service.Container{}, notFound("container", id)
	}
	return f.viewLocked(c, true), nil
}

// CreateContainer creates a container in state created and returns its ID.
// ErrConflict if the name is taken; ErrNotFound if the image is not known
// (see AddImage) or a network of spec.Networks does not exist; an error
// wrapping neither for an invalid name or mount. It creates the volumes
// that spec's volume mounts need, and sends a "create" event.
func (f *Fake) CreateContainer(ctx context.Context, spec service.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "CreateContainer", Call{Object: spec.Name}); err != nil {
		return "", err
	}
	spec = cloneContainerSpec(spec)
	spec.Name = strings.TrimPrefix(spec.Name, "/")
	if spec.Name != "" {
		if !validName(spec.Name) {
			return "", fmt.Errorf("container %q: invalid name: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", spec.Name)
		}
		if f.containerLocked(spec.Name) != nil {
			return "", conflict("container", spec.Name, "the name is already in use")
		}
	}
	imageID, ok := f.imageLocked(spec.Image)
	if !ok {
		return "", fmt.Errorf("container %q: %w", spec.Name, notFound("image", spec.Image))
	}
	endpoints := make(map[string]service.Endpoint, len(spec.Networks))
	for _, ep := range spec.Networks {
		n, err := f.networkLocked(cmp.Or(ep.NetworkID, ep.Network))
		if err != nil {
			return "", fmt.Errorf("container %q: %w", spec.Name, err)
		}
		if n == nil {
			return "", fmt.Errorf("container %q: %w", spec.Name, notFound("network", ep.Network))
		}
		ep.Network = n.spec.Name
		endpoints[n.id] = ep
	}
	for _, m := range spec.Mounts {
		switch m.Type {
		case service.MountBind, service.MountTmpfs:
		case service.MountVolume:
			if m.Source != "" && !validName(m.Source) {
				return "", fmt.Errorf("container %q: volume %q: invalid name", spec.Name, m.Source)
			}
		default:
			return "", fmt.Errorf("container %q: mount on %q: unknown type %q", spec.Name, m.Target, m.Type)
		}
	}

	// Everything is checked: from here on the call succeeds.
	c := &fakeContainer{
		id:        f.newIDLocked(),
		name:      spec.Name,
		imageID:   imageID,
		state:     service.StateCreated,
		created:   f.now(),
		endpoints: endpoints,
	}
	if c.name == "" {
		c.name = "fake_" + c.id[:12]
		spec.Name = c.name
	}
	c.spec = spec
	for _, m := range spec.Mounts {
		mp := service.MountPoint{Type: m.Type, Source: m.Source, Destination: m.Target}
		if m.Type == service.MountVolume {
			v := f.volumes[m.Source]
			if v == nil {
				v = f.newVolumeLocked(service.VolumeSpec{Name: m.Source}, m.Source == "")
			}
			mp.Name, mp.Source = v.vol.Name, v.vol.Mountpoint
		}
		if m.Type == service.MountTmpfs {
			mp.Source = ""
		}
		c.mounts = append(c.mounts, mp)
	}
	f.containers[c.id] = c
	f.emitLocked(c, "create")
	f.broadcastLocked()
	return c.id, nil
}

// StartContainer starts a created or exited container and sends a "start"
// event. Starting a running container does nothing. ErrNotFound if there is
// none; ErrConflict if it is paused.
func (f *Fake) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "StartContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	switch c.state {
	case service.StateRunning:
		return nil
	case service.StatePaused:
		return conflict("container", c.name, "is paused: unpause it instead")
	}
	f.startLocked(c)
	return nil
}

// StopContainer ends a running or paused container as its stop signal would
// (exit code 128 + the signal's number), sending "kill", "die" and "stop"
// events; it does not wait, whatever timeout says. Stopping a container that
// is not running does nothing. ErrNotFound if there is none.
func (f *Fake) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "StopContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if !c.running() {
		return nil
	}
	f.stopLocked(c)
	f.afterExitLocked(c)
	return nil
}

// RemoveContainer removes a container, detaching it from its networks and
// releasing its volumes, and sends a "destroy" event. A running or paused
// one is killed first with opts.Force (ErrConflict otherwise). With
// opts.Volumes its anonymous volumes that no other container uses are
// removed too. ErrNotFound if there is none.
func (f *Fake) RemoveContainer(ctx context.Context, id string, opts service.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "RemoveContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if c.running() {
		if !opts.Force {
			return conflict("container", c.name, "is running: stop it first or force the removal")
		}
		f.emitLocked(c, "kill")
		f.exitLocked(c, 128+9)
	}
	f.removeLocked(c, opts.Volumes)
	return nil
}

// RenameContainer renames a container and sends a "rename" event.
// ErrNotFound if there is none, ErrConflict if another container has the
// name or it is the container's own.
func (f *Fake) RenameContainer(ctx context.Context, id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, obj := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "RenameContainer", Call{Object: obj, Detail: name}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	name = strings.TrimPrefix(name, "/")
	if !validName(name) {
		return fmt.Errorf("container %q: invalid name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", c.name, name)
	}
	if f.containerLocked(name) != nil {
		return conflict("container", name, "the name is already in use")
	}
	c.name = name
	c.spec.Name = name
	f.emitLocked(c, "rename")
	f.broadcastLocked()
	return nil
}

// startLocked makes c running and sends "start".
func (f *Fake) startLocked(c *fakeContainer) {
	c.state = service.StateRunning
	c.started = f.now()
	c.exitCode = 0
	c.health = ""
	if hasHealthcheck(c.spec) {
		c.health = service.HealthStarting
	}
	c.ports = nil
	for _, p := range c.spec.Ports {
		hostPort, _, _ := strings.Cut(p.HostPort, "-")
		port, err := strconv.ParseUint(hostPort, 10, 16)
		if err != nil || port == 0 {
			port = uint64(f.nextPort)
			f.nextPort++
		}
		c.ports = append(c.ports, service.Port{
			HostIP:        p.HostIP,
			HostPort:      uint16(port),
			ContainerPort: p.ContainerPort,
			Protocol:      cmp.Or(p.Protocol, "tcp"),
		})
	}
	f.emitLocked(c, "start")
	f.broadcastLocked()
}

// stopLocked ends running c as its stop signal would: "kill", "die",
// "stop".
func (f *Fake) stopLocked(c *fakeContainer) {
	sig, ok := signalNumber(c.spec.StopSignal)
	if !ok || c.spec.StopSignal == "" {
		sig = 15
	}
	f.emitLocked(c, "kill")
	f.exitLocked(c, 128+sig)
	f.emitLocked(c, "stop")
}

// exitLocked makes running c exited with code and sends "die".
func (f *Fake) exitLocked(c *fakeContainer, code int) {
	c.state = service.StateExited
	c.exitCode = code
	if c.health != "" {
		c.health = service.HealthUnhealthy // as Docker: its last probe state once stopped
	}
	c.finished = f.now()
	c.ports = nil
	f.emitLocked(c, "die")
	f.broadcastLocked()
}

// afterExitLocked removes an exited AutoRemove container.
func (f *Fake) afterExitLocked(c *fakeContainer) {
	if c.spec.AutoRemove && !c.removed {
		f.removeLocked(c, true)
	}
}

// removeLocked removes c (not running), and its anonymous volumes that no
// other container uses when volumes is set; it sends "destroy".
func (f *Fake) removeLocked(c *fakeContainer, volumes bool) {
	delete(f.containers, c.id)
	c.removed = true
	if volumes {
		for _, m := range c.mounts {
			if v := f.volumes[m.Name]; m.Type == service.MountVolume && v != nil && v.anonymous && !f.volumeInUseLocked(v.vol.Name) {
				delete(f.volumes, v.vol.Name)
			}
		}
	}
	f.emitLocked(c, "destroy")
	f.broadcastLocked()
}

// hasHealthcheck reports whether spec defines a healthcheck that runs.
func hasHealthcheck(spec service.ContainerSpec) bool {
	h := spec.Healthcheck
	return h != nil && len(h.Test) > 0 && h.Test[0] != "NONE"
}
