package reconcile

import (
	"context"
	"slices"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestLinks: the links a container is created with are docker compose's
// (pkg/compose/convergence.go getLinks): per container of the linked
// service, its alias, "<service>-<n>" and "<project>-<service>-<n>" with the
// linking container's number n (-1 for run's one-off); then external_links.
func TestLinks(t *testing.T) {
	p := load(t, linked)
	web := p.Service("web")
	external := []string{"legacy:legacy", "other-db-1:olddb"}
	want := func(n string, dbs ...string) []string {
		var out []string
		for _, db := range dbs {
			out = append(out, db+":database", db+":db-"+n, db+":shop-db-"+n)
		}
		return append(out, external...)
	}
	created := func(plan *Plan, name string) *service.ContainerSpec {
		for _, s := range plan.Steps {
			if s.Op == OpCreateContainer && s.Container.Name == name {
				return s.Container
			}
		}
		t.Fatalf("no create step for %s in\n%s", name, plan)
		return nil
	}

	// cold: the replicas the plan creates, which web's create waits for
	plan, err := Diff(p, &Observed{Project: p.Name, Networks: map[string]service.Network{}, Volumes: map[string]service.Volume{}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := created(plan, "shop-web-1").Links, want("1", "shop-db-1", "shop-db-2"); !slices.Equal(got, w) {
		t.Errorf("cold up: links\n%q, want\n%q", got, w)
	}

	// --no-deps with db scaled down to 1 by hand: the containers there are
	obs := upToDate(t, p)
	obs.Containers = slices.DeleteFunc(obs.Containers, func(c service.Container) bool { return c.Name == "shop-db-2" })
	obs.Containers = append(obs.Containers, service.Container{Name: "shop-db-run-0123456789ab", State: service.StateRunning,
		Labels: map[string]string{service.LabelProject: "shop", service.LabelService: "db", service.LabelOneoff: service.OneoffTrue}})
	plan, err = Diff(p, obs, Options{Services: []string{"web"}, NoDeps: true, ForceRecreate: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := created(plan, "id-shop-web-_shop-web-1").Links, want("1", "shop-db-1"); !slices.Equal(got, w) {
		t.Errorf("--no-deps: links\n%q, want\n%q", got, w)
	}

	// run's one-off: the live containers, stopped ones too, one-offs left out
	f := newFake(t)
	if err := converge(t, f, p, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := f.StopContainer(context.Background(), "shop-db-2", nil); err != nil {
		t.Fatal(err)
	}
	got, err := LiveLinks(context.Background(), f, p, web, -1)
	if err != nil {
		t.Fatal(err)
	}
	if w := want("-1", "shop-db-1", "shop-db-2"); !slices.Equal(got, w) {
		t.Errorf("one-off: links\n%q, want\n%q", got, w)
	}
	if got, _ := LiveLinks(context.Background(), f, p, p.Service("db"), -1); got != nil {
		t.Errorf("db links to nothing: %q", got)
	}
}
