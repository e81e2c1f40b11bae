package builtin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
)

// networkRecord is networks/<id>.json.
type networkRecord struct {
	service.Network
	Spec    service.NetworkSpec
	Created time.Time
	// Subnet ("10.89.3.0/24") and Gateway (the bridge's address, where
	// the network's DNS answers) of the network; Bridge is the Linux
	// bridge's name.
	Subnet, Gateway, Bridge string
}

func (b *Backend) networkPath(id string) string { return filepath.Join(b.root, "networks", id+".json") }

// pendingNetworkPath is where a network's record is while its bridge and
// rules are made (networks/.new-<id>.json) or removed (.gone-<id>.json),
// so that what a killed berth left can be undone (sweepNetworks).
func (b *Backend) pendingNetworkPath(prefix, id string) string {
	return filepath.Join(b.root, "networks", prefix+id+".json")
}

// sweepNetworks undoes what a berth killed while it made or removed a
// network left: the bridge and forwarding rules of a .new- or .gone-
// record, and the record, and a record it was writing (writeJSON's .tmp-
// file). Creations and removals hold networks.lock throughout, so under
// that lock every such file is a leftover. It costs one directory read
// when there is nothing to sweep.
func (b *Backend) sweepNetworks() {
	dir := filepath.Join(b.root, "networks")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var junk []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") || filepath.Ext(name) == ".json" && (strings.HasPrefix(name, stagingPrefix) || strings.HasPrefix(name, gonePrefix)) {
			junk = append(junk, name)
		}
	}
	if len(junk) == 0 {
		return
	}
	unlock, err := state.Lock(filepath.Join(b.root, "networks.lock"))
	if err != nil {
		return
	}
	defer unlock()
	for _, name := range junk {
		var n networkRecord
		if !strings.HasPrefix(name, ".tmp-") && state.ReadJSON(filepath.Join(dir, name), &n) == nil && n.Bridge != "" {
			b.tearDownNetwork(n)
		}
		_ = os.Remove(filepath.Join(dir, name))
	}
	if rest, err := b.networks(); err == nil && len(rest) == 0 {
		b.stopDNS()
	}
}

