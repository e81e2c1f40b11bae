package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthdev/berth/service"
)

// Proxy publishes a container's ports: a userspace TCP and UDP forwarder
// per binding, in the shim, for one run.
type Proxy struct {
	mu      sync.Mutex
	closers []io.Closer
}

// Publish listens on each of the spec's port bindings and forwards to
// target (the container's address) until ctx ends or Close is called, and
// returns the ports it bound (an ephemeral or ranged host port resolved).
// A taken port is an error naming it, as docker's "port is already
// allocated"; nothing stays bound then.
func Publish(ctx context.Context, bindings []service.PortBinding, target string) (*Proxy, []service.Port, error) {
	p := &Proxy{}
	var ports []service.Port
	for _, pb := range bindings {
		proto := pb.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			p.Close()
			return nil, nil, fmt.Errorf("port %d/%s: only tcp and udp can be published", pb.ContainerPort, proto)
		}
		lo, hi, err := portRange(pb.HostPort)
		if err != nil {
			p.Close()
			return nil, nil, err
		}
		var bound bool
		var lastErr error
		for port := lo; port <= hi && !bound; port++ {
			addr := net.JoinHostPort(pb.HostIP, strconv.Itoa(port))
			dst := net.JoinHostPort(target, strconv.Itoa(int(pb.ContainerPort)))
			var got int
			if proto == "tcp" {
				got, err = p.tcp(ctx, addr, dst)
			} else {
				got, err = p.udp(ctx, addr, dst)
			}
			if err != nil {
				lastErr = err
				continue
			}
			bound = true
			ports = append(ports, service.Port{HostIP: hostIPOr(pb.HostIP), HostPort: uint16(got), ContainerPort: pb.ContainerPort, Protocol: proto})
		}
		if !bound {
			p.Close()
			host := hostIPOr(pb.HostIP)
			if errors.Is(lastErr, syscall.EADDRINUSE) {
				//lint:ignore ST1005 docker's own message, which scripts match
				return nil, nil, fmt.Errorf("Bind for %s:%s failed: port is already allocated", host, pb.HostPort)
			}
			return nil, nil, fmt.Errorf("publish %s:%s->%d/%s: %w", host, pb.HostPort, pb.ContainerPort, proto, lastErr)
		}
	}
	return p, ports, nil
}

func hostIPOr(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// portRange reads "8080", "8000-8010" or "" (an ephemeral port: 0).
func portRange(s string) (int, int, error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil || lo < 0 || lo > 65535 {
		return 0, 0, fmt.Errorf("host port %q is not a port", s)
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil || hi < lo || hi > 65535 {
			return 0, 0, fmt.Errorf("host port range %q is not a range", s)
		}
	}
	return lo, hi, nil
}

func (p *Proxy) add(c io.Closer) {
	p.mu.Lock()
	p.closers = append(p.closers, c)
	p.mu.Unlock()
}

// Close stops every forwarder; a nil Proxy has none.
func (p *Proxy) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
}

func (p *Proxy) tcp(ctx context.Context, addr, dst string) (int, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	p.add(ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var d net.Dialer
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				u, err := d.DialContext(dctx, "tcp", dst)
				cancel()
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				pipe := func(w, r net.Conn) {
					_, _ = io.Copy(w, r)
					if tc, ok := w.(*net.TCPConn); ok {
						_ = tc.CloseWrite()
					}
					done <- struct{}{}
				}
				go pipe(u, c)
				go pipe(c, u)
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (p *Proxy) udp(ctx context.Context, addr, dst string) (int, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return 0, err
	}
	p.add(pc)
	go func() {
		var mu sync.Mutex
		flows := map[string]net.Conn{}
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				mu.Lock()
				for _, c := range flows {
					c.Close()
				}
				mu.Unlock()
				return
			}
			mu.Lock()
			up := flows[from.String()]
			if up == nil {
				if up, err = net.Dial("udp", dst); err != nil {
					mu.Unlock()
					continue
				}
				flows[from.String()] = up
				go func(from net.Addr, up net.Conn) {
					b := make([]byte, 65535)
					for {
						_ = up.SetReadDeadline(time.Now().Add(2 * time.Minute))
						n, err := up.Read(b)
						if err != nil {
							mu.Lock()
							delete(flows, from.String())
							mu.Unlock()
							up.Close()
							return
						}
						_, _ = pc.WriteTo(b[:n], from)
					}
				}(from, up)
			}
			mu.Unlock()
			_, _ = up.Write(buf[:n])
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}
