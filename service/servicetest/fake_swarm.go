package servicetest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
)

// SwarmFake is a Fake that is also a one-node swarm manager
// (service.Swarm): services, networks, secrets and configs kept in memory,
// each service with one task per replica (one for global modes) that runs
// at once, at the service's current spec. Its calls are recorded by the
// Fake it wraps (ops "CreateSwarmService"..., reads "ListSwarmState" and
// "ListSwarmTasks"), and its faults are the Fake's (Fail).
type SwarmFake struct {
	*Fake
	objects map[string]*swarmObject // by ID; guarded by Fake.mu
	// rollbacks arms RollBackNextUpdate, by service name; logs are the
	// lines SwarmLogs writes, by task ID or service name.
	rollbacks map[string]fakeRollback
	logs      map[string][]string
	// unresolved are the images whose digest no registry gives.
	unresolved map[string]bool
}

type swarmObject struct {
	kind    string // service, network, secret, config
	state   service.SwarmObjectState
	service *service.SwarmService
	// update is the status of the service's latest update; failed are its
	// tasks that failed, kept as a swarm keeps task history.
	update service.SwarmUpdateStatus
	failed []service.SwarmTask
}

// fakeRollback is a failure RollBackNextUpdate arms.
type fakeRollback struct {
	taskErr string
	logs    []string
}

var (
	_ service.Swarm         = (*SwarmFake)(nil)
	_ service.SwarmRollouts = (*SwarmFake)(nil)
	_ service.SwarmLogger   = (*SwarmFake)(nil)
)

// NewSwarmFake returns f as a swarm manager with nothing deployed.
func NewSwarmFake(f *Fake) *SwarmFake {
	return &SwarmFake{Fake: f, objects: map[string]*swarmObject{}, rollbacks: map[string]fakeRollback{}, logs: map[string][]string{},
		unresolved: map[string]bool{}}
}

// RollBackNextUpdate makes the next UpdateSwarmService of the service
// named name fail as a swarm with update_config.failure_action: rollback
// does: the new task fails with taskErr after writing logs, the service
// goes back to its previous spec (its version moves on) and its update
// status is rollback_completed.
func (s *SwarmFake) RollBackNextUpdate(name, taskErr string, logs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollbacks[name] = fakeRollback{taskErr: taskErr, logs: logs}
}

// SetSwarmUpdateStatus sets the update status of the service named name
// (an update under way, paused...).
func (s *SwarmFake) SetSwarmUpdateStatus(name string, u service.SwarmUpdateStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.findLocked("service", name); o != nil {
		o.update = u
	}
}

// SetSwarmLogs sets the lines SwarmLogs writes for a service (by name) or
// a task (by ID).
func (s *SwarmFake) SetSwarmLogs(id string, lines ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs[id] = lines
}

// SwarmUpdateStatus returns the status of the service's latest update.
func (s *SwarmFake) SwarmUpdateStatus(ctx context.Context, id string) (service.SwarmUpdateStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enterLocked(ctx, "InspectSwarmService", Call{Object: id}); err != nil {
		return service.SwarmUpdateStatus{}, err
	}
	o := s.findLocked("service", id)
	if o == nil {
		return service.SwarmUpdateStatus{}, notFound("service", id)
	}
	return o.update, nil
}

// SwarmLogs writes the lines set for the service or task id (SetSwarmLogs
// or RollBackNextUpdate) to stdout, honouring a numeric Tail.
func (s *SwarmFake) SwarmLogs(ctx context.Context, id string, task bool, opts service.LogOptions, stdout, stderr io.Writer) error {
	s.mu.Lock()
	if err := s.enterLocked(ctx, "SwarmLogs", Call{Object: id}); err != nil {
		s.mu.Unlock()
		return err
	}
	lines, ok := s.logs[id]
	if !ok && !task {
		if o := s.findLocked("service", id); o != nil {
			lines, ok = s.logs[o.state.Name], true
		}
	}
	s.mu.Unlock()
	if !ok {
		return notFound(map[bool]string{true: "task", false: "service"}[task], id)
	}
	if n, err := strconv.Atoi(opts.Tail); err == nil && n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(stdout, l); err != nil {
			return err
		}
	}
	return nil
}

