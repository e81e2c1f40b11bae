package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/reconcile/swarm"
	"github.com/berthdev/berth/service"
)

// DeployOptions select what PlanDeploy deploys.
type DeployOptions struct {
	// Services restricts the deploy to these compose services; empty means
	// all. A restricted deploy removes nothing.
	Services []string
	// Locate, if set, gives the compose file and line of a dotted key path,
	// so that conversion warnings and errors name them.
	Locate func(path string) (file string, line int)
	// Built says the images of the services with a build section were
	// just built and pushed (deploy --build): no warning about them.
	Built bool
}

// PlanDeploy returns the plan that takes a swarm from observed (the objects
// labelled with the stack's namespace) to stack (berth deploy, #15):
// networks, secrets and configs first; then each service created or
// updated, in depends_on order, each followed by a wait until its tasks run
// at the new spec, which its dependents wait for; then what the project no
// longer has is removed: services, then the secrets, configs and networks
// they used. A secret or config is named by its content, so a new content
// is a new object, and the services using it are updated. A service whose
// recorded digests (swarm.DigestsLabel) match the desired spec is left
// alone: a deploy of an unchanged project is an empty plan. Every step of
// a service carries its spec with the digests label set.
func PlanDeploy(stack *service.SwarmStack, observed service.SwarmState, opts DeployOptions) (*Plan, error) {
	p := &Plan{}
	byName := func(list []service.SwarmObjectState) map[string]service.SwarmObjectState {
		m := make(map[string]service.SwarmObjectState, len(list))
		for _, o := range list {
			m[o.Name] = o
		}
		return m
	}
	obsServices, obsNetworks := byName(observed.Services), byName(observed.Networks)
	obsSecrets, obsConfigs := byName(observed.Secrets), byName(observed.Configs)

	selected := map[string]bool{}
	for _, s := range opts.Services {
		selected[s] = true
	}
	for s := range selected {
		if !slices.ContainsFunc(stack.Services, func(sv service.SwarmService) bool { return sv.Service == s }) {
			return nil, fmt.Errorf("no such service: %s", s)
		}
	}
	all := len(selected) == 0

	// networks, secrets and configs: created before the services using them
	made := map[string]*Step{} // by swarm name
	for i := range stack.Networks {
		n := &stack.Networks[i]
		if _, ok := obsNetworks[n.Name]; ok || n.External {
			continue
		}
		made[n.Name] = p.add(&Step{Op: OpCreateSwarmNetwork, Object: n.Name, Target: n.Name, SwarmNetwork: n, Cause: "not found"})
	}
	objects := func(op Op, desired []service.SwarmObject, obs map[string]service.SwarmObjectState) {
		for i := range desired {
			o := &desired[i]
			if _, ok := obs[o.Name]; ok || o.External {
				continue
			}
			cause := "not found"
			for _, old := range obs {
				if old.Labels["com.berth.swarm.key"] == o.Key {
					cause = "content changed"
				}
			}
			made[o.Name] = p.add(&Step{Op: op, Object: o.Name, Target: o.Name, SwarmObject: o, Cause: cause})
		}
	}
	objects(OpCreateSwarmSecret, stack.Secrets, obsSecrets)
	objects(OpCreateSwarmConfig, stack.Configs, obsConfigs)

	order, err := deployOrder(stack.Services)
	if err != nil {
		return nil, err
	}
	waits := map[string]*Step{} // by compose service
	var serviceSteps []*Step
	for _, i := range order {
		sv := stack.Services[i]
		if !all && !selected[sv.Service] {
			continue
		}
		digests := swarm.Digests(sv)
		sv.Labels = maps.Clone(sv.Labels)
		sv.Labels[swarm.DigestsLabel] = swarm.EncodeDigests(digests)
		var deps []*Step
		for _, a := range sv.Networks {
			deps = append(deps, made[a.Network])
		}
		for _, ref := range slices.Concat(sv.Container.Secrets, sv.Container.Configs) {
			deps = append(deps, made[ref.Name])
		}
		for _, d := range sv.DependsOn {
			deps = append(deps, waits[d])
		}
		spec := sv
		step := &Step{Service: sv.Service, Object: sv.Name, Target: sv.Name, Swarm: &spec}
		if old, ok := obsServices[sv.Name]; !ok {
			step.Op, step.Cause = OpCreateSwarmService, "not found"
		} else {
			label, ok := old.Labels[swarm.DigestsLabel]
			changed := swarm.Changed(swarm.DecodeDigests(label), digests)
			switch {
			case !ok:
				step.Cause = "not deployed by berth"
			case len(changed) == 0:
				continue
			default:
				step.Cause = strings.Join(changed, ", ") + " changed"
			}
			step.Op, step.Target, step.Version = OpUpdateSwarmService, old.ID, old.Version
		}
		p.add(step, deps...)
		serviceSteps = append(serviceSteps, step)
		waits[sv.Service] = p.add(&Step{Op: OpWaitSwarmService, Service: sv.Service, Object: sv.Name, Target: sv.Name, Swarm: &spec}, step)
	}
	if !all {
		return p, nil
	}

	// what the project no longer has, after the services are updated
	desired := map[string]bool{}
	for _, sv := range stack.Services {
		desired[sv.Name] = true
	}
	var removed []*Step
	for _, name := range slices.Sorted(maps.Keys(obsServices)) {
		if !desired[name] {
			removed = append(removed, p.add(&Step{Op: OpRemoveSwarmService, Object: name, Target: obsServices[name].ID, Cause: "not in the project"}, serviceSteps...))
		}
	}
	after := slices.Concat(slices.Collect(maps.Values(waits)), removed)
	slices.SortFunc(after, func(a, b *Step) int { return a.ID - b.ID })
	prune := func(op Op, obs map[string]service.SwarmObjectState, keep func(string) bool, cause string) {
		for _, name := range slices.Sorted(maps.Keys(obs)) {
			if !keep(name) {
				p.add(&Step{Op: op, Object: name, Target: obs[name].ID, Cause: cause}, after...)
			}
		}
	}
	keepObject := func(list []service.SwarmObject) func(string) bool {
		return func(name string) bool {
			return slices.ContainsFunc(list, func(o service.SwarmObject) bool { return o.Name == name })
		}
	}
	prune(OpRemoveSwarmSecret, obsSecrets, keepObject(stack.Secrets), "no longer used")
	prune(OpRemoveSwarmConfig, obsConfigs, keepObject(stack.Configs), "no longer used")
	prune(OpRemoveSwarmNetwork, obsNetworks, func(name string) bool {
		return slices.ContainsFunc(stack.Networks, func(n service.SwarmNetwork) bool { return n.Name == name })
	}, "not in the project")
	return p, nil
}

