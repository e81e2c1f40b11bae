package servicetest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
)

type fakeNetwork struct {
	id      string
	spec    service.NetworkSpec
	created time.Time
}

type fakeVolume struct {
	vol       service.Volume
	opts      map[string]string
	anonymous bool
}

type fakeImage struct {
	id     string
	tags   []string // normalized, sorted
	labels map[string]string
	parent string // the ID of the image it was built on, if any
	// created is when the Fake made it
	created time.Time
}

// labelAnonymous marks the volumes the engine creates for volume mounts
// with no source.
const labelAnonymous = "com.docker.volume.anonymous"

// networkLocked finds a network by ID or name; nil if there is none. A
// name that several networks have (see AddNetwork) is an error, as on the
// engine.
func (f *Fake) networkLocked(ref string) (*fakeNetwork, error) {
	if n, ok := f.networks[ref]; ok {
		return n, nil
	}
	var found *fakeNetwork
	matches := 0
	for _, n := range f.networks {
		if n.spec.Name == ref {
			found = n
			matches++
		}
	}
	if matches > 1 {
		return nil, fmt.Errorf("network %s is ambiguous (%d matches found on name)", ref, matches)
	}
	return found, nil
}

func (f *Fake) resolveNetworkLocked(ref string) (*fakeNetwork, string, []string, error) {
	n, err := f.networkLocked(ref)
	if n == nil {
		return nil, ref, []string{ref}, err
	}
	return n, n.spec.Name, []string{ref, n.spec.Name, n.id}, nil
}

// AddNetwork creates a network from spec even when its name is taken, as an
// engine before API 1.44 does when the duplicate check is not asked for (or
// when two creates race), and returns its ID. Its creation time is Now.
// From then on the name is ambiguous: methods given it fail, as on the
// engine, and only IDs address those networks.
func (f *Fake) AddNetwork(spec service.NetworkSpec) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := &fakeNetwork{id: f.newIDLocked(), spec: cloneNetworkSpec(spec), created: f.Now()}
	n.spec.Driver = cmp.Or(n.spec.Driver, "bridge")
	f.networks[n.id] = n
	f.broadcastLocked()
	return n.id
}

// attachedLocked returns the containers attached to network id, sorted by
// name.
func (f *Fake) attachedLocked(id string) []*fakeContainer {
	var out []*fakeContainer
	for _, c := range f.containers {
		if _, ok := c.endpoints[id]; ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *fakeContainer) int { return cmp.Compare(a.name, b.name) })
	return out
}

