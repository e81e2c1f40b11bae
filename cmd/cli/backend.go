package cli

import (
	"context"
	"fmt"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/engine"
)

// backend opens the runtime --backend or BERTH_BACKEND names. The default
// is the Docker engine; the built-in runtime is chosen when no engine
// answers once it exists.
func (g *globals) backend(ctx context.Context) (service.Backend, func(), error) {
	name := g.backendName
	if name == "" {
		name = g.getenv("BERTH_BACKEND")
	}
	switch name {
	case "", "auto", "engine", "docker":
		b, err := engine.New(ctx)
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	case "builtin":
		return nil, nil, fmt.Errorf("backend builtin: the built-in runtime is not available yet: %w", service.ErrUnsupported)
	default:
		return nil, nil, fmt.Errorf("unknown backend %q: use engine or builtin", name)
	}
}
