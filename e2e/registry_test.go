package e2e

import (
	"context"
	"testing"

	"github.com/berthdev/berth/service/servicetest"
)

// startRegistry starts a registry on 127.0.0.1 for the test, with no
// authentication, and returns its address: servicetest.StartRegistry, which
// the backends' own conformance tests use too. Without the binary the test
// skips, or fails under CI=true.
func startRegistry(t *testing.T) string {
	t.Helper()
	return servicetest.StartRegistry(t)
}

// startRegistryIn is startRegistry in the network namespace netns: the
// private swarm's, for deploy --build.
func startRegistryIn(t *testing.T, netns string) string {
	t.Helper()
	return servicetest.StartRegistryIn(t, netns)
}

func TestRegistry(t *testing.T) {
	requireEngine(t)
	addr := startRegistry(t)
	ref := addr + "/berthe2e/registry-check:1"
	docker(t, "tag", busyboxImage(), ref)
	t.Cleanup(func() { removeImages(ref) })
	docker(t, "push", ref)
	docker(t, "rmi", ref)
	docker(t, "pull", ref)
	if got, want := docker(t, "image", "inspect", "--format", "{{.Id}}", ref), docker(t, "image", "inspect", "--format", "{{.Id}}", busyboxImage()); got != want {
		t.Errorf("pulled back %s, want %s", got, want)
	}
}

// removeImages removes images by reference, ignoring those already gone:
// for cleanups.
func removeImages(refs ...string) {
	if engineErr != nil || len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for _, ref := range refs {
		_, _ = runDocker(ctx, nil, "rmi", "-f", ref)
	}
}
