package e2e

import (
	"context"
	"testing"

	"github.com/berthdev/berth/service"
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
	}, servicetest.Config{Image: busyboxImage(), Prefix: projectName("conformance")})
}
