package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile/swarm"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// loadStack converts testdata/swarm/threetier with env (KEY=VALUE) set.
func loadStack(t *testing.T, env ...string) *service.SwarmStack {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "testdata", "swarm", "threetier"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(context.Background(), project.Options{WorkingDir: dir, Env: append([]string{"APP_KEY=k1"}, env...)})
	if err != nil {
		t.Fatal(err)
	}
	stack, _, err := swarm.Convert(p.Model, swarm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return stack
}

// deployed is what a swarm holds once stack is deployed by berth: every
// object, the services with their digests label, at version 7.
func deployed(stack *service.SwarmStack) service.SwarmState {
	var st service.SwarmState
	for _, sv := range stack.Services {
		labels := map[string]string{swarm.DigestsLabel: swarm.EncodeDigests(swarm.Digests(sv))}
		st.Services = append(st.Services, service.SwarmObjectState{ID: "id-" + sv.Name, Name: sv.Name, Version: 7, Labels: labels})
	}
	for _, n := range stack.Networks {
		if !n.External {
			st.Networks = append(st.Networks, service.SwarmObjectState{ID: "id-" + n.Name, Name: n.Name, Labels: n.Labels})
		}
	}
	for _, o := range stack.Secrets {
		st.Secrets = append(st.Secrets, service.SwarmObjectState{ID: "id-" + o.Name, Name: o.Name, Labels: o.Labels})
	}
	for _, o := range stack.Configs {
		st.Configs = append(st.Configs, service.SwarmObjectState{ID: "id-" + o.Name, Name: o.Name, Labels: o.Labels})
	}
	return st
}

// TestDeployGolden plans deploys of the 3-tier project against observed
// swarms and compares each plan with testdata/reconcile/deploy-*.plan.
func TestDeployGolden(t *testing.T) {
	base := loadStack(t)
	tests := []struct {
		name     string
		desired  *service.SwarmStack
		observed service.SwarmState
		opts     DeployOptions
	}{
		{"cold", base, service.SwarmState{}, DeployOptions{}},
		{"env-changed", loadStack(t, "API_LEVEL=debug"), deployed(base), DeployOptions{}},
		{"image-changed", loadStack(t, "WEB_IMAGE=berth-test/busybox:v2"), deployed(base), DeployOptions{}},
		{"secret-changed", loadStack(t, "APP_KEY=k2"), deployed(base), DeployOptions{}},
		{"service-removed", base, func() service.SwarmState {
			st := deployed(base)
			st.Services = append(st.Services, service.SwarmObjectState{ID: "id-old", Name: "shop_old"})
			return st
		}(), DeployOptions{}},
		{"not-by-berth", base, func() service.SwarmState {
			st := deployed(base)
			st.Services[0].Labels = nil // as docker stack deploy leaves it
			return st
		}(), DeployOptions{}},
		{"only-web", loadStack(t, "API_LEVEL=debug", "WEB_IMAGE=berth-test/busybox:v2"), deployed(base), DeployOptions{Services: []string{"web"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PlanDeploy(tt.desired, tt.observed, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkDAG(t, p)
			golden(t, filepath.Join("..", "testdata", "reconcile", "deploy-"+tt.name+".plan"), p.String())
		})
	}
	t.Run("rm", func(t *testing.T) {
		golden(t, filepath.Join("..", "testdata", "reconcile", "deploy-rm.plan"), PlanDeployRemove(deployed(base)).String())
	})
}

// TestDeployNoOpIsEmpty: deploying what is deployed changes nothing.
func TestDeployNoOpIsEmpty(t *testing.T) {
	base := loadStack(t)
	p, err := PlanDeploy(loadStack(t), deployed(base), DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("a deploy of the deployed project plans:\n%s", p)
	}
}

func TestDeployErrors(t *testing.T) {
	base := loadStack(t)
	if _, err := PlanDeploy(base, service.SwarmState{}, DeployOptions{Services: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "no such service: nope") {
		t.Errorf("unknown service: err = %v", err)
	}
	cyclic := &service.SwarmStack{Services: []service.SwarmService{
		{Name: "s_a", Service: "a", DependsOn: []string{"b"}}, {Name: "s_b", Service: "b", DependsOn: []string{"a"}}}}
	if _, err := PlanDeploy(cyclic, service.SwarmState{}, DeployOptions{}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err = %v", err)
	}
}

func TestSwarmConverged(t *testing.T) {
	two := uint64(2)
	replicated := &service.SwarmService{Name: "p_web", Mode: "replicated", Replicas: &two}
	global := &service.SwarmService{Name: "p_agent", Mode: "global"}
	job := &service.SwarmService{Name: "p_job", Mode: "replicated-job", Replicas: &two}
	task := func(id, desired, state string) service.SwarmTask {
		return service.SwarmTask{ID: id, NodeID: "node1", DesiredState: desired, State: state, Current: true}
	}
	tests := []struct {
		name    string
		spec    *service.SwarmService
		tasks   []service.SwarmTask
		done    bool
		wantErr string
	}{
		{"none yet", replicated, nil, false, ""},
		{"one of two", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "preparing")}, false, ""},
		{"two of two", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "running")}, true, ""},
		{"old on its way out", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "running"), task("c", "shutdown", "running")}, true, ""},
		{"failed", replicated, []service.SwarmTask{task("a", "running", "running"), {ID: "bbbbbbbbbbbbbbbb", NodeID: "node1", DesiredState: "shutdown", State: "failed", Error: "task: non-zero exit (1)", Current: true}}, false,
			"service p_web: task bbbbbbbbbbbb on node node1 failed: task: non-zero exit (1)"},
		{"rejected", global, []service.SwarmTask{task("a", "running", "rejected")}, false, "rejected"},
		{"old spec still running", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "running"), {ID: "c", DesiredState: "running", State: "running"}}, false, ""},
		{"old spec failed long ago", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "running"), {ID: "c", DesiredState: "shutdown", State: "failed"}}, true, ""},
		{"unschedulable is pending", replicated, []service.SwarmTask{task("a", "running", "running"), {ID: "b", DesiredState: "running", State: "pending", Error: `no suitable node (host-mode port already in use on 1 node)`, Current: true}}, false, ""},
		{"healthcheck not yet healthy", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "starting")}, false, ""},
		{"pending", replicated, []service.SwarmTask{task("a", "running", "running"), task("b", "running", "pending")}, false, ""},
		{"global", global, []service.SwarmTask{task("a", "running", "running")}, true, ""},
		{"job running", job, []service.SwarmTask{task("a", "complete", "running"), task("b", "complete", "complete")}, false, ""},
		{"job done", job, []service.SwarmTask{task("a", "complete", "complete"), task("b", "complete", "complete")}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, err := SwarmConverged(tt.spec, tt.tasks)
			if done != tt.done || fmt.Sprint(err != nil) != fmt.Sprint(tt.wantErr != "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SwarmConverged = %v, %v; want %v, %q", done, err, tt.done, tt.wantErr)
			}
		})
	}
}

