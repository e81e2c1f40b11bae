package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// newFake is a fake runtime holding busybox, where every container with a
// healthcheck turns healthy when it starts.
func newFake(t *testing.T) *servicetest.Fake {
	t.Helper()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	evs, _ := f.Events(ctx, service.Filter{})
	go func() {
		for ev := range evs {
			if ev.Action == "start" {
				if c, ok := f.Container(ev.ContainerName); ok && c.Health != "" {
					_ = f.SetHealth(c.ID, service.HealthHealthy)
				}
			}
		}
	}()
	return f
}

// converge observes, diffs and applies once.
func converge(t *testing.T, b service.Backend, p *project.Project, opts Options) error {
	t.Helper()
	obs, err := Observe(context.Background(), b, p.Name, p)
	if err != nil {
		return err
	}
	plan, err := Diff(p, obs, opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Apply(ctx, b, plan, ApplyOptions{Project: p.Name})
}

// replan is the plan Diff makes after what was applied: it must be empty.
func replan(t *testing.T, b service.Backend, p *project.Project, opts Options) *Plan {
	t.Helper()
	obs, err := Observe(context.Background(), b, p.Name, p)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Diff(p, obs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestApplyIsIdempotent(t *testing.T) {
	steps := []struct {
		name    string
		compose string
		opts    Options
	}{
		{"cold", threeTier, Options{}},
		{"again", threeTier, Options{}},
		{"env change", strings.Replace(threeTier, "secret}", "changed}", 1), Options{}},
		{"scale up", strings.Replace(threeTier, "secret}", "changed}", 1), Options{Scale: map[string]int{"web": 3}}},
		{"scale down", strings.Replace(threeTier, "secret}", "changed}", 1), Options{Scale: map[string]int{"web": 1}}},
		{"network change", strings.Replace(threeTier, "secret}", "changed}", 1) + "networks:\n  default:\n    labels: {x: y}\n", Options{}},
		{"volume change with -y", strings.Replace(threeTier, "data: {}", "data: {labels: {a: b}}", 1), Options{RecreateVolumes: true}},
		{"force", strings.Replace(threeTier, "data: {}", "data: {labels: {a: b}}", 1), Options{ForceRecreate: true}},
	}
	f := newFake(t)
	for _, st := range steps {
		p := load(t, st.compose)
		if err := converge(t, f, p, st.opts); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		st.opts.ForceRecreate = false
		if plan := replan(t, f, p, st.opts); !plan.Empty() {
			t.Fatalf("%s: after applying, the plan is not empty:\n%s", st.name, plan)
		}
		for _, s := range p.Services {
			want := s.Scale
			if n, ok := st.opts.Scale[s.Name]; ok {
				want = n
			}
			for n := 1; n <= want; n++ {
				c, ok := f.Container(s.Replica(p.Name, n).Name)
				if !ok || c.State != service.StateRunning || c.Labels[service.LabelConfigHash] != s.Hash {
					t.Fatalf("%s: replica %s-%d: %+v", st.name, s.Name, n, c)
				}
			}
		}
	}
}

func TestNoOpTouchesNothing(t *testing.T) {
	f := newFake(t)
	p := load(t, threeTier)
	if err := converge(t, f, p, Options{}); err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	if err := converge(t, f, p, Options{}); err != nil {
		t.Fatal(err)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("a no-op apply made calls: %v", calls)
	}
}

// TestFailureLeavesConvergibleState fails one backend call in the middle of
// a plan: Apply reports it, and the next run converges from what was left.
func TestFailureLeavesConvergibleState(t *testing.T) {
	changed := strings.Replace(threeTier, "secret}", "changed}", 1)
	for _, op := range []string{"CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "RenameContainer", "CreateNetwork", "CreateVolume"} {
		t.Run(op, func(t *testing.T) {
			f := newFake(t)
			first := load(t, threeTier)
			if op == "CreateNetwork" || op == "CreateVolume" {
				f.FailOnce(op, "shop", errors.New("injected failure"))
			} else {
				if err := converge(t, f, first, Options{}); err != nil {
					t.Fatal(err)
				}
				f.FailOnce(op, "db", errors.New("injected failure"))
			}
			p := load(t, changed)
			err := converge(t, f, p, Options{})
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("Apply returned %v, want the injected failure", err)
			}
			if err := converge(t, f, p, Options{}); err != nil {
				t.Fatalf("the next run did not converge: %v", err)
			}
			if plan := replan(t, f, p, Options{}); !plan.Empty() {
				t.Fatalf("not converged:\n%s", plan)
			}
		})
	}
}

// bounded counts how many CreateContainer calls run at once.
type bounded struct {
	*servicetest.Fake
	now, peak atomic.Int32
}

func (b *bounded) CreateContainer(ctx context.Context, spec service.ContainerSpec) (string, error) {
	n := b.now.Add(1)
	defer b.now.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	return b.Fake.CreateContainer(ctx, spec)
}

func TestParallelismIsBounded(t *testing.T) {
	var compose strings.Builder
	compose.WriteString("name: many\nservices:\n")
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		compose.WriteString("  " + s + ":\n    image: busybox\n")
	}
	p := load(t, compose.String())
	for _, limit := range []int{1, 3, 8} {
		b := &bounded{Fake: newFake(t)}
		obs, err := Observe(context.Background(), b, p.Name, p)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Diff(p, obs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := Apply(context.Background(), b, plan, ApplyOptions{Parallel: limit}); err != nil {
			t.Fatal(err)
		}
		if peak := b.peak.Load(); peak > int32(limit) || (limit > 1 && peak < 2) {
			t.Errorf("limit %d: %d creates at once", limit, peak)
		}
	}
}

func TestWaitFailsOnUnhealthyDependency(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	p := load(t, threeTier)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, _ := f.Events(ctx, service.Filter{})
	go func() {
		for ev := range evs {
			if ev.Action == "start" && strings.HasSuffix(ev.ContainerName, "db-1") {
				_ = f.SetHealth(ev.ContainerID, service.HealthUnhealthy)
			}
		}
	}()
	err := converge(t, f, p, Options{})
	if err == nil || !strings.Contains(err.Error(), "shop-db-1 is unhealthy") {
		t.Fatalf("got %v, want the unhealthy dependency named", err)
	}
	if c, ok := f.Container("shop-api-1"); ok && c.State == service.StateRunning {
		t.Errorf("api started although db is unhealthy")
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		c       service.Container
		cond    string
		ok      bool
		errPart string
	}{
		{service.Container{Name: "x", State: "running", Health: "healthy"}, CondHealthy, true, ""},
		{service.Container{Name: "x", State: "running", Health: "starting"}, CondHealthy, false, ""},
		{service.Container{Name: "x", State: "running", Health: "unhealthy"}, CondHealthy, false, "x is unhealthy"},
		{service.Container{Name: "x", State: "running"}, CondHealthy, false, "no healthcheck"},
		{service.Container{Name: "x", State: "exited", ExitCode: 2}, CondHealthy, false, "exited (2)"},
		{service.Container{Name: "x", State: "exited"}, CondCompleted, true, ""},
		{service.Container{Name: "x", State: "exited", ExitCode: 1, Labels: map[string]string{service.LabelService: "m"}}, CondCompleted, false, `"m" didn't complete successfully: exit 1`},
		{service.Container{Name: "x", State: "running"}, CondCompleted, false, ""},
		{service.Container{Name: "x", State: "running"}, CondRunningOrHealthy, true, ""},
		{service.Container{Name: "x", State: "running", Health: "starting"}, CondRunningOrHealthy, false, ""},
		{service.Container{Name: "x", State: "created"}, CondRunningOrHealthy, false, ""},
	}
	for _, tt := range tests {
		ok, err := Check(tt.c, tt.cond)
		if ok != tt.ok || (tt.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
			t.Errorf("Check(%+v, %s) = %v, %v; want %v, %q", tt.c, tt.cond, ok, err, tt.ok, tt.errPart)
		}
	}
}

// TestApplyCancels: cancelling the context ends Apply promptly.
func TestApplyCancels(t *testing.T) {
	f := servicetest.NewFake() // nothing turns healthy: the wait blocks
	f.AddImage("busybox", "sha256:b0")
	p := load(t, threeTier)
	obs, _ := Observe(context.Background(), f, p.Name, p)
	plan, _ := Diff(p, obs, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() { defer wg.Done(); err = Apply(ctx, f, plan, ApplyOptions{Project: p.Name}) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestVolumesFromNamesContainers(t *testing.T) {
	p := load(t, `services:
  data:
    image: busybox
    volumes: [/data]
  ro:
    image: busybox
    volumes_from: ["data:ro"]
  rw:
    image: busybox
    volumes_from: [data, "container:other:rw"]
`)
	f := newFake(t)
	if _, err := f.CreateContainer(context.Background(), service.ContainerSpec{Name: "other", Image: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := converge(t, f, p, Options{}); err != nil {
		t.Fatal(err)
	}
	data := p.Service("data").Replica(p.Name, 1).Name
	for svc, want := range map[string][]string{"ro": {data + ":ro"}, "rw": {data, "other:rw"}} {
		spec, ok := f.ContainerSpec(p.Service(svc).Replica(p.Name, 1).Name)
		if !ok || !slices.Equal(spec.VolumesFrom, want) {
			t.Errorf("%s: VolumesFrom = %q, want %q", svc, spec.VolumesFrom, want)
		}
	}
}

func TestLimit(t *testing.T) {
	for env, want := range map[string]int{"": DefaultParallel, "0": DefaultParallel, "-3": DefaultParallel, "x": DefaultParallel, "4": 4, " 7 ": 7} {
		if got := Limit(env); got != want {
			t.Errorf("Limit(%q) = %d, want %d", env, got, want)
		}
	}
}