// SwarmState returns the objects labelled with namespace.
func (s *SwarmFake) SwarmState(ctx context.Context, namespace string) (service.SwarmState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st service.SwarmState
	if err := s.enterLocked(ctx, "ListSwarmState", Call{Object: namespace}); err != nil {
		return st, err
	}
	for _, id := range slices.Sorted(maps.Keys(s.objects)) {
		o := s.objects[id]
		if o.state.Labels[service.StackNamespaceLabel] != namespace {
			continue
		}
		c := o.state
		c.Labels = maps.Clone(c.Labels)
		switch o.kind {
		case "service":
			st.Services = append(st.Services, c)
		case "network":
			st.Networks = append(st.Networks, c)
		case "secret":
			st.Secrets = append(st.Secrets, c)
		case "config":
			st.Configs = append(st.Configs, c)
		}
	}
	return st, nil
}

func (s *SwarmFake) createLocked(ctx context.Context, op, kind, name string, labels map[string]string) (*swarmObject, error) {
	if err := s.enterLocked(ctx, op, Call{Object: name}); err != nil {
		return nil, err
	}
	for _, o := range s.objects {
		if o.kind == kind && o.state.Name == name {
			return nil, conflict(kind, name, "name already taken")
		}
	}
	s.seq++
	o := &swarmObject{kind: kind, state: service.SwarmObjectState{ID: fmt.Sprintf("%s%d", kind[:3], s.seq), Name: name, Version: s.seq, Labels: maps.Clone(labels)}}
	s.objects[o.state.ID] = o
	return o, nil
}

func (s *SwarmFake) findLocked(kind, id string) *swarmObject {
	if o := s.objects[id]; o != nil && o.kind == kind {
		return o
	}
	for _, o := range s.objects {
		if o.kind == kind && o.state.Name == id {
			return o
		}
	}
	return nil
}

func (s *SwarmFake) removeLocked(ctx context.Context, op, kind, id string) error {
	if err := s.enterLocked(ctx, op, Call{Object: id}); err != nil {
		return err
	}
	o := s.findLocked(kind, id)
	if o == nil {
		return notFound(kind, id)
	}
	if kind != "service" {
		for _, svc := range s.objects {
			if svc.kind == "service" && usesLocked(svc.service, o) {
				return conflict(kind, id, "in use by service "+svc.state.Name)
			}
		}
	}
	delete(s.objects, o.state.ID)
	return nil
}

// usesLocked says whether spec refers to o.
func usesLocked(spec *service.SwarmService, o *swarmObject) bool {
	for _, a := range spec.Networks {
		if o.kind == "network" && a.Network == o.state.Name {
			return true
		}
	}
	for _, r := range spec.Container.Secrets {
		if o.kind == "secret" && r.Name == o.state.Name {
			return true
		}
	}
	for _, r := range spec.Container.Configs {
		if o.kind == "config" && r.Name == o.state.Name {
			return true
		}
	}
	return false
}

// CreateSwarmService creates a service; every secret, config and network
// it names must exist.
func (s *SwarmFake) CreateSwarmService(ctx context.Context, spec service.SwarmService) (string, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refsLocked(spec); err != nil {
		return "", nil, err
	}
	o, err := s.createLocked(ctx, "CreateSwarmService", "service", spec.Name, spec.Labels)
	if err != nil {
		return "", nil, err
	}
	o.service = &spec
	return o.state.ID, s.digestWarningLocked(spec), nil
}

// SetUnresolvedImage makes the fake's registry unable to give image's
// digest: the services of image are created and updated with a warning,
// as an engine does for an image no registry knows.
func (s *SwarmFake) SetUnresolvedImage(image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unresolved[image] = true
}

func (s *SwarmFake) digestWarningLocked(spec service.SwarmService) []string {
	if !s.unresolved[spec.Container.Image] {
		return nil
	}
	return []string{"image " + spec.Container.Image + " could not be accessed on a registry to record its digest"}
}

