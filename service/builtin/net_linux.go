package builtin

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/network"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
)

// setUpNetwork gives a network its subnet and creates its bridge and
// forwarding rules. The bridge's alias names the state root it belongs to
// (BridgeAlias), so that what a root made can be told from what other
// roots on the host made.
func (b *Backend) setUpNetwork(n *networkRecord) error {
	var used []netip.Prefix
	if ns, err := b.networks(); err == nil {
		for _, n := range ns {
			if p, err := netip.ParsePrefix(n.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	prefix, gw, err := network.PickSubnet(n.Spec, used)
	if err != nil {
		return err
	}
	n.Subnet, n.Gateway = prefix.String(), gw.String()
	// Recorded before anything is made: what a killed berth made is undone
	// by the next one (sweepNetworks).
	if err := state.WriteJSON(b.pendingNetworkPath(stagingPrefix, n.ID), n); err != nil {
		return err
	}
	return network.CreateBridge(b.bridgeOf(*n))
}

// tearDownNetwork deletes a network's bridge and rules; what is already
// gone is not an error.
func (b *Backend) tearDownNetwork(n networkRecord) {
	network.DeleteBridge(b.bridgeOf(n))
}

// bridgeOf is the bridge of network n.
func (b *Backend) bridgeOf(n networkRecord) network.Bridge {
	br := network.Bridge{Name: n.Bridge, Alias: BridgeAlias(b.root), Internal: n.Internal}
	if p, err := netip.ParsePrefix(n.Subnet); err == nil {
		br.Subnet = p
	}
	if gw, err := netip.ParseAddr(n.Gateway); err == nil {
		br.Gateway = gw
	}
	return br
}

// allocateIPs gives each of r's attachments an address on its network (its
// own when fixed or still free), under the networks' lock.
func (b *Backend) allocateIPs(id string) error {
	unlock, err := state.Lock(filepath.Join(b.root, "networks.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	r, err := b.load(id)
	if err != nil {
		return err
	}
	if len(r.Networks) == 0 {
		return nil
	}
	taken := map[string]bool{}
	ids, err := b.ids()
	if err != nil {
		return err
	}
	for _, other := range ids {
		if other == id {
			continue
		}
		// An address stays with its container until it is removed.
		o, err := b.load(other)
		if err != nil {
			continue
		}
		for _, a := range o.Networks {
			taken[a.ID+"/"+a.IP] = true
		}
	}
	_, err = b.update(id, func(r *records.Container) error {
		for name, a := range r.Networks {
			n, err := b.findNetwork(a.ID)
			if err != nil {
				return fmt.Errorf("network %s: %w", name, err)
			}
			p, err := netip.ParsePrefix(n.Subnet)
			if err != nil {
				return fmt.Errorf("network %s has no subnet (made by an older berth?): %w", name, err)
			}
			if a.Fixed {
				ip, err := netip.ParseAddr(a.IP)
				if err != nil || !p.Contains(ip) {
					return fmt.Errorf("ipv4_address %s is not in network %s's subnet %s", a.IP, name, p)
				}
				if taken[a.ID+"/"+a.IP] {
					return fmt.Errorf("ipv4_address %s on network %s: %w: another container has it", a.IP, name, service.ErrConflict)
				}
			} else if a.IP == "" || taken[a.ID+"/"+a.IP] || !p.Contains(netip.MustParseAddr(a.IP)) {
				a.IP = ""
				gw := netip.MustParseAddr(n.Gateway)
				for ip := p.Addr().Next(); p.Contains(ip); ip = ip.Next() {
					if ip != gw && !taken[a.ID+"/"+ip.String()] && ip.Next().IsValid() && p.Contains(ip.Next()) {
						a.IP = ip.String()
						break
					}
				}
				if a.IP == "" {
					return fmt.Errorf("network %s: no free address in %s", name, p)
				}
			}
			ip := netip.MustParseAddr(a.IP).As4()
			a.Prefix = p.Bits()
			a.MAC = fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", ip[0], ip[1], ip[2], ip[3])
			if a.FixedMAC != "" {
				a.MAC = a.FixedMAC
			}
			taken[a.ID+"/"+a.IP] = true
			r.Networks[name] = a
		}
		return nil
	})
	return err
}

// orderedNetworks returns r's attachments, primary first.
func orderedNetworks(r *records.Container) []struct {
	Name string
	A    records.Attachment
} {
	var out []struct {
		Name string
		A    records.Attachment
	}
	for name, a := range r.Networks {
		out = append(out, struct {
			Name string
			A    records.Attachment
		}{name, a})
	}
	slices.SortFunc(out, func(x, y struct {
		Name string
		A    records.Attachment
	}) int {
		if x.A.Order != y.A.Order {
			return x.A.Order - y.A.Order
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out
}

// setUpEndpoints plugs the container whose init is pid into its networks,
// primary first (network.SetUpEndpoints).
func (b *Backend) setUpEndpoints(r *records.Container, pid int) error {
	var eps []network.Endpoint
	for _, e := range orderedNetworks(r) {
		ep, err := b.endpointOf(e.Name, e.A)
		if err != nil {
			return err
		}
		eps = append(eps, ep)
	}
	return network.SetUpEndpoints(pid, eps)
}

// endpointOf is attachment a to the network called name.
func (b *Backend) endpointOf(name string, a records.Attachment) (network.Endpoint, error) {
	n, err := b.findNetwork(a.ID)
	if err != nil {
		return network.Endpoint{}, err
	}
	return network.Endpoint{
		Network: name, Bridge: n.Bridge, Gateway: n.Gateway, Internal: n.Internal,
		IP: a.IP, Prefix: a.Prefix, MAC: a.MAC, FixedMAC: a.FixedMAC != "",
	}, nil
}

// hotPlug connects a running container to one more network.
func (b *Backend) hotPlug(id, name string) error {
	if err := b.allocateIPs(id); err != nil {
		return err
	}
	r, err := b.load(id)
	if err != nil {
		return err
	}
	a, ok := r.Networks[name]
	if !ok || r.State.Pid == 0 {
		return nil
	}
	ep, err := b.endpointOf(name, a)
	if err != nil {
		return err
	}
	if err := network.HotPlug(r.State.Pid, ep); err != nil {
		return fmt.Errorf("container %s: %w", r.Name, err)
	}
	return nil
}

// hotUnplug removes a running container's endpoint with address ip.
func (b *Backend) hotUnplug(r *records.Container, ip string) error {
	return network.HotUnplug(r.State.Pid, ip)
}

// netnsOf opens the network namespace of a running container.
func (b *Backend) netnsOf(ref string) (*os.File, error) {
	o, err := b.get(ref)
	if err != nil {
		return nil, fmt.Errorf("network_mode container:%s: %w", ref, err)
	}
	if o.State.Status != service.StateRunning || !alive(o.State.Pid, o.State.PidStart) {
		return nil, fmt.Errorf("network_mode container:%s: it is not running: %w", o.Name, service.ErrConflict)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", o.State.Pid))
	if err != nil {
		return nil, fmt.Errorf("network_mode container:%s: %w", o.Name, err)
	}
	return f, nil
}
