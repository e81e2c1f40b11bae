package e2e

import (
	"context"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
	"github.com/berthdev/berth/service/servicetest"
)

// TestEngineConformance runs the backend conformance suite against the
// Docker engine backend, on the engine the e2e tests use.
func TestEngineConformance(t *testing.T) {
	requireEngine(t)
	servicetest.Run(t, func(t *testing.T) service.Backend {
		b, err := engine.New(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}, servicetest.Config{Image: busyboxImage(), Prefix: projectName("conformance"), Registry: startRegistry(t)})
}

// TestBuiltinConformance runs the backend conformance suite against the
// built-in runtime, in its own state root, with the berth binary as the
// shim.
func TestBuiltinConformance(t *testing.T) {
	requireBuiltin(t)
	root := builtinRoot(t)
	servicetest.Run(t, func(t *testing.T) service.Backend {
		b, err := builtin.Open(builtin.Options{Root: root, Exe: berthBin})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, servicetest.Config{Image: busyboxImage(), Prefix: projectName("conformance"), Registry: startRegistry(t)})
}
