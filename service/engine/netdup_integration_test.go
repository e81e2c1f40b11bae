package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestIntegrationNetworkNameUnique: a second network of the same name is
// refused, also to creates sent at the same instant, as by two ups started
// together (on API 1.41 the engine's own check lets such creates through:
// the backend's second look settles them). Every round creates the same
// name from two goroutines at once; exactly one may succeed.
func TestIntegrationNetworkNameUnique(t *testing.T) {
	b, prefix := engineBackend(t)
	t.Logf("engine API %s", b.APIVersion())
	const rounds, creators = 10, 2
	for r := range rounds {
		name := fmt.Sprintf("%s-dup%d", prefix, r)
		var mu sync.Mutex
		var ids []string
		var errs []error
		var wg sync.WaitGroup
		for range creators {
			wg.Go(func() {
				id, err := b.CreateNetwork(t.Context(), service.NetworkSpec{Name: name, Labels: map[string]string{testLabel: prefix}})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				ids = append(ids, id)
			})
		}
		wg.Wait()
		for _, id := range ids {
			cleanup(t, "network "+name, func(ctx context.Context) error { return b.RemoveNetwork(ctx, id) })
		}
		if len(ids) != 1 {
			t.Errorf("round %d: %d networks named %s made by %d creators at once, want 1", r, len(ids), name, creators)
		}
		for _, err := range errs {
			if !errors.Is(err, service.ErrConflict) {
				t.Errorf("round %d: refusal %v, want ErrConflict", r, err)
			}
		}
	}
}

// TestIntegrationVolumeNameUnique: the engine cannot hold two volumes of one
// name (its volume store locks by name): creates at the same instant all
// answer with the one volume, and a second create leaves its labels as they
// were. So volumes need no duplicate handling.
func TestIntegrationVolumeNameUnique(t *testing.T) {
	b, prefix := engineBackend(t)
	name := prefix + "-vol"
	cleanup(t, "volume "+name, func(ctx context.Context) error { return b.RemoveVolume(ctx, name, true) })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			_, err := b.CreateVolume(t.Context(), service.VolumeSpec{Name: name, Labels: map[string]string{testLabel: prefix, "n": fmt.Sprint(i)}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("create: %v", err)
		}
	}
	vols, err := b.ListVolumes(t.Context(), service.Filter{Labels: map[string]string{testLabel: prefix}})
	if err != nil || len(vols) != 1 || vols[0].Name != name {
		t.Errorf("volumes = %+v, %v; want one named %s", vols, err, name)
	}
}
