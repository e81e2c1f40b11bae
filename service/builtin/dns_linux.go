package builtin

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// dnsCommand is the hidden subcommand of the root's DNS server.
const dnsCommand = "__berth-dns"

// ensureDNS starts the root's DNS server unless one runs. The server holds
// dns.lock while it lives, so a lock that can be taken means none runs.
func (b *Backend) ensureDNS() error {
	lock := filepath.Join(b.root, "dns.lock")
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil // held: a server runs
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	logf, err := os.OpenFile(filepath.Join(b.root, "dns.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(b.exe, dnsCommand, b.root)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.Env = helperEnv("PATH=" + os.Getenv("PATH"))
	for _, k := range []string{"GOGC", "GODEBUG"} { // for debugging the server
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() //nolint:errcheck // reaps it if this process outlives it
	// Wait until it holds the lock: it serves from then on.
	for i := 0; i < 200; i++ {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return nil
		}
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("the DNS server did not start: see " + filepath.Join(b.root, "dns.log"))
}

// stopDNS stops the root's DNS server and waits (a second at most) for it
// to go.
func (b *Backend) stopDNS() {
	pid, err := os.ReadFile(filepath.Join(b.root, "dns.pid"))
	if err != nil {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil || n <= 0 {
		return
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(n) + "/cmdline"); err != nil || !strings.Contains(string(b), dnsCommand) {
		return
	}
	_ = syscall.Kill(n, syscall.SIGTERM)
	for i := 0; i < 200 && alive(n, 0); i++ {
		time.Sleep(5 * time.Millisecond)
	}
}

// dnsMain serves DNS for the networks of a root on each bridge's gateway
// address, port 53: names of the containers (their name, hostname,
// aliases — the compose service among them) resolve to their addresses on
// the networks they share with the asker, several replicas in random
// order; other names are forwarded to the host's resolvers. It exits when
// the root has no network left, or on SIGTERM.
func dnsMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: "+dnsCommand+" ROOT")
		return 2
	}
	b := &Backend{root: args[0]}
	lock, err := os.OpenFile(filepath.Join(b.root, "dns.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return 0 // another one serves
	}
	// The lock lives as long as the file stays open: keep it referenced,
	// or the collector's finalizer closes it and a second server starts.
	defer lock.Close()
	_ = os.WriteFile(filepath.Join(b.root, "dns.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	defer os.Remove(filepath.Join(b.root, "dns.pid"))
	s := &dnsServer{b: b, conns: map[string]*net.UDPConn{}, upstream: hostResolvers()}
	term := make(chan os.Signal, 1)
	signalNotify(term)
	empty := 0
	for {
		n := s.sync()
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty >= 2 {
			return 0
		}
		select {
		case <-term:
			return 0
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type dnsServer struct {
	b        *Backend
	mu       sync.Mutex
	conns    map[string]*net.UDPConn // by gateway address
	upstream []string
}

// sync listens on the gateway of every network and stops listening on
// the gateways of networks that are gone; it returns how many there are.
func (s *dnsServer) sync() int {
	ns, err := s.b.networks()
	if err != nil {
		if _, serr := os.Stat(filepath.Join(s.b.root, "networks")); os.IsNotExist(serr) {
			return 0 // the root is gone
		}
		return 1 // keep going: a transient read error
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

func (s *dnsServer) serve(c *net.UDPConn, gw string) {
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
func (s *dnsServer) answer(query []byte, client, gw string) []byte {
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
func (s *dnsServer) lookup(name, client, gw string) ([]netip.Addr, bool) {
	ids, err := s.b.ids()
	if err != nil {
		return nil, false
	}
	var all, recs []*record
	for _, id := range ids {
		if r, err := s.b.load(id); err == nil {
			all = append(all, r)
			if r.State.Status == "running" {
				recs = append(recs, r)
			}
		}
	}
	// The asker is the container with the client's address, whatever its
	// record says: one that just started may not be marked running yet
	// (addresses are unique among all containers of the root).
	nets := map[string]bool{}
	var askers []*record
	for _, r := range all {
		for _, a := range r.Networks {
			if a.IP == client {
				askers = append(askers, r)
				for _, a := range r.Networks {
					nets[a.ID] = true
				}
				break
			}
		}
	}
	// The asker's links come first, as docker's resolver looks a
	// container's own aliases up before the names on the network.
	if ips := linkedAddrs(name, askers, recs, nets); len(ips) > 0 {
		return ips, true
	}
	if len(nets) == 0 {
		if ns, err := s.b.networks(); err == nil {
			for _, n := range ns {
				if n.Gateway == gw {
					nets[n.ID] = true
				}
			}
		}
	}
	var ips []netip.Addr
	found := false
	for _, r := range recs {
		for _, a := range r.Networks {
			if !nets[a.ID] || a.IP == "" {
				continue
			}
			names := append([]string{r.Name, r.ID[:12], r.Spec.Hostname}, a.Aliases...)
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

// linkedAddrs returns the addresses, on the networks nets, of the running
// containers (among recs) that a link of an asker names alias: docker's
// links ("container:alias" in the spec), which only the linking container
// resolves.
func linkedAddrs(alias string, askers, recs []*record, nets map[string]bool) []netip.Addr {
	var ips []netip.Addr
	for _, asker := range askers {
		for _, l := range asker.Spec.Links {
			target, as, ok := strings.Cut(l, ":")
			if !ok {
				as = target
			}
			target = strings.TrimPrefix(target, "/")
			if !strings.EqualFold(as, alias) || target == "" {
				continue
			}
			for _, r := range recs {
				// by name, or by ID (12 hex digits at least, which no
				// name of a compose container is)
				if r.Name != target && (len(target) < 12 || !strings.HasPrefix(r.ID, target)) {
					continue
				}
				for _, a := range r.Networks {
					if ip, err := netip.ParseAddr(a.IP); err == nil && nets[a.ID] && !slices.Contains(ips, ip) {
						ips = append(ips, ip)
					}
				}
			}
		}
	}
	return ips
}

// forward asks the host's resolvers.
func (s *dnsServer) forward(query []byte) []byte {
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