// TestDeployApplyOnFake runs the whole loop on the in-memory swarm: a deploy
// converges, a second one plans nothing, an env change updates one service
// (its dependents untouched), deploy rm leaves nothing.
func TestDeployApplyOnFake(t *testing.T) {
	ctx := context.Background()
	sw := servicetest.NewSwarmFake(servicetest.NewFake())
	dir, _ := filepath.Abs(filepath.Join("..", "testdata", "swarm", "threetier"))
	model := func(env ...string) *types.Project {
		p, err := project.Load(ctx, project.Options{WorkingDir: dir, Env: append([]string{"APP_KEY=k1"}, env...)})
		if err != nil {
			t.Fatal(err)
		}
		return p.Model
	}
	deploy := func(m *types.Project) *Plan {
		t.Helper()
		plan, _, err := PlanDeployProject(ctx, sw, m, DeployOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := Apply(ctx, sw, plan, ApplyOptions{Project: "shop"}); err != nil {
			t.Fatalf("apply:\n%s\n%v", plan, err)
		}
		return plan
	}
	if plan := deploy(model()); plan.Count(OpCreateSwarmService) != 3 {
		t.Fatalf("cold deploy:\n%s", plan)
	}
	if plan := deploy(model()); !plan.Empty() {
		t.Errorf("second deploy:\n%s", plan)
	}
	sw.ResetCalls()
	if plan := deploy(model("API_LEVEL=debug")); plan.Count(OpUpdateSwarmService) != 1 || len(plan.Steps) != 2 {
		t.Errorf("env change:\n%s", plan)
	}
	for _, c := range sw.Calls() {
		if c.Op != "UpdateSwarmService" || c.Object != "shop_api" {
			t.Errorf("env change of api called %s %s", c.Op, c.Object)
		}
	}
	plan, err := PlanDeployRemoveProject(ctx, sw, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, sw, plan, ApplyOptions{Project: "shop"}); err != nil {
		t.Fatal(err)
	}
	st, err := sw.SwarmState(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services)+len(st.Networks)+len(st.Secrets)+len(st.Configs) != 0 {
		t.Errorf("deploy rm left %+v", st)
	}
	// a backend with no swarm says so
	if _, _, err := PlanDeployProject(ctx, servicetest.NewFake(), model(), DeployOptions{}); !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("deploy on a backend without swarm: %v", err)
	}
}

