package cli

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
)

// backend opens the runtime --backend or BERTH_BACKEND names; by default
// the Docker engine when one answers, else the built-in runtime.
func (g *globals) backend(ctx context.Context) (service.Backend, func(), error) {
	if g.newBackend != nil {
		return g.newBackend(ctx)
	}
	name, why := g.backendKind()
	if g.verbose {
		fmt.Fprintf(g.stdio.Err, "berth: container runtime %s (%s)\n", name, why)
	}
	switch name {
	case "engine":
		b, err := engine.New(ctx)
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	case "builtin":
		b, err := g.builtin()
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	default:
		return nil, nil, fmt.Errorf("unknown backend %q: use engine or builtin", name)
	}
}

// backendKind returns the backend's canonical name and why it is the one:
// --backend, else BERTH_BACKEND, else the engine when DOCKER_HOST is set
// or the default socket accepts a connection, else builtin.
func (g *globals) backendKind() (name, why string) {
	name, why = g.backendName, "--backend"
	if name == "" {
		name, why = g.getenv("BERTH_BACKEND"), "BERTH_BACKEND"
	}
	switch name {
	case "engine", "docker":
		return "engine", why
	case "", "auto":
	default:
		return name, why
	}
	if h := g.getenv("DOCKER_HOST"); h != "" {
		return "engine", "DOCKER_HOST is " + h
	}
	c, err := net.DialTimeout("unix", defaultEngineSocket, time.Second)
	if err == nil {
		c.Close()
		return "engine", "a Docker engine answers at " + defaultEngineSocket
	}
	return "builtin", "no Docker engine answers at " + defaultEngineSocket
}

// defaultEngineSocket is where the Docker engine listens by default.
const defaultEngineSocket = "/var/run/docker.sock"

// builtin opens the built-in runtime at BERTH_ROOT (default
// /var/lib/berth).
func (g *globals) builtin() (*builtin.Backend, error) {
	return builtin.Open(builtin.Options{Root: g.getenv("BERTH_ROOT")})
}
