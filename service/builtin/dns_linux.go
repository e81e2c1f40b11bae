package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthdev/berth/service/builtin/network"
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

// dnsMain runs the root's DNS server (network.DNSServer) until the root
// has no network left, or SIGTERM. It holds dns.lock while it lives, and
// writes its pid to dns.pid.
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
	s := network.NewDNSServer(dnsSource{b})
	defer s.Close()
	term := make(chan os.Signal, 1)
	signalNotify(term)
	empty := 0
	for {
		n := s.Sync()
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

// dnsSource shows the DNS server the networks and containers of a root,
// from their records.
type dnsSource struct{ b *Backend }

// Networks implements network.Source; a root whose networks directory is
// gone says fs.ErrNotExist.
func (s dnsSource) Networks() ([]network.Net, error) {
	ns, err := s.b.networks()
	if err != nil {
		if _, serr := os.Stat(filepath.Join(s.b.root, "networks")); os.IsNotExist(serr) {
			return nil, fmt.Errorf("the root is gone: %w", fs.ErrNotExist)
		}
		return nil, err
	}
	out := make([]network.Net, 0, len(ns))
	for _, n := range ns {
		out = append(out, network.Net{ID: n.ID, Gateway: n.Gateway})
	}
	return out, nil
}

// Containers implements network.Source.
func (s dnsSource) Containers() ([]network.Container, error) {
	ids, err := s.b.ids()
	if err != nil {
		return nil, err
	}
	var out []network.Container
	for _, id := range ids {
		r, err := s.b.load(id)
		if err != nil {
			continue
		}
		c := network.Container{ID: r.ID, Name: r.Name, Hostname: r.Spec.Hostname, Running: r.State.Status == "running", Links: r.Spec.Links}
		for _, a := range r.Networks {
			c.Addresses = append(c.Addresses, network.Address{Network: a.ID, IP: a.IP, Aliases: a.Aliases})
		}
		out = append(out, c)
	}
	return out, nil
}