func TestUnschedulable(t *testing.T) {
	stuck := []service.SwarmTask{{ID: "b", DesiredState: "running", State: "pending", Error: "no suitable node", Current: true}}
	u := Unschedulable{After: 20 * time.Second}
	t0 := time.Unix(1000, 0)
	for _, step := range []struct {
		at      time.Duration
		tasks   []service.SwarmTask
		wantErr bool
	}{
		{0, stuck, false},
		{10 * time.Second, stuck, false},
		{15 * time.Second, nil, false}, // placed meanwhile: forgotten
		{16 * time.Second, stuck, false},
		{30 * time.Second, stuck, false},
		{37 * time.Second, stuck, true},
	} {
		err := u.check("p_web", step.tasks, t0.Add(step.at))
		if (err != nil) != step.wantErr {
			t.Errorf("at %v: err = %v, want error %v", step.at, err, step.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "task b cannot be scheduled for 20s: no suitable node") {
			t.Errorf("at %v: err = %v", step.at, err)
		}
	}
}

// TestDeployRollbackOnFake: an update the swarm rolls back (failure_action:
// rollback) fails the deploy although the old spec runs again, naming the
// failed task, its node, its error and its last log lines; the next deploy
// plans the update again (the rolled-back spec carries the old digests).
func TestDeployRollbackOnFake(t *testing.T) {
	ctx := context.Background()
	sw := servicetest.NewSwarmFake(servicetest.NewFake())
	dir, _ := filepath.Abs(filepath.Join("..", "testdata", "swarm", "threetier"))
	model := func(env ...string) *types.Project {
		p, err := project.Load(ctx, project.Options{WorkingDir: dir, Env: append([]string{"APP_KEY=k1"}, env...)})
		if err != nil {
			t.Fatal(err)
		}
		return p.Model
	}
	deploy := func(m *types.Project) error {
		plan, _, err := PlanDeployProject(ctx, sw, m, DeployOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return Apply(ctx, sw, plan, ApplyOptions{Project: "shop"})
	}
	if err := deploy(model()); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 15 {
		lines = append(lines, fmt.Sprintf("log line %d", i+1))
	}
	sw.RollBackNextUpdate("shop_api", "task: non-zero exit (3)", lines...)
	err := deploy(model("API_LEVEL=debug"))
	if err == nil {
		t.Fatal("a rolled-back update deployed without error")
	}
	for _, want := range []string{
		"service shop_api: the swarm rolled the update back (rollback_completed: update rolled back due to failure or early termination of task",
		"on node fake-node failed: task: non-zero exit (3)",
		"last log lines of task ",
		"\n  log line 6\n", "\n  log line 15",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "log line 5\n") {
		t.Errorf("error shows more than %d log lines:\n%v", swarmLogLines, err)
	}
	plan, _, perr := PlanDeployProject(ctx, sw, model("API_LEVEL=debug"), DeployOptions{})
	if perr != nil || plan.Count(OpUpdateSwarmService) != 1 {
		t.Errorf("deploy after the rollback plans:\n%s\n%v", plan, perr)
	}
	// the failed task is history: the next deploy of it succeeds
	if err := deploy(model("API_LEVEL=debug")); err != nil {
		t.Errorf("deploy after the rollback: %v", err)
	}
}

// TestDeployUnresolvedImageWarns: a service whose image no registry knows
// is deployed with its tag, and the backend's warning reaches the progress
// as a warning of its create step (and of an update's).
func TestDeployUnresolvedImageWarns(t *testing.T) {
	ctx := context.Background()
	sw := servicetest.NewSwarmFake(servicetest.NewFake())
	sw.SetUnresolvedImage("berth-test/busybox:v2")
	deploy := func(stack *service.SwarmStack) []string {
		t.Helper()
		observed, err := sw.SwarmState(ctx, stack.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := PlanDeploy(stack, observed, DeployOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var warnings []string
		progress := func(e Event) {
			if e.Status == StatusWarning {
				mu.Lock()
				defer mu.Unlock()
				warnings = append(warnings, fmt.Sprintf("%s: %v", e.Step.Op, e.Err))
			}
		}
		if err := Apply(ctx, sw, plan, ApplyOptions{Project: "shop", Progress: progress}); err != nil {
			t.Fatal(err)
		}
		return warnings
	}
	if w := deploy(loadStack(t)); len(w) != 0 {
		t.Errorf("deploy of resolvable images warned: %q", w)
	}
	want := []string{"update service: service shop_web: image berth-test/busybox:v2 could not be accessed on a registry to record its digest"}
	if w := deploy(loadStack(t, "WEB_IMAGE=berth-test/busybox:v2")); !slices.Equal(w, want) {
		t.Errorf("deploy of an image without digest warned %q, want %q", w, want)
	}
}

// TestDeployRemoveGoneMeanwhile: deploy rm of objects that are gone by the
// time they are removed (a node lists a removed swarm network for a while)
// succeeds.
func TestDeployRemoveGoneMeanwhile(t *testing.T) {
	ctx := context.Background()
	sw := servicetest.NewSwarmFake(servicetest.NewFake())
	plan := PlanDeployRemove(service.SwarmState{
		Services: []service.SwarmObjectState{{ID: "gone-svc", Name: "shop_api"}},
		Networks: []service.SwarmObjectState{{ID: "gone-net", Name: "shop_default"}},
	})
	if err := Apply(ctx, sw, plan, ApplyOptions{Project: "shop"}); err != nil {
		t.Errorf("deploy rm of objects gone meanwhile: %v", err)
	}
}

// TestWaitSwarmUpdateStatus: the wait after an update ends when the swarm
// says the update completed (after its monitor period), not as soon as the
// new tasks run; a paused update is a failure.
func TestWaitSwarmUpdateStatus(t *testing.T) {
	sw := servicetest.NewSwarmFake(servicetest.NewFake())
	stack := loadStack(t)
	plan, err := PlanDeploy(stack, service.SwarmState{}, DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), sw, plan, ApplyOptions{Project: "shop"}); err != nil {
		t.Fatal(err)
	}
	var spec *service.SwarmService
	for i := range stack.Services {
		if stack.Services[i].Name == "shop_api" {
			spec = &stack.Services[i]
		}
	}
	tests := []struct {
		state   string
		wantErr string // "" : returns nil; "timeout": still waiting
	}{
		{"", ""},
		{"completed", ""},
		{"updating", "timeout"},
		{"paused", "service shop_api: the swarm paused the update (update paused due to failure)"},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			sw.SetSwarmUpdateStatus("shop_api", service.SwarmUpdateStatus{State: tt.state, Message: "update paused due to failure"})
			ctx, cancel := context.WithTimeout(context.Background(), 2*swarmPoll+100*time.Millisecond)
			defer cancel()
			err := waitSwarmService(ctx, sw, &Step{Op: OpWaitSwarmService, Object: spec.Name, Target: spec.Name, Swarm: spec})
			switch tt.wantErr {
			case "":
				if err != nil {
					t.Errorf("wait: %v", err)
				}
			case "timeout":
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("wait during an update under way: %v, want it still waiting", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("wait: %v, want %q", err, tt.wantErr)
				}
			}
		})
	}
}