func (f *Fake) networkViewLocked(n *fakeNetwork, inspect bool) service.Network {
	v := service.Network{
		ID:       n.id,
		Name:     n.spec.Name,
		Driver:   n.spec.Driver,
		Internal: n.spec.Internal,
		Labels:   maps.Clone(n.spec.Labels),
		Created:  n.created,
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if inspect {
		v.Containers = []string{}
		for _, c := range f.attachedLocked(n.id) {
			v.Containers = append(v.Containers, c.id)
		}
	}
	return v
}

// ListNetworks returns the networks whose labels match filter, sorted by
// name, without their containers.
func (f *Fake) ListNetworks(ctx context.Context, filter service.Filter) ([]service.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "ListNetworks", Call{}); err != nil {
		return nil, err
	}
	var out []service.Network
	for _, n := range f.networks {
		if filter.Matches(n.spec.Labels) {
			out = append(out, f.networkViewLocked(n, false))
		}
	}
	slices.SortFunc(out, func(a, b service.Network) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectNetwork returns the network named by ID or name with the IDs of the
// containers attached to it; ErrNotFound if there is none.
func (f *Fake) InspectNetwork(ctx context.Context, id string) (service.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, name, names, rerr := f.resolveNetworkLocked(id)
	if err := f.enterLocked(ctx, "InspectNetwork", Call{Object: name}, names...); err != nil {
		return service.Network{}, err
	}
	if rerr != nil {
		return service.Network{}, rerr
	}
	if n == nil {
		return service.Network{}, notFound("network", id)
	}
	return f.networkViewLocked(n, true), nil
}

// CreateNetwork creates a network (driver "bridge" unless spec says) and
// returns its ID; ErrConflict if the name is taken.
func (f *Fake) CreateNetwork(ctx context.Context, spec service.NetworkSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "CreateNetwork", Call{Object: spec.Name}); err != nil {
		return "", err
	}
	if spec.Name == "" {
		return "", fmt.Errorf("network: empty name")
	}
	if n, err := f.networkLocked(spec.Name); n != nil || err != nil {
		return "", conflict("network", spec.Name, "the name is already in use")
	}
	n := &fakeNetwork{id: f.newIDLocked(), spec: cloneNetworkSpec(spec), created: f.Now()}
	n.spec.Driver = cmp.Or(n.spec.Driver, "bridge")
	f.networks[n.id] = n
	return n.id, nil
}

// RemoveNetwork removes a network; ErrConflict while any container, running
// or not, is attached; ErrNotFound if there is none.
func (f *Fake) RemoveNetwork(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, name, names, rerr := f.resolveNetworkLocked(id)
	if err := f.enterLocked(ctx, "RemoveNetwork", Call{Object: name}, names...); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if n == nil {
		return notFound("network", id)
	}
	if attached := f.attachedLocked(n.id); len(attached) > 0 {
		var names []string
		for _, c := range attached {
			names = append(names, c.name)
		}
		return conflict("network", n.spec.Name, "containers are attached: "+strings.Join(names, ", "))
	}
	delete(f.networks, n.id)
	f.broadcastLocked()
	return nil
}

// ConnectNetwork attaches a container, whatever its state, to a network.
// ErrNotFound if either does not exist; ErrConflict if it is attached
// already.
func (f *Fake) ConnectNetwork(ctx context.Context, network, container string, ep service.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, nname, names, rerr := f.resolveNetworkLocked(network)
	c, cname := f.resolveContainerLocked(container)
	names = append(names, containerNames(container, c)...)
	if err := f.enterLocked(ctx, "ConnectNetwork", Call{Object: nname, Detail: cname}, names...); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if n == nil {
		return notFound("network", network)
	}
	if c == nil {
		return fmt.Errorf("network %q: %w", n.spec.Name, notFound("container", container))
	}
	if _, ok := c.endpoints[n.id]; ok {
		return conflict("network", n.spec.Name, fmt.Sprintf("container %q is attached already", c.name))
	}
	ep = cloneEndpoint(ep)
	ep.Network = n.spec.Name
	c.endpoints[n.id] = ep
	f.broadcastLocked()
	return nil
}

// DisconnectNetwork detaches a container from a network. ErrNotFound if
// either does not exist or the container is not attached to the network
// (force changes nothing).
func (f *Fake) DisconnectNetwork(ctx context.Context, network, container string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, nname, names, rerr := f.resolveNetworkLocked(network)
	c, cname := f.resolveContainerLocked(container)
	names = append(names, containerNames(container, c)...)
	if err := f.enterLocked(ctx, "DisconnectNetwork", Call{Object: nname, Detail: cname}, names...); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if n == nil {
		return notFound("network", network)
	}
	if c == nil {
		return fmt.Errorf("network %q: %w", n.spec.Name, notFound("container", container))
	}
	if _, ok := c.endpoints[n.id]; !ok {
		return fmt.Errorf("network %q: container %q is not attached: %w", n.spec.Name, c.name, service.ErrNotFound)
	}
	delete(c.endpoints, n.id)
	f.broadcastLocked()
	return nil
}

// newVolumeLocked creates a volume (spec.Name must be free); an anonymous
// one gets a generated name and the anonymous label.
func (f *Fake) newVolumeLocked(spec service.VolumeSpec, anonymous bool) *fakeVolume {
	name := spec.Name
	if anonymous {
		name = f.newIDLocked()
	}
	v := &fakeVolume{
		vol: service.Volume{
			Name:       name,
			Driver:     cmp.Or(spec.Driver, "local"),
			Labels:     maps.Clone(spec.Labels),
			Mountpoint: "/var/lib/servicetest-fake/volumes/" + name + "/_data",
		},
		opts:      maps.Clone(spec.DriverOpts),
		anonymous: anonymous,
	}
	if v.vol.Labels == nil {
		v.vol.Labels = map[string]string{}
	}
	if anonymous {
		v.vol.Labels[labelAnonymous] = ""
	}
	f.volumes[name] = v
	return v
}

// volumeInUseLocked reports whether any container mounts the volume.
func (f *Fake) volumeInUseLocked(name string) bool {
	for _, c := range f.containers {
		for _, m := range c.mounts {
			if m.Type == service.MountVolume && m.Name == name {
				return true
			}
		}
	}
	return false
}

// ListVolumes returns the volumes whose labels match filter, sorted by name.
func (f *Fake) ListVolumes(ctx context.Context, filter service.Filter) ([]service.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "ListVolumes", Call{}); err != nil {
		return nil, err
	}
	var out []service.Volume
	for _, v := range f.volumes {
		if filter.Matches(v.vol.Labels) {
			out = append(out, cloneVolume(v.vol))
		}
	}
	slices.SortFunc(out, func(a, b service.Volume) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectVolume returns a volume; ErrNotFound if there is none.
func (f *Fake) InspectVolume(ctx context.Context, name string) (service.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "InspectVolume", Call{Object: name}); err != nil {
		return service.Volume{}, err
	}
	v := f.volumes[name]
	if v == nil {
		return service.Volume{}, notFound("volume", name)
	}
	return cloneVolume(v.vol), nil
}

// CreateVolume creates a volume (driver "local" unless spec says; a
// generated name when spec has none) and returns it. When a volume of that
// name exists with the same driver it is returned unchanged, whatever its
// labels and options; with another driver the result is ErrConflict.
func (f *Fake) CreateVolume(ctx context.Context, spec service.VolumeSpec) (service.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "CreateVolume", Call{Object: spec.Name}); err != nil {
		return service.Volume{}, err
	}
	if spec.Name == "" {
		v := f.newVolumeLocked(spec, true)
		f.calls[len(f.calls)-1].Object = v.vol.Name
		return cloneVolume(v.vol), nil
	}
	if !validName(spec.Name) {
		return service.Volume{}, fmt.Errorf("volume %q: invalid name: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", spec.Name)
	}
	if v := f.volumes[spec.Name]; v != nil {
		if driver := cmp.Or(spec.Driver, "local"); driver != v.vol.Driver {
			return service.Volume{}, conflict("volume", spec.Name, fmt.Sprintf("exists with driver %q, not %q", v.vol.Driver, driver))
		}
		return cloneVolume(v.vol), nil
	}
	return cloneVolume(f.newVolumeLocked(spec, false).vol), nil
}

