package reconcile

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// interfering is a Fake on which something else acts between Converge's
// passes: before the n-th container list (the second pass's observation),
// meddle runs once.
type interfering struct {
	*servicetest.Fake
	lists  atomic.Int32
	n      int32
	meddle func()
}

func (b *interfering) ListContainers(ctx context.Context, f service.Filter) ([]service.Container, error) {
	if b.lists.Add(1) == b.n {
		b.meddle()
	}
	return b.Fake.ListContainers(ctx, f)
}

// TestConvergeLaterPassesStartReplacements: what Converge's later passes
// put in place of a running container, or create because it went missing,
// runs; what exited on its own stays exited; with --no-start nothing
// starts.
func TestConvergeLaterPassesStartReplacements(t *testing.T) {
	const compose = `
name: shop
services:
  web:
    image: busybox
  job:
    image: busybox
  gone:
    image: busybox
`
	for _, tc := range []struct {
		name    string
		noStart bool
		want    map[string]string // after Converge
	}{
		{"up", false, map[string]string{"shop-web-1": service.StateRunning, "shop-gone-1": service.StateRunning, "shop-job-1": service.StateExited}},
		{"no-start", true, map[string]string{"shop-web-1": service.StateCreated, "shop-gone-1": service.StateCreated, "shop-job-1": service.StateCreated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			p := load(t, compose)
			b := &interfering{Fake: f, n: 2}
			// Between the passes: an older berth (or docker compose with
			// other files) recreates web and starts it; job exits on its
			// own; gone is removed.
			b.meddle = func() {
				ctx := context.Background()
				for _, name := range []string{"shop-web-1", "shop-job-1", "shop-gone-1"} {
					if _, ok := f.Container(name); !ok {
						t.Errorf("%s missing after the first pass", name)
						return
					}
				}
				spec, _ := f.ContainerSpec("shop-web-1")
				if err := f.RemoveContainer(ctx, "shop-web-1", service.RemoveOptions{Force: true}); err != nil {
					t.Error(err)
				}
				spec.Labels = copyLabels(spec.Labels)
				spec.Labels[service.LabelConfigHash] = "other"
				if _, err := f.CreateContainer(ctx, spec); err != nil {
					t.Error(err)
				}
				if err := f.StartContainer(ctx, "shop-web-1"); err != nil {
					t.Error(err)
				}
				if c, _ := f.Container("shop-job-1"); c.State == service.StateRunning {
					if err := f.Exit(c.ID, 0); err != nil {
						t.Error(err)
					}
				}
				if err := f.RemoveContainer(ctx, "shop-gone-1", service.RemoveOptions{Force: true}); err != nil {
					t.Error(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := Converge(ctx, b, p, Options{NoStart: tc.noStart}, ApplyOptions{}, false, nil); err != nil {
				t.Fatal(err)
			}
			if b.lists.Load() < 2 {
				t.Fatal("Converge made one pass only")
			}
			for name, want := range tc.want {
				c, ok := f.Container(name)
				if !ok {
					t.Errorf("%s: missing", name)
					continue
				}
				if c.State != want {
					t.Errorf("%s: %s, want %s", name, c.State, want)
				}
				if c.Labels[service.LabelConfigHash] == "other" {
					t.Errorf("%s: not recreated", name)
				}
			}
			cs, _ := f.ListContainers(ctx, service.Filter{All: true})
			for _, c := range cs {
				if strings.Contains(c.Name, "_") {
					t.Errorf("container %s left under a temporary name", c.Name)
				}
			}
		})
	}
}
