package cli

import (
	"context"
	"fmt"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
)

// backend opens the runtime --backend or BERTH_BACKEND names. The default
// is the Docker engine.
func (g *globals) backend(ctx context.Context) (service.Backend, func(), error) {
	switch name := g.backendKind(); name {
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

// backendKind is the backend's canonical name.
func (g *globals) backendKind() string {
	name := g.backendName
	if name == "" {
		name = g.getenv("BERTH_BACKEND")
	}
	switch name {
	case "", "auto", "engine", "docker":
		return "engine"
	}
	return name
}

// builtin opens the built-in runtime at BERTH_ROOT (default
// /var/lib/berth).
func (g *globals) builtin() (*builtin.Backend, error) {
	return builtin.Open(builtin.Options{Root: g.getenv("BERTH_ROOT")})
}
