package reconcile

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestKeepNetwork(t *testing.T) {
	t0 := time.Unix(1000, 0)
	nw := func(id string, at time.Time, containers ...string) service.Network {
		return service.Network{ID: id, Name: "p_default", Created: at, Containers: containers}
	}
	tests := []struct {
		name       string
		nets       []service.Network
		keep       string
		removedIDs []string
	}{
		{"oldest", []service.Network{nw("b", t0.Add(time.Second)), nw("a", t0.Add(2*time.Second)), nw("c", t0)}, "c", []string{"b", "a"}},
		{"same time: lowest ID", []service.Network{nw("b", t0), nw("a", t0)}, "a", []string{"b"}},
		{"with containers over oldest", []service.Network{nw("old", t0), nw("used", t0.Add(time.Hour), "ctr")}, "used", []string{"old"}},
		{"most containers", []service.Network{nw("one", t0, "x"), nw("two", t0.Add(time.Hour), "y", "z")}, "two", []string{"one"}},
		{"equal containers: oldest", []service.Network{nw("late", t0.Add(time.Hour), "y"), nw("early", t0, "x")}, "early", []string{"late"}},
		{"one", []service.Network{nw("a", t0)}, "a", nil},
	}
	for _, tt := range tests {
		keep, others := KeepNetwork(tt.nets)
		var ids []string
		for _, o := range others {
			ids = append(ids, o.ID)
		}
		if keep.ID != tt.keep || !slices.Equal(ids, tt.removedIDs) {
			t.Errorf("%s: keep %s, others %v; want %s, %v", tt.name, keep.ID, ids, tt.keep, tt.removedIDs)
		}
	}
}

// projectNetwork makes, as an engine before API 1.44 does without the
// duplicate check, a network named and labelled as the project's default
// network, whatever networks already have that name.
func projectNetwork(t *testing.T, f *servicetest.Fake, compose string) string {
	t.Helper()
	p := load(t, compose)
	return f.AddNetwork(*networkSpec(p.Networks[0]))
}

// TestConvergeRemovesDuplicateNetworks is the stuck state of issue 11 on
// the fake: two networks of the project's name, made by two ups that raced.
// Before, every up failed ("ambiguous") and down left both; now up keeps
// one and removes the other, and down removes all.
func TestConvergeRemovesDuplicateNetworks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attached bool // a container of the project runs on the newer one
	}{{"empty", false}, {"one in use", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			clock := time.Unix(1000, 0)
			f.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
			p := load(t, threeTier)
			older := projectNetwork(t, f, threeTier)
			newer := projectNetwork(t, f, threeTier)
			if tc.attached {
				spec, _, err := ContainerSpec(p, p.Service("web"), 1)
				if err != nil {
					t.Fatal(err)
				}
				spec.Networks[0].Network = newer
				if _, err := f.CreateContainer(context.Background(), spec); err != nil {
					t.Fatal(err)
				}
				if err := f.StartContainer(context.Background(), spec.Name); err != nil {
					t.Fatal(err)
				}
			}
			var first *Plan
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Converge(ctx, f, p, Options{}, ApplyOptions{}, false, func(pl *Plan) { first = pl })
			if err != nil {
				t.Fatalf("up: %v", err)
			}
			gone := older
			if !tc.attached {
				gone = newer
			}
			if !strings.Contains(first.String(), "remove network shop_default: duplicate "+shortID(gone)+", same name and project (keeping ") {
				t.Errorf("the plan does not say it removes the duplicate %s:\n%s", shortID(gone), first)
			}
			nets, err := f.ListNetworks(context.Background(), service.Filter{Labels: map[string]string{service.LabelProject: "shop"}})
			if err != nil || len(nets) != 1 || nets[0].ID == gone {
				t.Fatalf("networks after up: %+v, %v; want one, not %s", nets, err, gone)
			}
			for _, name := range []string{"shop-db-1", "shop-api-1", "shop-web-1"} {
				c, ok := f.Container(name)
				if !ok || c.State != service.StateRunning || c.Networks["shop_default"] != nets[0].ID {
					t.Errorf("%s after up: %+v", name, c)
				}
			}
			if again := replan(t, f, p, Options{}); !again.Empty() {
				t.Errorf("a second up plans:\n%s", again)
			}

			// down after a duplicate appears again: both go
			projectNetwork(t, f, threeTier)
			obs, err := Observe(context.Background(), f, p.Name, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := Apply(ctx, f, Down(p, obs, DownOptions{}), ApplyOptions{}); err != nil {
				t.Fatalf("down: %v", err)
			}
			if nets, _ := f.ListNetworks(context.Background(), service.Filter{}); len(nets) != 0 {
				t.Errorf("networks after down: %+v", nets)
			}
		})
	}
}

