package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

const providersCompose = `
services:
  queue:
    provider: {type: fake, options: {size: "1"}}
  db:
    provider: {type: fake}
    depends_on: [queue]
  app:
    image: busybox
    command: ["sleep", "1000"]
    depends_on: [db]
  solo:
    image: busybox
`

// fakeProviders records calls and returns URL=<service>.
type fakeProviders struct {
	mu    sync.Mutex
	calls []string
	fail  string
}

func (f *fakeProviders) Run(_ context.Context, projectName string, svc types.ServiceConfig, command string, info func(string)) (project.ProviderVars, bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, command+" "+svc.Name)
	f.mu.Unlock()
	if svc.Name == f.fail {
		return project.ProviderVars{}, true, errors.New("quota exceeded")
	}
	info("working")
	return project.ProviderVars{Prefixed: map[string]string{"URL": svc.Name + "://" + projectName}}, true, nil
}

// TestProvidersPlan: a provider runs after the providers it depends on at
// up, before them at down and stop; down and stop run providers after the
// containers that depend on them are gone.
func TestProvidersPlan(t *testing.T) {
	p := load(t, providersCompose)
	up := Providers(p, nil, "up")
	if up.Steps[len(up.Steps)-1].Object != "db" || len(up.Steps[len(up.Steps)-1].Deps) != 1 || up.Steps[len(up.Steps)-1].Deps[0].Object != "queue" {
		t.Errorf("up order:\n%s", up)
	}
	down := Providers(p, nil, "down")
	if down.Steps[len(down.Steps)-1].Object != "queue" || down.Steps[len(down.Steps)-1].Deps[0].Object != "db" {
		t.Errorf("down order:\n%s", down)
	}
	if got := ProviderScope(p, []string{"solo"}, false); len(got) != 0 {
		t.Errorf("scope of solo: %v", got)
	}
	if got := ProviderScope(p, []string{"app"}, false); strings.Join(got, ",") != "db,queue" {
		t.Errorf("scope of app: %v", got)
	}
	if got := ProviderScope(p, []string{"app"}, true); len(got) != 0 {
		t.Errorf("scope of app --no-deps: %v", got)
	}

	obs := &Observed{Project: p.Name, Containers: []service.Container{{ID: "c1", Name: p.Name + "-app-1", State: service.StateRunning,
		Labels: map[string]string{service.LabelProject: p.Name, service.LabelService: "app", service.LabelOneoff: "False"}}}}
	plan := Down(p, obs, DownOptions{}).String()
	for _, want := range []string{"#2 remove container " + p.Name + "-app-1 (after #1)", "#3 run provider db down: provider service (after #2)", "#4 run provider queue down: provider service (after #3)"} {
		if !strings.Contains(plan, want) {
			t.Errorf("down plan lacks %q:\n%s", want, plan)
		}
	}
	if plan := Stop(p, obs, nil).String(); !strings.Contains(plan, "#2 run provider db stop: provider service (after #1)") {
		t.Errorf("stop plan:\n%s", plan)
	}
}

// TestConvergeRunsProviders: up runs the providers first, their variables
// reach the dependents' containers, and a second up with the same answers
// changes nothing; a failing provider fails the up before any container.
func TestConvergeRunsProviders(t *testing.T) {
	f := newFake(t)
	p := load(t, providersCompose)
	runner := &fakeProviders{}
	aopts := ApplyOptions{Providers: runner}
	if err := Converge(context.Background(), f, p, Options{}, aopts, false, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(runner.calls, ",") != "up queue,up db" {
		t.Errorf("calls %v", runner.calls)
	}
	spec, ok := f.ContainerSpec(p.Name + "-app-1")
	if !ok || !strings.Contains(strings.Join(spec.Env, " "), "DB_URL=db://"+p.Name) {
		t.Fatalf("app's env: %v", spec.Env)
	}
	p2, err := project.Load(context.Background(), project.Options{WorkingDir: p.WorkingDir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p2.Services {
		s.Labels[service.LabelWorkingDir] = "/src"
		s.Labels[service.LabelConfigFiles] = "/src/compose.yaml"
	}
	var plan *Plan
	if err := Converge(context.Background(), f, p2, Options{}, aopts, true, func(pl *Plan) { plan = pl }); err != nil {
		t.Fatal(err)
	}
	if err := Converge(context.Background(), f, p2, Options{}, aopts, false, func(pl *Plan) { plan = pl }); err != nil {
		t.Fatal(err)
	}
	if plan.Count(OpCreateContainer) != 0 {
		t.Errorf("second up recreates:\n%s", plan)
	}

	f2 := newFake(t)
	failing := &fakeProviders{fail: "queue"}
	err = Converge(context.Background(), f2, load(t, providersCompose), Options{}, ApplyOptions{Providers: failing}, false, nil)
	if err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("failing provider: %v", err)
	}
	if cs, _ := f2.ListContainers(context.Background(), service.Filter{All: true}); len(cs) != 0 {
		t.Errorf("containers made after a provider failed: %v", cs)
	}
}