func (s *SwarmFake) refsLocked(spec service.SwarmService) error {
	var missing []string
	for _, a := range spec.Networks {
		if s.findLocked("network", a.Network) == nil {
			missing = append(missing, "network "+a.Network)
		}
	}
	for _, r := range spec.Container.Secrets {
		if s.findLocked("secret", r.Name) == nil {
			missing = append(missing, "secret "+r.Name)
		}
	}
	for _, r := range spec.Container.Configs {
		if s.findLocked("config", r.Name) == nil {
			missing = append(missing, "config "+r.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("service %q: %w: %s", spec.Name, service.ErrNotFound, strings.Join(missing, ", "))
	}
	return nil
}

// UpdateSwarmService replaces a service's spec; ErrConflict when version is
// not the service's.
func (s *SwarmFake) UpdateSwarmService(ctx context.Context, id string, version uint64, spec service.SwarmService) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enterLocked(ctx, "UpdateSwarmService", Call{Object: spec.Name}); err != nil {
		return nil, err
	}
	o := s.findLocked("service", id)
	if o == nil {
		return nil, notFound("service", id)
	}
	if o.state.Version != version {
		return nil, conflict("service", id, fmt.Sprintf("update out of sequence: version %d, not %d", o.state.Version, version))
	}
	if err := s.refsLocked(spec); err != nil {
		return nil, err
	}
	s.seq++
	if rb, ok := s.rollbacks[spec.Name]; ok {
		delete(s.rollbacks, spec.Name)
		t := service.SwarmTask{ID: fmt.Sprintf("%s.1.failed%d", o.state.ID, s.seq), ServiceID: o.state.ID, Slot: 1, NodeID: "fake-node",
			DesiredState: "shutdown", State: "failed", Error: rb.taskErr, Timestamp: time.Unix(int64(s.seq), 0)}
		o.failed = append(o.failed, t)
		s.logs[t.ID] = rb.logs
		o.state.Version = s.seq
		o.update = service.SwarmUpdateStatus{State: "rollback_completed", Message: "update rolled back due to failure or early termination of task " + t.ID}
		return s.digestWarningLocked(spec), nil
	}
	o.state.Version, o.state.Labels, o.service = s.seq, maps.Clone(spec.Labels), &spec
	o.update = service.SwarmUpdateStatus{State: "completed", Message: "update completed"}
	return s.digestWarningLocked(spec), nil
}

// RemoveSwarmService removes a service.
func (s *SwarmFake) RemoveSwarmService(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx, "RemoveSwarmService", "service", id)
}

// CreateSwarmNetwork creates a network.
func (s *SwarmFake) CreateSwarmNetwork(ctx context.Context, spec service.SwarmNetwork) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.createLocked(ctx, "CreateSwarmNetwork", "network", spec.Name, spec.Labels)
	if err != nil {
		return "", err
	}
	return o.state.ID, nil
}

// RemoveSwarmNetwork removes a network no service uses.
func (s *SwarmFake) RemoveSwarmNetwork(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx, "RemoveSwarmNetwork", "network", id)
}

// CreateSwarmSecret creates a secret.
func (s *SwarmFake) CreateSwarmSecret(ctx context.Context, spec service.SwarmObject) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.createLocked(ctx, "CreateSwarmSecret", "secret", spec.Name, spec.Labels)
	if err != nil {
		return "", err
	}
	return o.state.ID, nil
}

// RemoveSwarmSecret removes a secret no service uses.
func (s *SwarmFake) RemoveSwarmSecret(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx, "RemoveSwarmSecret", "secret", id)
}

// CreateSwarmConfig creates a config.
func (s *SwarmFake) CreateSwarmConfig(ctx context.Context, spec service.SwarmObject) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.createLocked(ctx, "CreateSwarmConfig", "config", spec.Name, spec.Labels)
	if err != nil {
		return "", err
	}
	return o.state.ID, nil
}

// RemoveSwarmConfig removes a config no service uses.
func (s *SwarmFake) RemoveSwarmConfig(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx, "RemoveSwarmConfig", "config", id)
}

// SwarmTasks returns one running task of the current spec per replica (one
// for global modes; completed ones for jobs), and the tasks that failed.
func (s *SwarmFake) SwarmTasks(ctx context.Context, id string) ([]service.SwarmTask, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enterLocked(ctx, "ListSwarmTasks", Call{Object: id}); err != nil {
		return nil, err
	}
	o := s.findLocked("service", id)
	if o == nil {
		return nil, notFound("service", id)
	}
	n := uint64(1)
	if o.service.Replicas != nil {
		n = *o.service.Replicas
	}
	desired, state := "running", "running"
	if strings.HasSuffix(o.service.Mode, "-job") {
		desired, state = "complete", "complete"
	}
	tasks := make([]service.SwarmTask, 0, n)
	for i := range n {
		tasks = append(tasks, service.SwarmTask{ID: fmt.Sprintf("%s.%d.v%d", o.state.ID, i+1, o.state.Version), ServiceID: o.state.ID,
			Slot: int(i + 1), NodeID: "fake-node", DesiredState: desired, State: state, Current: true})
	}
	return append(tasks, o.failed...), nil
}