// PlanDeployRemove returns the plan that removes a deployed stack:
// services first, then its secrets, configs and networks (berth deploy rm).
func PlanDeployRemove(observed service.SwarmState) *Plan {
	p := &Plan{}
	var services []*Step
	for _, o := range sortedStates(observed.Services) {
		services = append(services, p.add(&Step{Op: OpRemoveSwarmService, Object: o.Name, Target: o.ID}))
	}
	for _, kind := range []struct {
		op   Op
		list []service.SwarmObjectState
	}{{OpRemoveSwarmSecret, observed.Secrets}, {OpRemoveSwarmConfig, observed.Configs}, {OpRemoveSwarmNetwork, observed.Networks}} {
		for _, o := range sortedStates(kind.list) {
			p.add(&Step{Op: kind.op, Object: o.Name, Target: o.ID}, services...)
		}
	}
	return p
}

func sortedStates(list []service.SwarmObjectState) []service.SwarmObjectState {
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b service.SwarmObjectState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// deployOrder returns the indexes of services in depends_on order (a
// service after those it depends on; by name among equals), or an error
// naming a cycle.
func deployOrder(services []service.SwarmService) ([]int, error) {
	index := map[string]int{}
	for i, s := range services {
		index[s.Service] = i
	}
	state := make([]int, len(services)) // 0 new, 1 visiting, 2 done
	var order []int
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(path, services[i].Service), " -> "))
		}
		state[i] = 1
		for _, d := range slices.Sorted(slices.Values(services[i].DependsOn)) {
			j, ok := index[d]
			if !ok {
				return fmt.Errorf("service %s depends on %s, which is not in the project", services[i].Service, d)
			}
			if err := visit(j, append(path, services[i].Service)); err != nil {
				return err
			}
		}
		state[i] = 2
		order = append(order, i)
		return nil
	}
	names := make([]int, len(services))
	for i := range names {
		names[i] = i
	}
	slices.SortFunc(names, func(a, b int) int { return strings.Compare(services[a].Service, services[b].Service) })
	for _, i := range names {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// swarmPoll is how often a wait-for-service step asks for the tasks.
const swarmPoll = 500 * time.Millisecond

// swarmStuckAfter is how long a task may stay pending with a scheduling
// error before the deploy fails: during a stop-first update of a service
// with a host-mode port, the new task is briefly unschedulable ("port
// already in use") until the old one stops.
const swarmStuckAfter = 20 * time.Second

// Unschedulable tells a task the scheduler cannot place (pending, with an
// error such as "no suitable node") for longer than After.
type Unschedulable struct {
	After time.Duration
	since map[string]time.Time
}

// check records when each task was first seen unschedulable and returns an
// error naming the first one that has been so for longer than After.
func (u *Unschedulable) check(name string, tasks []service.SwarmTask, now time.Time) error {
	since := map[string]time.Time{} // tasks no longer stuck are forgotten
	defer func() { u.since = since }()
	for _, t := range tasks {
		if !t.Current || t.State != "pending" || t.Error == "" {
			continue
		}
		first, ok := u.since[t.ID]
		if !ok {
			first = now
		}
		since[t.ID] = first
		if now.Sub(first) > u.After {
			return fmt.Errorf("service %s: task %s cannot be scheduled for %v: %s", name, shortID(t.ID), u.After, t.Error)
		}
	}
	return nil
}

// runSwarm makes the backend call of a swarm step.
// warn (if set) gets the backend's warnings, such as an image whose digest
// no registry gives.
func runSwarm(ctx context.Context, b service.Backend, s *Step, warn func(error)) error {
	sw, ok := b.(service.Swarm)
	if !ok {
		return fmt.Errorf("%s %s: %w: this backend does not talk to a swarm manager", s.Op, s.Object, service.ErrUnsupported)
	}
	var (
		err      error
		warnings []string
	)
	switch s.Op {
	case OpCreateSwarmService:
		_, warnings, err = sw.CreateSwarmService(ctx, *s.Swarm)
	case OpUpdateSwarmService:
		warnings, err = sw.UpdateSwarmService(ctx, s.Target, s.Version, *s.Swarm)
	case OpRemoveSwarmService:
		err = sw.RemoveSwarmService(ctx, s.Target)
	case OpWaitSwarmService:
		err = waitSwarmService(ctx, sw, s)
	case OpCreateSwarmNetwork:
		_, err = sw.CreateSwarmNetwork(ctx, *s.SwarmNetwork)
	case OpRemoveSwarmNetwork:
		err = sw.RemoveSwarmNetwork(ctx, s.Target)
	case OpCreateSwarmSecret:
		_, err = sw.CreateSwarmSecret(ctx, *s.SwarmObject)
	case OpRemoveSwarmSecret:
		err = sw.RemoveSwarmSecret(ctx, s.Target)
	case OpCreateSwarmConfig:
		_, err = sw.CreateSwarmConfig(ctx, *s.SwarmObject)
	case OpRemoveSwarmConfig:
		err = sw.RemoveSwarmConfig(ctx, s.Target)
	}
	removal := s.Op == OpRemoveSwarmService || s.Op == OpRemoveSwarmNetwork || s.Op == OpRemoveSwarmSecret || s.Op == OpRemoveSwarmConfig
	if removal && errors.Is(err, service.ErrNotFound) {
		// gone meanwhile (a node lists a removed swarm network for a while)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.Op, s.Object, err)
	}
	for _, w := range warnings {
		if warn != nil {
			warn(fmt.Errorf("service %s: %s", s.Object, w))
		}
	}
	return nil
}

// swarmLogLines is how many of a failed task's last log lines a deploy
// failure shows; swarmLogTimeout bounds reading them.
const (
	swarmLogLines   = 10
	swarmLogTimeout = 10 * time.Second
)

// waitSwarmService blocks until the service's tasks run at its new spec
// (see SwarmConverged) and, for an update, the swarm says the update
// completed (after update_config.monitor), or fails when one of the tasks
// started since the wait began fails, or when the swarm pauses the update
// or rolls it back (an automatic rollback, update_config.failure_action:
// rollback, is a failed deploy even though the old tasks run again). The
// error names the failed task, its node, its error and its last log lines.
func waitSwarmService(ctx context.Context, sw service.Swarm, s *Step) error {
	var before map[string]bool
	unschedulable := Unschedulable{After: swarmStuckAfter}
	rollouts, _ := sw.(service.SwarmRollouts)
	for {
		var update service.SwarmUpdateStatus
		if rollouts != nil {
			// asked before the tasks: a rollback puts the old spec back, and
			// its tasks would pass for converged ones
			var err error
			if update, err = rollouts.SwarmUpdateStatus(ctx, s.Target); err != nil {
				return err
			}
		}
		tasks, err := sw.SwarmTasks(ctx, s.Target)
		if err != nil {
			return err
		}
		if before == nil {
			// tasks that failed before this deploy are history, not news
			before = map[string]bool{}
			for _, t := range tasks {
				if failedTask(t) {
					before[t.ID] = true
				}
			}
		}
		var fresh []service.SwarmTask
		for _, t := range tasks {
			if !before[t.ID] {
				fresh = append(fresh, t)
			}
		}
		if update.RolledBack() {
			// the task that failed may have done so before the wait began
			failed := latestFailed(fresh)
			if failed == nil {
				failed = latestFailed(tasks)
			}
			return swarmFailure(ctx, sw, s.Swarm.Name, failed,
				fmt.Sprintf("the swarm rolled the update back (%s: %s)", update.State, update.Message))
		}
		if update.State == "paused" {
			return swarmFailure(ctx, sw, s.Swarm.Name, latestFailed(tasks),
				fmt.Sprintf("the swarm paused the update (%s)", update.Message))
		}
		done, failed := swarmConverged(s.Swarm, fresh)
		if failed != nil {
			return swarmFailure(ctx, sw, s.Swarm.Name, failed, "")
		}
		// an update is done when the swarm says so: after its monitor
		// period, in which a new task that runs, then fails, rolls it back
		if done && (update.State == "" || update.State == "completed") {
			return nil
		}
		if err := unschedulable.check(s.Swarm.Name, fresh, time.Now()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(swarmPoll):
		}
	}
}

// nodeName names the node of t: its hostname, else its ID.
func nodeName(t service.SwarmTask) string {
	if t.Node != "" {
		return t.Node
	}
	return t.NodeID
}

// failedTask says whether t failed or was rejected.
func failedTask(t service.SwarmTask) bool { return t.State == "failed" || t.State == "rejected" }

// latestFailed returns the failed task last reported, or nil.
func latestFailed(tasks []service.SwarmTask) *service.SwarmTask {
	var out *service.SwarmTask
	for i, t := range tasks {
		if failedTask(t) && (out == nil || t.Timestamp.After(out.Timestamp)) {
			out = &tasks[i]
		}
	}
	return out
}

// swarmFailure is the error of a failed rollout of service name: why (when
// not only the task), the failed task (if known) with its node and error,
// and the task's last log lines where the backend reads them.
func swarmFailure(ctx context.Context, sw service.Swarm, name string, t *service.SwarmTask, why string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s: ", name)
	if why != "" {
		b.WriteString(why)
		if t != nil {
			b.WriteString(": ")
		}
	}
	if t == nil {
		return errors.New(b.String())
	}
	msg := t.Error
	if msg == "" {
		msg = t.State
	}
	fmt.Fprintf(&b, "task %s on node %s %s: %s", shortID(t.ID), nodeName(*t), t.State, msg)
	if lines := taskLogTail(ctx, sw, t.ID); lines != "" {
		fmt.Fprintf(&b, "\nlast log lines of task %s:\n%s", shortID(t.ID), lines)
	}
	return errors.New(b.String())
}

// taskLogTail returns the last swarmLogLines lines of task id, indented, or
// "" when the backend cannot read them or there are none.
func taskLogTail(ctx context.Context, sw service.Swarm, id string) string {
	lg, ok := sw.(service.SwarmLogger)
	if !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, swarmLogTimeout)
	defer cancel()
	var out bytes.Buffer
	if err := lg.SwarmLogs(ctx, id, true, service.LogOptions{Tail: strconv.Itoa(swarmLogLines)}, &out, &out); err != nil {
		return "  (its logs cannot be read: " + err.Error() + ")"
	}
	var lines []string
	for l := range strings.Lines(strings.TrimRight(out.String(), "\n")) {
		lines = append(lines, "  "+strings.TrimRight(l, "\r\n"))
	}
	if len(lines) > swarmLogLines {
		lines = lines[len(lines)-swarmLogLines:]
	}
	return strings.Join(lines, "\n")
}