// TestCreateNetworkTakenByTheProject: a create that finds the name taken by
// a network of the same project (another up made it meanwhile) goes on with
// it; one of another project, or unlabelled, still fails the step.
func TestCreateNetworkTakenByTheProject(t *testing.T) {
	p := load(t, threeTier)
	spec := networkSpec(p.Networks[0])
	for _, tc := range []struct {
		name   string
		labels map[string]string
		ok     bool
	}{
		{"same project", spec.Labels, true},
		{"other project", map[string]string{service.LabelProject: "other"}, false},
		{"no label", nil, false},
	} {
		f := servicetest.NewFake()
		f.AddNetwork(service.NetworkSpec{Name: spec.Name, Labels: tc.labels})
		plan := &Plan{}
		plan.add(&Step{Op: OpCreateNetwork, Object: spec.Name, Target: spec.Name, NetworkSpec: spec})
		err := Apply(context.Background(), f, plan, ApplyOptions{})
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestWaitReportsAKilledDependency: a dependency killed while up waits for
// it to be healthy is reported as exited with its code, not as unhealthy
// (the engine marks stopped containers unhealthy; so does the fake).
func TestWaitReportsAKilledDependency(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	p := load(t, threeTier)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, _ := f.Events(ctx, service.Filter{})
	go func() {
		for ev := range evs {
			if ev.Action == "start" && strings.HasSuffix(ev.ContainerName, "db-1") {
				_ = f.KillContainer(ctx, ev.ContainerID, "SIGKILL")
			}
		}
	}()
	err := converge(t, f, p, Options{})
	if err == nil || !strings.Contains(err.Error(), "container shop-db-1 exited (137), killed by SIGKILL") {
		t.Fatalf("got %v, want shop-db-1 reported as exited (137)", err)
	}
	if c, _ := f.Container("shop-db-1"); c.Health != service.HealthUnhealthy {
		t.Errorf("the killed container's health is %q: the fake should mark it unhealthy, as the engine does", c.Health)
	}
}

// recordingBackend records the network argument of connect and disconnect
// calls.
type recordingBackend struct {
	*servicetest.Fake
	mu   sync.Mutex
	nets []string
}

func (r *recordingBackend) ConnectNetwork(ctx context.Context, network, container string, ep service.Endpoint) error {
	r.mu.Lock()
	r.nets = append(r.nets, "connect "+network)
	r.mu.Unlock()
	return r.Fake.ConnectNetwork(ctx, network, container, ep)
}

func (r *recordingBackend) DisconnectNetwork(ctx context.Context, network, container string, force bool) error {
	r.mu.Lock()
	r.nets = append(r.nets, "disconnect "+network)
	r.mu.Unlock()
	return r.Fake.DisconnectNetwork(ctx, network, container, force)
}

// TestNetworksAddressedByID: when a network's configuration changes, its
// containers are disconnected from the old one and connected to the new one
// by ID (the new one's as its create step got it), never by a name that
// another network may share.
func TestNetworksAddressedByID(t *testing.T) {
	f := newFake(t)
	p := load(t, threeTier)
	if err := converge(t, f, p, Options{}); err != nil {
		t.Fatal(err)
	}
	old, _ := f.Network("shop_default")
	changed := load(t, threeTier+"networks:\n  default:\n    labels: {x: y}\n")
	r := &recordingBackend{Fake: f}
	if err := converge(t, r, changed, Options{}); err != nil {
		t.Fatal(err)
	}
	now, _ := f.Network("shop_default")
	if now.ID == old.ID || len(r.nets) != 6 {
		t.Fatalf("network %s → %s, calls %q", old.ID, now.ID, r.nets)
	}
	for _, call := range r.nets {
		if call != "disconnect "+old.ID && call != "connect "+now.ID {
			t.Errorf("call %q: want the old network's ID (%s) to disconnect, the new one's (%s) to connect", call, old.ID, now.ID)
		}
	}
}

// racingBackend makes a duplicate of every network right after creating it,
// as a concurrent create on an engine before API 1.44 may.
type racingBackend struct {
	*servicetest.Fake
}

func (r racingBackend) CreateNetwork(ctx context.Context, spec service.NetworkSpec) (string, error) {
	id, err := r.Fake.CreateNetwork(ctx, spec)
	if err == nil {
		r.Fake.AddNetwork(spec)
	}
	return id, err
}

// TestContainersJoinNetworksByID: containers join their networks by the ID
// the plan knows (observed, or got by the create step), so a duplicate made
// meanwhile by a concurrent create does not fail the up; the next up
// removes it.
func TestContainersJoinNetworksByID(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool // the network exists before the plan is made
	}{{"observed network", true}, {"network created by the plan", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			p := load(t, threeTier)
			var want string
			var b service.Backend = racingBackend{f}
			if tc.existing {
				var err error
				if want, err = f.CreateNetwork(context.Background(), *networkSpec(p.Networks[0])); err != nil {
					t.Fatal(err)
				}
				b = f
			}
			obs, err := Observe(context.Background(), f, p.Name, p)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Diff(p, obs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.existing {
				projectNetwork(t, f, threeTier) // made by another up meanwhile
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := Apply(ctx, b, plan, ApplyOptions{}); err != nil {
				t.Fatalf("up with a duplicate made meanwhile: %v", err)
			}
			ids := map[string]bool{}
			for _, name := range []string{"shop-db-1", "shop-api-1", "shop-web-1"} {
				c, _ := f.Container(name)
				if c.State != service.StateRunning {
					t.Errorf("%s: %s", name, c.State)
				}
				ids[c.Networks["shop_default"]] = true
			}
			if len(ids) != 1 || (want != "" && !ids[want]) {
				t.Errorf("containers on networks %v, want all on one (%s)", ids, want)
			}
			if err := Converge(ctx, f, p, Options{}, ApplyOptions{}, false, nil); err != nil {
				t.Fatalf("next up: %v", err)
			}
			if nets, _ := f.ListNetworks(context.Background(), service.Filter{}); len(nets) != 1 {
				t.Errorf("networks after the next up: %d, want 1", len(nets))
			}
		})
	}
}
