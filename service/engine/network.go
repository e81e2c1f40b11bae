package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// ListNetworks returns the networks whose labels match f. Their Containers
// are left empty.
func (b *Backend) ListNetworks(ctx context.Context, f service.Filter) ([]service.Network, error) {
	res, err := b.c.NetworkList(ctx, client.NetworkListOptions{Filters: labelFilters(f)})
	if err != nil {
		return nil, wrapf(err, "list networks")
	}
	out := make([]service.Network, 0, len(res.Items))
	for _, n := range res.Items {
		out = append(out, networkFrom(n.Network))
	}
	return out, nil
}

// networkFrom maps the engine's description of a network.
func networkFrom(n network.Network) service.Network {
	return service.Network{ID: n.ID, Name: n.Name, Driver: n.Driver, Internal: n.Internal, Labels: n.Labels, Created: n.Created}
}

// InspectNetwork returns a network, by ID or name, with the IDs of the
// containers attached to it (sorted). ErrNotFound if there is none.
func (b *Backend) InspectNetwork(ctx context.Context, id string) (service.Network, error) {
	res, err := b.c.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	if err != nil {
		return service.Network{}, wrapf(err, "inspect network %q", id)
	}
	n := networkFrom(res.Network.Network)
	n.Containers = slices.Sorted(maps.Keys(res.Network.Containers))
	return n, nil
}

// CreateNetwork creates a network and returns its ID; ErrConflict if the
// name is taken. Engines from API 1.44 refuse a duplicate name on their own.
// Older ones are asked to (CheckDuplicate), as docker compose does, but
// their check is not atomic: creates sent at the same instant all succeed
// (8 of 8 on Docker 20.10). So on those engines the name is listed after the
// create, and again after as long as the create took, and when other
// networks have it, all creators keep the same one (the oldest, then the
// lowest ID): a creator whose network is not that one removes it and gets
// ErrConflict, as if the engine had refused. A creator stopped in between,
// or a create slower than that second look, leaves a duplicate, which
// reconcile's observe finds and removes.
func (b *Backend) CreateNetwork(ctx context.Context, spec service.NetworkSpec) (string, error) {
	opts, err := networkCreateOptions(spec)
	if err != nil {
		return "", fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	if !b.apiBelow(apiNetworkNamesUnique) {
		res, err := b.c.NetworkCreate(ctx, spec.Name, opts)
		if err != nil {
			return "", wrapf(err, "create network %q", spec.Name)
		}
		return res.ID, nil
	}
	start := time.Now()
	res, err := b.c.NetworkCreateChecked(ctx, spec.Name, opts)
	if err != nil {
		return "", wrapf(err, "create network %q", spec.Name)
	}
	// A create that began before this one ended may not be listed yet (the
	// engine dates a network before it sets up its bridge and stores it):
	// look again after as long as this create took.
	settle := min(max(time.Since(start), 20*time.Millisecond), time.Second)
	for look := 0; look < 2; look++ {
		if look == 1 {
			select {
			case <-time.After(settle):
			case <-ctx.Done():
				return "", fmt.Errorf("create network %q: %w", spec.Name, ctx.Err())
			}
		}
		same, err := b.networksNamed(ctx, spec.Name)
		if err != nil {
			return "", wrapf(err, "create network %q: look for duplicates", spec.Name)
		}
		keep := oldestNetwork(same)
		if keep.ID == "" || keep.ID == res.ID {
			continue
		}
		if _, err := b.c.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", wrapf(err, "create network %q: remove the duplicate %s made at the same time as %s", spec.Name, res.ID, keep.ID)
		}
		return "", fmt.Errorf("create network %q: network with name %s already exists (%s, made at the same time): %w", spec.Name, spec.Name, keep.ID, service.ErrConflict)
	}
	return res.ID, nil
}

// networksNamed lists the networks whose name is exactly name (the engine's
// name filter also matches parts of names).
func (b *Backend) networksNamed(ctx context.Context, name string) ([]service.Network, error) {
	res, err := b.c.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		return nil, err
	}
	var out []service.Network
	for _, n := range res.Items {
		if n.Name == name {
			out = append(out, networkFrom(n.Network))
		}
	}
	return out, nil
}

// oldestNetwork returns the network made first (the lowest ID among those
// made at the same time), the zero Network when nets is empty.
func oldestNetwork(nets []service.Network) service.Network {
	var keep service.Network
	for i, n := range nets {
		if i == 0 || n.Created.Before(keep.Created) || (n.Created.Equal(keep.Created) && n.ID < keep.ID) {
			keep = n
		}
	}
	return keep
}

// networkCreateOptions maps a network spec.
func networkCreateOptions(spec service.NetworkSpec) (client.NetworkCreateOptions, error) {
	opts := client.NetworkCreateOptions{
		Driver:     spec.Driver,
		Options:    spec.DriverOpts,
		Labels:     spec.Labels,
		Internal:   spec.Internal,
		Attachable: spec.Attachable,
	}
	if spec.EnableIPv6 {
		t := true
		opts.EnableIPv6 = &t
	}
	if spec.IPAMDriver == "" && len(spec.IPAM) == 0 {
		return opts, nil
	}
	opts.IPAM = &network.IPAM{Driver: spec.IPAMDriver}
	for _, p := range spec.IPAM {
		var c network.IPAMConfig
		var err error
		if c.Subnet, err = parsePrefix(p.Subnet); err != nil {
			return opts, fmt.Errorf("ipam subnet: %w", err)
		}
		if c.IPRange, err = parsePrefix(p.IPRange); err != nil {
			return opts, fmt.Errorf("ipam ip range: %w", err)
		}
		if c.Gateway, err = parseAddr(p.Gateway); err != nil {
			return opts, fmt.Errorf("ipam gateway: %w", err)
		}
		opts.IPAM.Config = append(opts.IPAM.Config, c)
	}
	return opts, nil
}

// RemoveNetwork removes a network; ErrConflict while containers are
// attached, ErrNotFound if there is none.
func (b *Backend) RemoveNetwork(ctx context.Context, id string) error {
	_, err := b.c.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
	return wrapf(err, "remove network %q", id)
}

// ConnectNetwork attaches a container to a network with the endpoint's
// aliases and addresses. ErrNotFound if either is missing; ErrConflict if
// the container is already attached.
func (b *Backend) ConnectNetwork(ctx context.Context, netw, ctr string, ep service.Endpoint) error {
	es, err := endpointSettings(ep, nil, b.c.ClientVersion())
	if err != nil {
		return fmt.Errorf("connect container %q to network %q: %w", ctr, netw, err)
	}
	_, err = b.c.NetworkConnect(ctx, netw, client.NetworkConnectOptions{Container: ctr, EndpointConfig: es})
	return wrapf(err, "connect container %q to network %q", ctr, netw)
}

// DisconnectNetwork detaches a container from a network (with force, even
// when the container is gone). ErrNotFound if either is missing.
func (b *Backend) DisconnectNetwork(ctx context.Context, netw, ctr string, force bool) error {
	_, err := b.c.NetworkDisconnect(ctx, netw, client.NetworkDisconnectOptions{Container: ctr, Force: force})
	return wrapf(err, "disconnect container %q from network %q", ctr, netw)
}