// RemoveVolume removes a volume; ErrConflict while a container (running or
// not) uses it, force or not, as on the engine, where force only forgives
// driver errors; ErrNotFound if there is none, force or not.
func (f *Fake) RemoveVolume(ctx context.Context, name string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "RemoveVolume", Call{Object: name}); err != nil {
		return err
	}
	if f.volumes[name] == nil {
		return notFound("volume", name)
	}
	if f.volumeInUseLocked(name) {
		return conflict("volume", name, "in use by a container")
	}
	delete(f.volumes, name)
	return nil
}

// imageLocked returns the ID of the image a reference or ID names.
func (f *Fake) imageLocked(ref string) (string, bool) {
	if ref == "" {
		return "", false
	}
	if _, ok := f.images[ref]; ok {
		return ref, true
	}
	if _, ok := f.images["sha256:"+ref]; ok {
		return "sha256:" + ref, true
	}
	id, ok := f.tags[normalizeRef(ref)]
	return id, ok
}

// InspectImage returns an image added with AddImage, built, or pulled, by
// reference or ID; ErrNotFound if there is none.
func (f *Fake) InspectImage(ctx context.Context, ref string) (service.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "InspectImage", Call{Object: ref}); err != nil {
		return service.Image{}, err
	}
	id, ok := f.imageLocked(ref)
	if !ok {
		return service.Image{}, notFound("image", ref)
	}
	img := f.images[id]
	labels := maps.Clone(img.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	return service.Image{
		ID: id, RepoTags: slices.Clone(img.tags), Labels: labels,
		Size: fakeImageSize, Created: img.created, OS: "linux", Architecture: "amd64",
	}, nil
}

// normalizeRef returns the short form of an image reference with its tag:
// "busybox" and "docker.io/library/busybox" become "busybox:latest".
func normalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "index.docker.io/")
	ref = strings.TrimPrefix(ref, "library/")
	if strings.Contains(ref, "@") {
		return ref
	}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		ref += ":latest"
	}
	return ref
}
