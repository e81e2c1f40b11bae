package builtin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// setUpNetwork gives a network its subnet and creates its bridge and
// forwarding rules. The bridge's alias names the state root it belongs to
// (BridgeAlias), so that what a root made can be told from what other
// roots on the host made.
func (b *Backend) setUpNetwork(n *networkRecord) error {
	prefix, gw, err := b.pickSubnet(n.Spec)
	if err != nil {
		return err
	}
	n.Subnet, n.Gateway = prefix.String(), gw.String()
	// Recorded before anything is made: what a killed berth made is undone
	// by the next one (sweepNetworks).
	if err := writeJSON(b.pendingNetworkPath(stagingPrefix, n.ID), n); err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", n.Bridge, err)
	}
	if err := netlink.LinkSetAlias(br, BridgeAlias(b.root)); err != nil {
		return fmt.Errorf("name the root on bridge %s: %w", n.Bridge, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(prefix.Bits(), 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", n.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", n.Bridge, err)
	}
	if !n.Internal {
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	}
	return iptables(n, true)
}

// tearDownNetwork deletes a network's bridge and rules; what is already
// gone is not an error.
func (b *Backend) tearDownNetwork(n networkRecord) {
	if l, err := netlink.LinkByName(n.Bridge); err == nil {
		_ = netlink.LinkDel(l)
	}
	if n.Subnet != "" {
		_ = iptables(&n, false)
	}
}

