package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// TestConformance runs the backend conformance suite against the engine
// at DOCKER_HOST (or the default socket), skipped saying why when none
// answers (failed under CI=true). Its image is its own: the busybox-static
// root file system imported under a tag no other test uses, removed at the
// end; every object the suite makes carries the test's own prefix, so the
// engine may be busy with other work meanwhile.
func TestConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), engineTimeout)
	probe, err := New(ctx)
	cancel()
	if err != nil {
		servicetest.Unavailable(t, "no Docker engine: "+err.Error())
	}
	t.Cleanup(func() { probe.Close() })

	buf := make([]byte, 4)
	rand.Read(buf)
	suffix := hex.EncodeToString(buf)
	image := "berthtest-conformance/busybox:" + suffix
	if err := ensureImage(image); err != nil {
		t.Fatalf("importing the test image %s: %v", image, err)
	}
	cleanup(t, "image "+image, func(ctx context.Context) error { return probe.RemoveImage(ctx, image, true) })

	servicetest.Run(t, func(t *testing.T) service.Backend {
		ctx, cancel := context.WithTimeout(t.Context(), engineTimeout)
		defer cancel()
		b, err := New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}, servicetest.Config{Image: image, Prefix: "berthtest-engine-" + suffix, Registry: servicetest.StartRegistry(t)})
}
