package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Bridge is a network's Linux bridge.
type Bridge struct {
	// Name is the interface's name.
	Name string
	// Alias is the interface's alias (ip link's "alias",
	// /sys/class/net/*/ifalias): it says which state root made it.
	Alias string
	// Subnet and Gateway (the bridge's own address) are the network's.
	// A Bridge whose Subnet is not valid never got its rules.
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Internal: no traffic in or out of the network, only within it.
	Internal bool
}

// CreateBridge creates br's bridge, addressed and up, and its forwarding
// rules (see iptables). On error, what it made is left for DeleteBridge.
func CreateBridge(br Bridge) error {
	l := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br.Name}}
	if err := netlink.LinkAdd(l); err != nil {
		return fmt.Errorf("create bridge %s: %w", br.Name, err)
	}
	if err := netlink.LinkSetAlias(l, br.Alias); err != nil {
		return fmt.Errorf("name the root on bridge %s: %w", br.Name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: br.Gateway.AsSlice(), Mask: net.CIDRMask(br.Subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", br.Name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", br.Name, err)
	}
	if !br.Internal {
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	}
	return iptables(br, true)
}

// DeleteBridge deletes br's bridge and rules; what is already gone is not
// an error.
func DeleteBridge(br Bridge) {
	if l, err := netlink.LinkByName(br.Name); err == nil {
		_ = netlink.LinkDel(l)
	}
	if br.Subnet.IsValid() {
		_ = iptables(br, false)
	}
}

// PickSubnet returns the subnet and gateway spec declares, or the first
// free 10.89.N.0/24: one that overlaps none of used (the subnets of the
// root's other networks) nor any route or address of the host.
func PickSubnet(spec service.NetworkSpec, used []netip.Prefix) (netip.Prefix, netip.Addr, error) {
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
	used = slices.Clone(used)
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
func iptables(n Bridge, add bool) error {
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
	br := n.Name
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
			[]string{"nat", "POSTROUTING", "-s", n.Subnet.String(), "!", "-o", br, "-j", "MASQUERADE"})
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

// Endpoint is a container's attachment to one network, as a veth pair:
// the host end joins the network's bridge, the other is the container's
// interface.
type Endpoint struct {
	// Network names the network, in errors.
	Network string
	// Bridge is the network's bridge; Gateway its address; Internal
	// whether the network leads out (Internal: no default route).
	Bridge   string
	Gateway  string
	Internal bool
	// IP/Prefix is the container's address; MAC its hardware address,
	// which must be set when FixedMAC (asked for) and is tried otherwise.
	IP       string
	Prefix   int
	MAC      string
	FixedMAC bool
}

// SetUpEndpoints plugs the container whose init is pid into its networks:
// a veth per endpoint, the container's end named eth0, eth1, ... in the
// order given, with its address; lo up; the default route through the
// gateway of the first network that is not internal.
func SetUpEndpoints(pid int, eps []Endpoint) error {
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
	for i, ep := range eps {
		if err := plug(h, ns, ep, fmt.Sprintf("eth%d", i), !routed); err != nil {
			return err
		}
		if !ep.Internal {
			routed = true
		}
	}
	return nil
}

// plug creates one endpoint: a veth pair whose host end joins the bridge.
func plug(h *netlink.Handle, ns netns.NsHandle, a Endpoint, ifname string, route bool) error {
	name := a.Network
	br, err := netlink.LinkByName(a.Bridge)
	if err != nil {
		return fmt.Errorf("network %s: bridge %s: %w", name, a.Bridge, err)
	}
	suffix := randomHex(4)
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
		if err := h.LinkSetHardwareAddr(cl, mac); err != nil && a.FixedMAC {
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
	if route && !a.Internal {
		gw := net.ParseIP(a.Gateway)
		if err := h.RouteAdd(&netlink.Route{LinkIndex: cl.Attrs().Index, Gw: gw}); err != nil {
			return fail(fmt.Errorf("default route via %s: %w", gw, err))
		}
	}
	return nil
}

// HotPlug connects the running container whose init is pid to one more
// network: its next ethN, with no route.
func HotPlug(pid int, ep Endpoint) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("network namespace of %d: %w", pid, err)
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
	return plug(h, ns, ep, fmt.Sprintf("eth%d", n), false)
}

// HotUnplug removes, from the running container whose init is pid, the
// interface with address ip; none is not an error.
func HotUnplug(pid int, ip string) error {
	ns, err := netns.GetFromPid(pid)
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

// randomHex returns n random bytes in hex, for interface names.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
