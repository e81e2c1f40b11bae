package network

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Source is what the DNS server answers from. It is read again for every
// query and every Sync, so the answers follow the root's records.
type Source interface {
	// Networks returns the networks there are. An error wrapping
	// fs.ErrNotExist says the root is gone: the server then has nothing
	// left to serve.
	Networks() ([]Net, error)
	// Containers returns every container, running or not.
	Containers() ([]Container, error)
}

// Net is a network as the DNS server sees it.
type Net struct {
	ID string
	// Gateway is the bridge's address, where the server listens.
	Gateway string
}

// Container is a container as the DNS server sees it.
type Container struct {
	ID, Name, Hostname string
	// Running: only running containers are answered for.
	Running bool
	// Links are docker's links, "container:alias" (or "container"), which
	// only this container resolves.
	Links []string
	// Addresses are its addresses, one per network it is attached to.
	Addresses []Address
}

// Address is a container's address on one network.
type Address struct {
	// Network is the network's ID.
	Network string
	IP      string
	// Aliases are the names it has on that network (the compose service
	// among them).
	Aliases []string
}

// DNSServer serves DNS for the networks of a Source on each bridge's
// gateway address, port 53: names of the containers (their name, hostname,
// short ID, aliases) resolve to their addresses on the networks they share
// with the asker, several replicas in random order; other names are
// forwarded to the host's resolvers.
type DNSServer struct {
	src      Source
	mu       sync.Mutex
	conns    map[string]*net.UDPConn // by gateway address
	upstream []string
}

// NewDNSServer returns a server answering from src and forwarding to the
// nameservers of the host's /etc/resolv.conf. It listens nowhere until
// Sync.
func NewDNSServer(src Source) *DNSServer {
	return &DNSServer{src: src, conns: map[string]*net.UDPConn{}, upstream: hostResolvers()}
}

// Sync listens on the gateway of every network and stops listening on the
// gateways of networks that are gone; it returns how many networks there
// are (0 when the root is gone; 1 on a transient read error, to keep
// going).
func (s *DNSServer) Sync() int {
	ns, err := s.src.Networks()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		return 1
	}
	want := map[string]bool{}
	for _, n := range ns {
		if n.Gateway != "" {
			want[n.Gateway] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for gw, c := range s.conns {
		if !want[gw] {
			c.Close()
			delete(s.conns, gw)
		}
	}
	for gw := range want {
		if s.conns[gw] != nil {
			continue
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(gw), Port: 53})
		if err != nil {
			fmt.Fprintf(os.Stderr, "dns: listen on %s:53: %v\n", gw, err)
			continue
		}
		s.conns[gw] = c
		go s.serve(c, gw)
	}
	return len(ns)
}

// Close stops listening everywhere.
func (s *DNSServer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for gw, c := range s.conns {
		c.Close()
		delete(s.conns, gw)
	}
}

func (s *DNSServer) serve(c *net.UDPConn, gw string) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			if resp := s.answer(q, from.IP.String(), gw); resp != nil {
				_, _ = c.WriteToUDP(resp, from)
			}
		}()
	}
}

// answer builds the response to query, asked by client on the network
// whose gateway is gw.
func (s *DNSServer) answer(query []byte, client, gw string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	if q.Class == dnsmessage.ClassINET && (q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeAAAA) {
		if ips, ok := s.lookup(name, client, gw); ok {
			bld := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
			bld.EnableCompression()
			_ = bld.StartQuestions()
			_ = bld.Question(q)
			_ = bld.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				rand.Shuffle(len(ips), func(i, j int) { ips[i], ips[j] = ips[j], ips[i] })
				for _, ip := range ips {
					_ = bld.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 600}, dnsmessage.AResource{A: ip.As4()})
				}
			}
			out, err := bld.Finish()
			if err != nil {
				return nil
			}
			return out
		}
	}
	return s.forward(query)
}

// lookup finds the running containers named name on the networks the
// client shares with them (the gateway's network when the client is not a
// container) and returns their addresses there.
func (s *DNSServer) lookup(name, client, gw string) ([]netip.Addr, bool) {
	all, err := s.src.Containers()
	if err != nil {
		return nil, false
	}
	var running []Container
	for _, c := range all {
		if c.Running {
			running = append(running, c)
		}
	}
	// The asker is the container with the client's address, whatever its
	// record says: one that just started may not be marked running yet
	// (addresses are unique among all containers of the root).
	nets := map[string]bool{}
	var askers []Container
	for _, c := range all {
		for _, a := range c.Addresses {
			if a.IP == client {
				askers = append(askers, c)
				for _, a := range c.Addresses {
					nets[a.Network] = true
				}
				break
			}
		}
	}
	// The asker's links come first, as docker's resolver looks a
	// container's own aliases up before the names on the network.
	if ips := linkedAddrs(name, askers, running, nets); len(ips) > 0 {
		return ips, true
	}
	if len(nets) == 0 {
		if ns, err := s.src.Networks(); err == nil {
			for _, n := range ns {
				if n.Gateway == gw {
					nets[n.ID] = true
				}
			}
		}
	}
	var ips []netip.Addr
	found := false
	for _, c := range running {
		for _, a := range c.Addresses {
			if !nets[a.Network] || a.IP == "" {
				continue
			}
			names := append([]string{c.Name, shortID(c.ID), c.Hostname}, a.Aliases...)
			for _, n := range names {
				if strings.EqualFold(n, name) {
					if ip, err := netip.ParseAddr(a.IP); err == nil {
						ips = append(ips, ip)
						found = true
					}
					break
				}
			}
		}
	}
	return ips, found
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// linkedAddrs returns the addresses, on the networks nets, of the running
// containers that a link of an asker names alias: docker's links
// ("container:alias" in the spec), which only the linking container
// resolves.
func linkedAddrs(alias string, askers, running []Container, nets map[string]bool) []netip.Addr {
	var ips []netip.Addr
	for _, asker := range askers {
		for _, l := range asker.Links {
			target, as, ok := strings.Cut(l, ":")
			if !ok {
				as = target
			}
			target = strings.TrimPrefix(target, "/")
			if !strings.EqualFold(as, alias) || target == "" {
				continue
			}
			for _, c := range running {
				// by name, or by ID (12 hex digits at least, which no
				// name of a compose container is)
				if c.Name != target && (len(target) < 12 || !strings.HasPrefix(c.ID, target)) {
					continue
				}
				for _, a := range c.Addresses {
					if ip, err := netip.ParseAddr(a.IP); err == nil && nets[a.Network] && !slices.Contains(ips, ip) {
						ips = append(ips, ip)
					}
				}
			}
		}
	}
	return ips
}

// forward asks the host's resolvers.
func (s *DNSServer) forward(query []byte) []byte {
	for _, up := range s.upstream {
		c, err := net.DialTimeout("udp", up, 2*time.Second)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(query); err == nil {
			buf := make([]byte, 4096)
			if n, err := c.Read(buf); err == nil {
				c.Close()
				return buf[:n]
			}
		}
		c.Close()
	}
	return nil
}

// hostResolvers reads the host's nameservers from /etc/resolv.conf.
func hostResolvers() []string {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, net.JoinHostPort(fields[1], "53"))
		}
	}
	return out
}
