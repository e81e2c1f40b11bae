package project

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// maxReplicas bounds a service's scale (scale: or deploy.replicas:). berth
// creates and names every replica on one host, where a Linux bridge takes at
// most 1024 ports: ten thousand replicas of one service is a typo, and
// 2147483648 would never finish.
const maxReplicas = 10_000

// reContainerName is the engine's rule for container names (moby's
// RestrictedNamePattern): no "/", no leading "." or "-", so no "..".
var reContainerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// checkValues refuses, with located errors, values the compose schema lets
// through but the engine would refuse when the project is brought up (or
// worse, accept): addresses and subnets that do not parse or do not fit
// together, replica counts out of range, container names that are paths,
// port numbers past 65535.
func checkValues(p *types.Project) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, problem(path, "%s: %s", path, fmt.Sprintf(format, args...)))
	}
	subnets := map[string][]netip.Prefix{}
	for _, key := range sortedKeys(p.Networks) {
		n := p.Networks[key]
		base := "networks." + key
		for i, pool := range n.Ipam.Config {
			if pool == nil {
				continue
			}
			at := fmt.Sprintf("%s.ipam.config.%d", base, i)
			var subnet netip.Prefix
			if pool.Subnet != "" {
				s, err := netip.ParsePrefix(pool.Subnet)
				if err != nil {
					add(at+".subnet", "%q is not a subnet in CIDR form (10.5.0.0/16, fd00::/64)", pool.Subnet)
					continue
				}
				if s.Masked() != s {
					add(at+".subnet", "%q has host bits set: the subnet is %s", pool.Subnet, s.Masked())
					continue
				}
				subnet = s
				subnets[key] = append(subnets[key], s)
			}
			inSubnet := func(field, value string, addr netip.Addr) {
				if subnet.IsValid() && !subnet.Contains(addr) {
					add(at+"."+field, "%s is outside the subnet %s", value, subnet)
				}
			}
			if pool.Gateway != "" {
				if a, err := netip.ParseAddr(pool.Gateway); err != nil {
					add(at+".gateway", "%q is not an IP address", pool.Gateway)
				} else {
					inSubnet("gateway", pool.Gateway, a)
				}
			}
			if pool.IPRange != "" {
				if r, err := netip.ParsePrefix(pool.IPRange); err != nil {
					add(at+".ip_range", "%q is not a range in CIDR form", pool.IPRange)
				} else if subnet.IsValid() && (!subnet.Contains(r.Addr()) || r.Bits() < subnet.Bits()) {
					add(at+".ip_range", "%s is not inside the subnet %s", pool.IPRange, subnet)
				}
			}
			for _, name := range sortedKeys(pool.AuxiliaryAddresses) {
				v := pool.AuxiliaryAddresses[name]
				if a, err := netip.ParseAddr(v); err != nil {
					add(at+".aux_addresses."+name, "%q is not an IP address", v)
				} else {
					inSubnet("aux_addresses."+name, v, a)
				}
			}
		}
	}

	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		base := "services." + name
		if s.ContainerName != "" && !reContainerName.MatchString(s.ContainerName) {
			add(base+".container_name", "%q is not a valid container name: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (no \"/\", no leading \".\")", s.ContainerName)
		}
		if s.Deploy != nil && s.Deploy.Replicas != nil {
			if r := *s.Deploy.Replicas; r < 0 || r > maxReplicas {
				add(base+".deploy.replicas", "%d replicas: berth runs from 0 to %d replicas of a service", r, maxReplicas)
			}
		} else if s.Scale != nil {
			if r := *s.Scale; r < 0 || r > maxReplicas {
				add(base+".scale", "a scale of %d: berth runs from 0 to %d replicas of a service", r, maxReplicas)
			}
		}
		if s.MacAddress != "" {
			if _, err := net.ParseMAC(s.MacAddress); err != nil {
				add(base+".mac_address", "%q is not a MAC address", s.MacAddress)
			}
		}
		for i, d := range s.DNS {
			if _, err := netip.ParseAddr(d); err != nil {
				add(fmt.Sprintf("%s.dns.%d", base, i), "%q is not an IP address", d)
			}
		}
		for _, host := range sortedKeys(s.ExtraHosts) {
			for _, ip := range s.ExtraHosts[host] {
				if ip == "host-gateway" {
					continue
				}
				if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
					add(base+".extra_hosts", "%s=%s: %q is not an IP address (nor host-gateway)", host, ip, ip)
				}
			}
		}
		for i, port := range s.Ports {
			at := fmt.Sprintf("%s.ports.%d", base, i)
			if port.Target == 0 || port.Target > 65535 {
				add(at, "target port %d is not between 1 and 65535", port.Target)
			}
			if port.Published != "" {
				for _, part := range strings.SplitN(port.Published, "-", 2) {
					if n, err := strconv.Atoi(part); err != nil || n < 0 || n > 65535 {
						add(at, "published port %q is not between 0 and 65535", port.Published)
						break
					}
				}
			}
			if port.HostIP != "" {
				if _, err := netip.ParseAddr(strings.Trim(port.HostIP, "[]")); err != nil {
					add(at, "host_ip %q is not an IP address", port.HostIP)
				}
			}
		}
		for _, nw := range sortedKeys(s.Networks) {
			cfg := s.Networks[nw]
			if cfg == nil {
				continue
			}
			at := base + ".networks." + nw
			for _, f := range []struct {
				key, value string
				family     int
			}{{"ipv4_address", cfg.Ipv4Address, 4}, {"ipv6_address", cfg.Ipv6Address, 6}} {
				if f.value == "" {
					continue
				}
				a, err := netip.ParseAddr(f.value)
				switch {
				case err != nil || f.family == 4 && !a.Is4() || f.family == 6 && (!a.Is6() || a.Is4In6()):
					add(at+"."+f.key, "%q is not an IPv%d address", f.value, f.family)
				case len(subnets[nw]) > 0 && !containedIn(a, subnets[nw]):
					add(at+"."+f.key, "%s is outside the subnets of network %q (%s)", f.value, nw, joinPrefixes(subnets[nw]))
				}
			}
			for i, ip := range cfg.LinkLocalIPs {
				if _, err := netip.ParseAddr(ip); err != nil {
					add(fmt.Sprintf("%s.link_local_ips.%d", at, i), "%q is not an IP address", ip)
				}
			}
			if cfg.MacAddress != "" {
				if _, err := net.ParseMAC(cfg.MacAddress); err != nil {
					add(at+".mac_address", "%q is not a MAC address", cfg.MacAddress)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func containedIn(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func joinPrefixes(prefixes []netip.Prefix) string {
	s := make([]string, len(prefixes))
	for i, p := range prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