func (b *Backend) networks() ([]networkRecord, error) {
	ents, err := os.ReadDir(filepath.Join(b.root, "networks"))
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var out []networkRecord
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".json" || strings.HasPrefix(e.Name(), ".") {
			continue // not a record, or one being made or removed
		}
		var n networkRecord
		if err := state.ReadJSON(filepath.Join(b.root, "networks", e.Name()), &n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// findNetwork finds a network by ID, name or unique ID prefix.
func (b *Backend) findNetwork(ref string) (networkRecord, error) {
	ns, err := b.networks()
	if err != nil {
		return networkRecord{}, err
	}
	var prefixed []networkRecord
	for _, n := range ns {
		if n.ID == ref || n.Name == ref {
			return n, nil
		}
		if len(ref) >= 3 && len(n.ID) > len(ref) && n.ID[:len(ref)] == ref {
			prefixed = append(prefixed, n)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0], nil
	}
	return networkRecord{}, fmt.Errorf("network %q: %w", ref, service.ErrNotFound)
}

// ListNetworks implements service.Backend. It sweeps what killed berths
// left first (sweepNetworks).
func (b *Backend) ListNetworks(ctx context.Context, f service.Filter) ([]service.Network, error) {
	b.sweepNetworks()
	ns, err := b.networks()
	if err != nil {
		return nil, err
	}
	var out []service.Network
	for _, n := range ns {
		if f.Matches(n.Labels) {
			v := n.Network
			v.Created = n.Created
			out = append(out, v)
		}
	}
	return out, nil
}

// InspectNetwork implements service.Backend.
func (b *Backend) InspectNetwork(ctx context.Context, ref string) (service.Network, error) {
	n, err := b.findNetwork(ref)
	if err != nil {
		return service.Network{}, err
	}
	out := n.Network
	out.Created = n.Created
	out.Containers, err = b.attached(n.ID, false)
	return out, err
}

// attached lists the containers attached to network id (running ones
// only, when running).
func (b *Backend) attached(network string, running bool) ([]string, error) {
	ids, err := b.ids()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		r, err := b.get(id)
		if err != nil {
			continue
		}
		if running && !r.State.Active() {
			continue
		}
		for _, a := range r.Networks {
			if a.ID == network {
				out = append(out, r.ID)
			}
		}
	}
	return out, nil
}

// CreateNetwork implements service.Backend: a Linux bridge with an address
// range, forwarding rules, and the root's DNS server answering on the
// bridge's address.
func (b *Backend) CreateNetwork(ctx context.Context, spec service.NetworkSpec) (string, error) {
	unlock, err := state.Lock(filepath.Join(b.root, "networks.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if n, err := b.findNetwork(spec.Name); err == nil && n.Name == spec.Name {
		return "", fmt.Errorf("create network %s: the name is in use: %w", spec.Name, service.ErrConflict)
	}
	driver := spec.Driver
	if driver == "" {
		driver = "bridge"
	}
	if driver != "bridge" {
		return "", fmt.Errorf("create network %s: driver %q: the built-in runtime has bridge networks only: %w", spec.Name, driver, service.ErrUnsupported)
	}
	n := networkRecord{
		Network: service.Network{ID: state.NewID(), Name: spec.Name, Driver: driver, Internal: spec.Internal, Labels: spec.Labels},
		Spec:    spec, Created: time.Now().UTC(),
	}
	n.Bridge = "bb-" + n.ID[:12]
	pending := b.pendingNetworkPath(stagingPrefix, n.ID)
	if err := b.setUpNetwork(&n); err != nil {
		b.tearDownNetwork(n)
		os.Remove(pending)
		return "", fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	if err := state.WriteJSON(b.networkPath(n.ID), n); err != nil {
		b.tearDownNetwork(n)
		os.Remove(pending)
		return "", fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	os.Remove(pending)
	if err := b.ensureDNS(); err != nil {
		return "", fmt.Errorf("create network %s: start its DNS server: %w", spec.Name, err)
	}
	return n.ID, nil
}

// RemoveNetwork implements service.Backend.
func (b *Backend) RemoveNetwork(ctx context.Context, ref string) error {
	unlock, err := state.Lock(filepath.Join(b.root, "networks.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	n, err := b.findNetwork(ref)
	if err != nil {
		return err
	}
	users, err := b.attached(n.ID, true)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("remove network %s: it has active endpoints (%d containers): %w", n.Name, len(users), service.ErrConflict)
	}
	// The record goes first (no one finds the network any more), renamed,
	// so that a berth killed before the bridge is gone leaves a .gone-
	// record sweepNetworks undoes.
	gone := b.pendingNetworkPath(gonePrefix, n.ID)
	if err := os.Rename(b.networkPath(n.ID), gone); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	b.tearDownNetwork(n)
	os.Remove(gone)
	if rest, err := b.networks(); err == nil && len(rest) == 0 {
		b.stopDNS()
	}
	return nil
}

// ConnectNetwork implements service.Backend.
func (b *Backend) ConnectNetwork(ctx context.Context, network, container string, ep service.Endpoint) error {
	n, err := b.findNetwork(network)
	if err != nil {
		return err
	}
	id, err := b.resolve(container)
	if err != nil {
		return err
	}
	r, err := b.update(id, func(r *records.Container) error {
		if _, ok := r.Networks[n.Name]; ok {
			return fmt.Errorf("connect %s to %s: already attached: %w", r.Name, n.Name, service.ErrConflict)
		}
		a, err := records.EndpointAttachment(n.ID, ep, len(r.Networks))
		if err != nil {
			return fmt.Errorf("connect %s to %s: %w", r.Name, n.Name, err)
		}
		r.Networks[n.Name] = a
		return nil
	})
	if err != nil {
		return err
	}
	if r.State.Status == service.StateRunning && r.Spec.NetworkMode == "" {
		if err := b.hotPlug(id, n.Name); err != nil {
			return fmt.Errorf("connect %s to %s: %w", r.Name, n.Name, err)
		}
	}
	return nil
}

// DisconnectNetwork implements service.Backend.
func (b *Backend) DisconnectNetwork(ctx context.Context, network, container string, force bool) error {
	n, err := b.findNetwork(network)
	if err != nil {
		return err
	}
	id, err := b.resolve(container)
	if err != nil {
		return err
	}
	var ip string
	r, err := b.update(id, func(r *records.Container) error {
		a, ok := r.Networks[n.Name]
		if !ok {
			return fmt.Errorf("disconnect %s from %s: not attached: %w", r.Name, n.Name, service.ErrNotFound)
		}
		ip = a.IP
		delete(r.Networks, n.Name)
		return nil
	})
	if err != nil {
		return err
	}
	if r.State.Status == service.StateRunning && ip != "" {
		if err := b.hotUnplug(r, ip); err != nil {
			return fmt.Errorf("disconnect %s from %s: %w", r.Name, n.Name, err)
		}
	}
	return nil
}

// volumeRecord is volumes/<name>/volume.json.
type volumeRecord struct {
	service.Volume
	Spec    service.VolumeSpec
	Created time.Time
}

func (b *Backend) volumeDir(name string) string { return filepath.Join(b.root, "volumes", name) }

func (b *Backend) volume(name string) (service.Volume, error) {
	v, err := b.volumeRecord(name)
	return v.Volume, err
}

func (b *Backend) volumeRecord(name string) (volumeRecord, error) {
	if !validName.MatchString(name) {
		return volumeRecord{}, fmt.Errorf("volume %q: %w", name, service.ErrNotFound)
	}
	var v volumeRecord
	if err := state.ReadJSON(filepath.Join(b.volumeDir(name), "volume.json"), &v); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return volumeRecord{}, fmt.Errorf("volume %q: %w", name, service.ErrNotFound)
		}
		return volumeRecord{}, err
	}
	return v, nil
}

// bindOpts reads a local volume's driver_opts. The built-in runtime knows
// docker's bind-style local volume (type: none, o: bind, device: a host
// directory): it returns the device and whether o asks for read-only.
// No options: a plain volume (device ""). Anything else (nfs, tmpfs, a
// block device) is an error wrapping service.ErrUnsupported.
func bindOpts(opts map[string]string) (device string, readOnly bool, err error) {
	if len(opts) == 0 {
		return "", false, nil
	}
	unsupported := func(why string) error {
		return fmt.Errorf("driver_opts %v: %s; the built-in runtime mounts local volumes of type none with o: bind and a device (a host directory): %w", opts, why, service.ErrUnsupported)
	}
	bind := false
	for k, v := range opts {
		switch k {
		case "type":
			if v != "none" {
				return "", false, unsupported("type " + v)
			}
		case "device":
			device = v
		case "o":
			for _, o := range strings.Split(v, ",") {
				switch o {
				case "bind", "rbind":
					bind = true
				case "ro":
					readOnly = true
				case "rw", "":
				default:
					return "", false, unsupported("option " + o)
				}
			}
		default:
			return "", false, unsupported("option " + k)
		}
	}
	if !bind || device == "" {
		return "", false, unsupported("not a bind (o: bind and device are needed)")
	}
	if !filepath.IsAbs(device) {
		return "", false, unsupported("device " + device + " is not an absolute path")
	}
	return device, readOnly, nil
}

// sweepVolumes removes what a berth killed while it made or removed a
// volume left: a .new- or .gone- directory, or a volume directory without
// its record (an older berth's). Creations and removals hold volumes.lock
// throughout; locked says the caller holds it, else it is taken when there
// is something to sweep.
func (b *Backend) sweepVolumes(locked bool) {
	dir := filepath.Join(b.root, "volumes")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	leftover := func(name string) bool {
		if strings.HasPrefix(name, stagingPrefix) || strings.HasPrefix(name, gonePrefix) {
			return true
		}
		return !state.Exists(filepath.Join(dir, name, "volume.json"))
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
	if !locked {
		unlock, err := state.Lock(filepath.Join(b.root, "volumes.lock"))
		if err != nil {
			return
		}
		defer unlock()
	}
	for _, name := range junk {
		if leftover(name) {
			_ = os.RemoveAll(filepath.Join(dir, name))
		}
	}
}

// ListVolumes implements service.Backend. It sweeps what killed berths
// left first (sweepVolumes).
func (b *Backend) ListVolumes(ctx context.Context, f service.Filter) ([]service.Volume, error) {
	b.sweepVolumes(false)
	ents, err := os.ReadDir(filepath.Join(b.root, "volumes"))
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []service.Volume
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		v, err := b.volume(e.Name())
		if err != nil {
			continue
		}
		if f.Matches(v.Labels) {
			out = append(out, v)
		}
	}
	return out, nil
}

// InspectVolume implements service.Backend.
func (b *Backend) InspectVolume(ctx context.Context, name string) (service.Volume, error) {
	return b.volume(name)
}

// CreateVolume implements service.Backend: a volume is a directory under
// the state root.
func (b *Backend) CreateVolume(ctx context.Context, spec service.VolumeSpec) (service.Volume, error) {
	if !validName.MatchString(spec.Name) {
		return service.Volume{}, fmt.Errorf("create volume %q: invalid name", spec.Name)
	}
	driver := spec.Driver
	if driver == "" {
		driver = "local"
	}
	if driver != "local" {
		return service.Volume{}, fmt.Errorf("create volume %s: driver %q: the built-in runtime has local volumes only: %w", spec.Name, driver, service.ErrUnsupported)
	}
	if _, _, err := bindOpts(spec.DriverOpts); err != nil {
		return service.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	unlock, err := state.Lock(filepath.Join(b.root, "volumes.lock"))
	if err != nil {
		return service.Volume{}, err
	}
	defer unlock()
	if v, err := b.volume(spec.Name); err == nil {
		return v, nil
	}
	b.sweepVolumes(true)
	// Made whole under a staging name, then renamed into place (see
	// sweepVolumes).
	dir := b.volumeDir(spec.Name)
	staging := filepath.Join(b.root, "volumes", stagingPrefix+spec.Name)
	if err := os.MkdirAll(filepath.Join(staging, "_data"), 0o755); err != nil {
		os.RemoveAll(staging)
		return service.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	v := volumeRecord{
		Volume: service.Volume{Name: spec.Name, Driver: driver, Labels: spec.Labels, Mountpoint: filepath.Join(dir, "_data")},
		Spec:   spec, Created: time.Now().UTC(),
	}
	if err := state.WriteJSON(filepath.Join(staging, "volume.json"), v); err != nil {
		os.RemoveAll(staging)
		return service.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	if err := os.Rename(staging, dir); err != nil {
		os.RemoveAll(staging)
		return service.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	return v.Volume, nil
}

// RemoveVolume implements service.Backend.
func (b *Backend) RemoveVolume(ctx context.Context, name string, force bool) error {
	unlock, err := state.Lock(filepath.Join(b.root, "volumes.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := b.volume(name); err != nil {
		return err
	}
	ids, err := b.ids()
	if err != nil {
		return err
	}
	for _, id := range ids {
		r, err := b.load(id)
		if err != nil {
			continue
		}
		for _, m := range r.Spec.Mounts {
			if m.Type == service.MountVolume && m.Source == name {
				return fmt.Errorf("remove volume %s: volume is in use by container %s: %w", name, r.Name, service.ErrConflict)
			}
		}
	}
	// Renamed away first: gone at once, and what a killed berth leaves is
	// swept (sweepVolumes).
	gone := filepath.Join(b.root, "volumes", gonePrefix+state.NewID()[:12]+"-"+name)
	if err := os.Rename(b.volumeDir(name), gone); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// BridgeAlias is the alias (ip link's "alias", /sys/class/net/*/ifalias)
// of the bridges of the networks of state root: "berth root" and the root.
func BridgeAlias(root string) string {
	alias := "berth root " + root
	if len(alias) > 255 { // IFALIASZ - 1
		alias = alias[:255]
	}
	return alias
}