// SwarmConverged says whether tasks (those of one service, less the failed
// ones of earlier deploys) show spec converged: no task of an older spec
// runs, and every task of the current spec the swarm wants running runs,
// as many as spec asks (replicated) or at least one (global); for jobs,
// every task completed. A failed or rejected task of the current spec is an
// error naming it, its node and its error. (A task the scheduler cannot
// place is pending: see Unschedulable.)
func SwarmConverged(spec *service.SwarmService, tasks []service.SwarmTask) (bool, error) {
	done, t := swarmConverged(spec, tasks)
	if t != nil {
		msg := t.Error
		if msg == "" {
			msg = t.State
		}
		return false, fmt.Errorf("service %s: task %s on node %s %s: %s", spec.Name, shortID(t.ID), nodeName(*t), t.State, msg)
	}
	return done, nil
}

// swarmConverged is SwarmConverged, returning the failed task.
func swarmConverged(spec *service.SwarmService, tasks []service.SwarmTask) (bool, *service.SwarmTask) {
	job := strings.HasSuffix(spec.Mode, "-job")
	want := "running"
	if job {
		want = "complete"
	}
	n, pending := 0, 0
	for i, t := range tasks {
		switch {
		case !t.Current:
			if t.DesiredState == "running" && t.State == "running" {
				pending++ // an old task not yet replaced
			}
		case failedTask(t):
			return false, &tasks[i]
		case t.DesiredState != "running" && t.DesiredState != "complete":
			// an old task on its way out
		case t.State == want:
			n++
		default:
			pending++
		}
	}
	if pending > 0 {
		return false, nil
	}
	if spec.Replicas != nil && (spec.Mode == "replicated" || spec.Mode == "replicated-job") {
		return uint64(n) == *spec.Replicas, nil
	}
	return n > 0, nil
}