// pickSubnet returns the declared subnet and gateway, or the first free
// 10.89.N.0/24: one no other berth network of this root uses and no route
// or address of the host overlaps.
func (b *Backend) pickSubnet(spec service.NetworkSpec) (netip.Prefix, netip.Addr, error) {
	for _, pool := range spec.IPAM {
		if pool.Subnet == "" {
			continue
		}
		p, err := netip.ParsePrefix(pool.Subnet)
		if err != nil || !p.Addr().Is4() {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("subnet %q: the built-in runtime needs an IPv4 CIDR", pool.Subnet)
		}
		p = p.Masked()
		gw := p.Addr().Next()
		if pool.Gateway != "" {
			if gw, err = netip.ParseAddr(pool.Gateway); err != nil || !p.Contains(gw) {
				return netip.Prefix{}, netip.Addr{}, fmt.Errorf("gateway %q is not in subnet %s", pool.Gateway, p)
			}
		}
		return p, gw, nil
	}
	var used []netip.Prefix
	if ns, err := b.networks(); err == nil {
		for _, n := range ns {
			if p, err := netip.ParsePrefix(n.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	if routes, err := netlink.RouteList(nil, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Dst != nil {
				if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
					used = append(used, p)
				}
			}
		}
	}
	if addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4); err == nil {
		for _, a := range addrs {
			if p, ok := prefixOf(a.IPNet); ok {
				used = append(used, p.Masked())
			}
		}
	}
	for i := 0; i < 256; i++ {
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
		if !slices.ContainsFunc(used, cand.Overlaps) {
			return cand, cand.Addr().Next(), nil
		}
	}
	return netip.Prefix{}, netip.Addr{}, errors.New("no free subnet in 10.89.0.0/16: declare one (ipam.config.subnet)")
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

// iptables adds (or deletes) a network's rules: traffic within the
// bridge, and, unless the network is internal, out of it (masqueraded)
// and the replies. On a host where Docker runs, its FORWARD policy is
// DROP: these rules, in berth's own chain jumped to first, let the
// network work. Without iptables there is nothing to do.
func iptables(n *networkRecord, add bool) error {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return nil
	}
	run := func(args ...string) error {
		out, err := exec.Command(ipt, append([]string{"-w"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
		}
		return nil
	}
	// first: insert at the top (the jump, ahead of Docker's chains);
	// else append, so that a network's rules keep their order.
	ensure := func(first bool, table, chain string, rule ...string) error {
		if run(append([]string{"-t", table, "-C", chain}, rule...)...) == nil {
			return nil
		}
		if first {
			return run(append([]string{"-t", table, "-I", chain, "1"}, rule...)...)
		}
		return run(append([]string{"-t", table, "-A", chain}, rule...)...)
	}
	if add {
		_ = run("-t", "filter", "-N", "BERTH-FORWARD")
		if err := ensure(true, "filter", "FORWARD", "-j", "BERTH-FORWARD"); err != nil {
			return err
		}
	}
	br := n.Bridge
	// Within the network: accepted. To another berth network: dropped,
	// as docker isolates its networks.
	rules := [][]string{
		{"filter", "BERTH-FORWARD", "-i", br, "-o", br, "-j", "ACCEPT"},
		{"filter", "BERTH-FORWARD", "-i", br, "-o", "bb-+", "-j", "DROP"},
	}
	if n.Internal {
		rules = append(rules,
			[]string{"filter", "BERTH-FORWARD", "-i", br, "!", "-o", br, "-j", "DROP"},
			[]string{"filter", "BERTH-FORWARD", "-o", br, "!", "-i", br, "-j", "DROP"})
	} else {
		rules = append(rules,
			[]string{"filter", "BERTH-FORWARD", "-i", br, "!", "-o", br, "-j", "ACCEPT"},
			[]string{"filter", "BERTH-FORWARD", "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			[]string{"nat", "POSTROUTING", "-s", n.Subnet, "!", "-o", br, "-j", "MASQUERADE"})
	}
	for _, r := range rules {
		if add {
			if err := ensure(false, r[0], r[1], r[2:]...); err != nil {
				return err
			}
		} else {
			for run(append([]string{"-t", r[0], "-D", r[1]}, r[2:]...)...) == nil {
			}
		}
	}
	return nil
}

// allocateIPs gives each of r's attachments an address on its network (its
// own when fixed or still free), under the networks' lock.
func (b *Backend) allocateIPs(id string) error {
	unlock, err := flock(filepath.Join(b.root, "networks.lock"))
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
	_, err = b.update(id, func(r *record) error {
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
func orderedNetworks(r *record) []struct {
	Name string
	A    attachment
} {
	var out []struct {
		Name string
		A    attachment
	}
	for name, a := range r.Networks {
		out = append(out, struct {
			Name string
			A    attachment
		}{name, a})
	}
	slices.SortFunc(out, func(x, y struct {
		Name string
		A    attachment
	}) int {
		if x.A.Order != y.A.Order {
			return x.A.Order - y.A.Order
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out
}

// setUpEndpoints plugs the container whose init is pid into its networks:
// a veth per network, the container's end named eth0, eth1, ... in
// network order, with its address; lo up; the default route through the
// primary network's gateway (unless it is internal).
func (b *Backend) setUpEndpoints(r *record, pid int) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("network namespace of %d: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the container: %w", err)
	}
	defer h.Close()
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bring lo up: %w", err)
		}
	}
	routed := false
	for i, e := range orderedNetworks(r) {
		if err := b.plug(h, ns, r, e.Name, e.A, fmt.Sprintf("eth%d", i), !routed); err != nil {
			return err
		}
		if n, err := b.findNetwork(e.A.ID); err == nil && !n.Internal {
			routed = true
		}
	}
	return nil
}

// plug creates one endpoint: a veth pair whose host end joins the bridge.
func (b *Backend) plug(h *netlink.Handle, ns netns.NsHandle, r *record, name string, a attachment, ifname string, route bool) error {
	n, err := b.findNetwork(a.ID)
	if err != nil {
		return err
	}
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("network %s: bridge %s: %w", name, n.Bridge, err)
	}
	suffix := newID()[:8]
	host, peer := "vb"+suffix, "vp"+suffix
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index}, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("network %s: create veth: %w", name, err)
	}
	fail := func(err error) error {
		if l, lerr := netlink.LinkByName(host); lerr == nil {
			_ = netlink.LinkDel(l)
		}
		return fmt.Errorf("network %s: %w", name, err)
	}
	pl, err := netlink.LinkByName(peer)
	if err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetNsFd(pl, int(ns)); err != nil {
		return fail(fmt.Errorf("move the endpoint into the container: %w", err))
	}
	hl, err := netlink.LinkByName(host)
	if err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetUp(hl); err != nil {
		return fail(err)
	}
	cl, err := h.LinkByName(peer)
	if err != nil {
		return fail(err)
	}
	if err := h.LinkSetName(cl, ifname); err != nil {
		return fail(err)
	}
	if mac, err := net.ParseMAC(a.MAC); err == nil {
		if err := h.LinkSetHardwareAddr(cl, mac); err != nil && a.FixedMAC != "" {
			return fail(fmt.Errorf("mac address %s: %w", mac, err))
		}
	}
	ip := net.ParseIP(a.IP)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(a.Prefix, 32)}}
	if err := h.AddrAdd(cl, addr); err != nil {
		return fail(fmt.Errorf("address %s: %w", a.IP, err))
	}
	if err := h.LinkSetUp(cl); err != nil {
		return fail(err)
	}
	if route && !n.Internal {
		gw := net.ParseIP(n.Gateway)
		if err := h.RouteAdd(&netlink.Route{LinkIndex: cl.Attrs().Index, Gw: gw}); err != nil {
			return fail(fmt.Errorf("default route via %s: %w", gw, err))
		}
	}
	return nil
}

// hotPlug connects a running container to one more network.
func (b *Backend) hotPlug(id, network string) error {
	if err := b.allocateIPs(id); err != nil {
		return err
	}
	r, err := b.load(id)
	if err != nil {
		return err
	}
	a, ok := r.Networks[network]
	if !ok || r.State.Pid == 0 {
		return nil
	}
	ns, err := netns.GetFromPid(r.State.Pid)
	if err != nil {
		return fmt.Errorf("network namespace of %s: %w", r.Name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return err
	}
	n := 0
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "eth") {
			n++
		}
	}
	return b.plug(h, ns, r, network, a, fmt.Sprintf("eth%d", n), false)
}

// hotUnplug removes a running container's endpoint with address ip.
func (b *Backend) hotUnplug(r *record, ip string) error {
	ns, err := netns.GetFromPid(r.State.Pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.IP.String() == ip {
			if l, err := h.LinkByIndex(a.LinkIndex); err == nil {
				return h.LinkDel(l)
			}
		}
	}
	return nil
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
