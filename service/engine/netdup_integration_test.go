package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestIntegrationNetworkNameUnique: the engine refuses a second network of
// the same name, also to creates sent at the same instant (on API 1.41 only
// because CheckDuplicate is asked for). Every round creates the same name
// from several goroutines at once; exactly one may succeed.
func TestIntegrationNetworkNameUnique(t *testing.T) {
	b, prefix := engineBackend(t)
	t.Logf("engine API %s", b.APIVersion())
	const rounds, creators = 5, 8
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