// swarmOf returns b's swarm abilities, or an ErrUnsupported error.
func swarmOf(b service.Backend) (service.Swarm, error) {
	sw, ok := b.(service.Swarm)
	if !ok {
		return nil, fmt.Errorf("deploy: %w: this backend cannot talk to a swarm manager (use the Docker engine backend with DOCKER_HOST set to a swarm manager)", service.ErrUnsupported)
	}
	return sw, nil
}

// PlanDeployProject converts model to swarm objects, observes what the
// swarm manager behind b holds of the project and returns the plan of
// berth deploy, with the conversion's warnings.
func PlanDeployProject(ctx context.Context, b service.Backend, model *types.Project, opts DeployOptions) (*Plan, []swarm.Warning, error) {
	sw, err := swarmOf(b)
	if err != nil {
		return nil, nil, err
	}
	stack, warnings, err := swarm.Convert(model, swarm.Options{Locate: opts.Locate, Built: opts.Built})
	if err != nil {
		return nil, nil, err
	}
	observed, err := sw.SwarmState(ctx, stack.Namespace)
	if err != nil {
		return nil, warnings, err
	}
	plan, err := PlanDeploy(stack, observed, opts)
	return plan, warnings, err
}

// PlanDeployRemoveProject observes the project's objects on the swarm
// manager behind b and returns the plan that removes them.
func PlanDeployRemoveProject(ctx context.Context, b service.Backend, namespace string) (*Plan, error) {
	sw, err := swarmOf(b)
	if err != nil {
		return nil, err
	}
	observed, err := sw.SwarmState(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return PlanDeployRemove(observed), nil
}

// DeployedService is a line of berth deploy ps (its JSON keys are those
// of --format json and templates).
type DeployedService struct {
	// Name is the swarm service's name, Service the compose service's.
	Name    string `json:"Name"`
	Service string `json:"Service"`
	// Running and Desired count the tasks that run and that the swarm
	// wants running; Replicas is "running/desired", as docker service ls.
	Running  int    `json:"Running"`
	Desired  int    `json:"Desired"`
	Replicas string `json:"Replicas"`
	// Failing are the latest failed tasks (three at most), as "task on
	// node: error".
	Failing []string `json:"Failing"`
}

// DeployStatus returns the state of the project's services on the swarm
// manager behind b, by name.
func DeployStatus(ctx context.Context, b service.Backend, namespace string) ([]DeployedService, error) {
	sw, err := swarmOf(b)
	if err != nil {
		return nil, err
	}
	observed, err := sw.SwarmState(ctx, namespace)
	if err != nil {
		return nil, err
	}
	var out []DeployedService
	for _, s := range sortedStates(observed.Services) {
		tasks, err := sw.SwarmTasks(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		d := DeployedService{Name: s.Name, Service: strings.TrimPrefix(s.Name, namespace+"_"), Failing: []string{}}
		slices.SortStableFunc(tasks, func(a, b service.SwarmTask) int { return b.Timestamp.Compare(a.Timestamp) })
		for _, t := range tasks {
			if t.DesiredState == "running" {
				d.Desired++
				if t.State == "running" {
					d.Running++
				}
			}
			if failedTask(t) && len(d.Failing) < 3 {
				d.Failing = append(d.Failing, fmt.Sprintf("%s on %s: %s", shortID(t.ID), nodeName(t), t.Error))
			}
		}
		d.Replicas = fmt.Sprintf("%d/%d", d.Running, d.Desired)
		out = append(out, d)
	}
	return out, nil
}
