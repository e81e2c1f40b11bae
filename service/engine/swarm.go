package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

var (
	_ service.Swarm         = (*Backend)(nil)
	_ service.SwarmRollouts = (*Backend)(nil)
	_ service.SwarmLogger   = (*Backend)(nil)
)

// namespaceFilter selects a stack's objects.
func namespaceFilter(namespace string) client.Filters {
	return client.Filters{}.Add("label", service.StackNamespaceLabel+"="+namespace)
}

// SwarmState lists the stack's services, networks, secrets and configs.
// ErrUnsupported (with the engine's words) when the engine is not a swarm
// manager.
func (b *Backend) SwarmState(ctx context.Context, namespace string) (service.SwarmState, error) {
	var st service.SwarmState
	f := namespaceFilter(namespace)
	svcs, err := b.c.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		return st, wrapf(err, "list services of stack %q", namespace)
	}
	for _, s := range svcs.Items {
		st.Services = append(st.Services, service.SwarmObjectState{ID: s.ID, Name: s.Spec.Name, Version: s.Version.Index, Labels: s.Spec.Labels})
	}
	nets, err := b.c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return st, wrapf(err, "list networks of stack %q", namespace)
	}
	for _, n := range nets.Items {
		if n.Scope == "swarm" {
			st.Networks = append(st.Networks, service.SwarmObjectState{ID: n.ID, Name: n.Name, Labels: n.Labels})
		}
	}
	secrets, err := b.c.SecretList(ctx, client.SecretListOptions{Filters: f})
	if err != nil {
		return st, wrapf(err, "list secrets of stack %q", namespace)
	}
	for _, s := range secrets.Items {
		st.Secrets = append(st.Secrets, service.SwarmObjectState{ID: s.ID, Name: s.Spec.Name, Version: s.Version.Index, Labels: s.Spec.Labels})
	}
	configs, err := b.c.ConfigList(ctx, client.ConfigListOptions{Filters: f})
	if err != nil {
		return st, wrapf(err, "list configs of stack %q", namespace)
	}
	for _, c := range configs.Items {
		st.Configs = append(st.Configs, service.SwarmObjectState{ID: c.ID, Name: c.Spec.Name, Version: c.Version.Index, Labels: c.Spec.Labels})
	}
	return st, nil
}

// CreateSwarmService creates the service. As docker stack deploy (its
// default --resolve-image always), the engine is asked to resolve the
// image's digest in its registry (QueryRegistry): the service then runs
// image@digest on every node; an image no registry knows (built or loaded
// on the node) keeps its tag, with a warning saying so.
func (b *Backend) CreateSwarmService(ctx context.Context, spec service.SwarmService) (string, []string, error) {
	s := serviceSpec(spec)
	if err := b.resolveRefs(ctx, &s); err != nil {
		return "", nil, fmt.Errorf("create service %q: %w", spec.Name, err)
	}
	res, err := b.c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: s, QueryRegistry: true})
	if err != nil {
		return "", nil, wrapf(err, "create service %q", spec.Name)
	}
	return res.ID, digestWarnings(res.Warnings), nil
}

// UpdateSwarmService replaces the service's spec at version, the image
// resolved as CreateSwarmService does.
func (b *Backend) UpdateSwarmService(ctx context.Context, id string, version uint64, spec service.SwarmService) ([]string, error) {
	s := serviceSpec(spec)
	if err := b.resolveRefs(ctx, &s); err != nil {
		return nil, fmt.Errorf("update service %q: %w", spec.Name, err)
	}
	res, err := b.c.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: swarm.Version{Index: version}, Spec: s, QueryRegistry: true})
	if err != nil {
		return nil, wrapf(err, "update service %q", spec.Name)
	}
	return digestWarnings(res.Warnings), nil
}

// digestWarnings puts the engine's warnings (the client's digest warning
// spans several lines) on one line each.
func digestWarnings(in []string) []string {
	var out []string
	for _, w := range in {
		if w = strings.Join(strings.Fields(w), " "); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// resolveRefs sets the IDs of the secrets and configs spec refers to by
// name, as the swarm API wants both.
func (b *Backend) resolveRefs(ctx context.Context, spec *swarm.ServiceSpec) error {
	cs := spec.TaskTemplate.ContainerSpec
	if len(cs.Secrets) > 0 {
		f := client.Filters{}
		for _, r := range cs.Secrets {
			f = f.Add("name", r.SecretName)
		}
		res, err := b.c.SecretList(ctx, client.SecretListOptions{Filters: f})
		if err != nil {
			return wrapf(err, "list secrets")
		}
		for _, r := range cs.Secrets {
			for _, s := range res.Items {
				if s.Spec.Name == r.SecretName {
					r.SecretID = s.ID
				}
			}
			if r.SecretID == "" {
				return fmt.Errorf("secret %q: %w", r.SecretName, service.ErrNotFound)
			}
		}
	}
	if len(cs.Configs) > 0 {
		f := client.Filters{}
		for _, r := range cs.Configs {
			f = f.Add("name", r.ConfigName)
		}
		res, err := b.c.ConfigList(ctx, client.ConfigListOptions{Filters: f})
		if err != nil {
			return wrapf(err, "list configs")
		}
		for _, r := range cs.Configs {
			for _, c := range res.Items {
				if c.Spec.Name == r.ConfigName {
					r.ConfigID = c.ID
				}
			}
			if r.ConfigID == "" {
				return fmt.Errorf("config %q: %w", r.ConfigName, service.ErrNotFound)
			}
		}
	}
	return nil
}

// RemoveSwarmService removes the service.
func (b *Backend) RemoveSwarmService(ctx context.Context, id string) error {
	_, err := b.c.ServiceRemove(ctx, id, client.ServiceRemoveOptions{})
	return wrapf(err, "remove service %q", id)
}

// CreateSwarmNetwork creates a swarm-scoped network.
func (b *Backend) CreateSwarmNetwork(ctx context.Context, spec service.SwarmNetwork) (string, error) {
	opts := client.NetworkCreateOptions{Driver: spec.Driver, Scope: "swarm", Attachable: spec.Attachable, Internal: spec.Internal,
		Options: spec.DriverOpts, Labels: spec.Labels}
	if len(spec.Subnets) > 0 {
		opts.IPAM = &network.IPAM{Driver: "default"}
		for _, s := range spec.Subnets {
			prefix, err := parsePrefix(s)
			if err != nil {
				return "", err
			}
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{Subnet: prefix})
		}
	}
	res, err := b.c.NetworkCreate(ctx, spec.Name, opts)
	if err != nil {
		return "", wrapf(err, "create network %q", spec.Name)
	}
	return res.ID, nil
}

// swarmNetworkBusy bounds how long RemoveSwarmNetwork waits for the tasks
// of removed services to let go of the network.
const swarmNetworkBusy = 60 * time.Second

// RemoveSwarmNetwork removes a network. The tasks of a service just
// removed hold its networks until their containers have stopped (a stop
// grace period): while the manager says the network is in use by a task,
// the removal is tried again, for swarmNetworkBusy at most.
func (b *Backend) RemoveSwarmNetwork(ctx context.Context, id string) error {
	deadline := time.Now().Add(swarmNetworkBusy)
	for {
		err := b.RemoveNetwork(ctx, id)
		if err != nil && !errors.Is(err, service.ErrNotFound) && strings.Contains(err.Error(), "not found") {
			// a manager answers a network removed meanwhile with a 500
			return fmt.Errorf("%w: %w", err, service.ErrNotFound)
		}
		if err == nil || !strings.Contains(err.Error(), "in use by task") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove network %q: %w", id, context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// CreateSwarmSecret creates a secret.
func (b *Backend) CreateSwarmSecret(ctx context.Context, spec service.SwarmObject) (string, error) {
	res, err := b.c.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels}, Data: spec.Data}})
	if err != nil {
		return "", wrapf(err, "create secret %q", spec.Name)
	}
	return res.ID, nil
}

// RemoveSwarmSecret removes a secret.
func (b *Backend) RemoveSwarmSecret(ctx context.Context, id string) error {
	_, err := b.c.SecretRemove(ctx, id, client.SecretRemoveOptions{})
	return wrapf(err, "remove secret %q", id)
}

// CreateSwarmConfig creates a config.
func (b *Backend) CreateSwarmConfig(ctx context.Context, spec service.SwarmObject) (string, error) {
	res, err := b.c.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels}, Data: spec.Data}})
	if err != nil {
		return "", wrapf(err, "create config %q", spec.Name)
	}
	return res.ID, nil
}

// RemoveSwarmConfig removes a config.
func (b *Backend) RemoveSwarmConfig(ctx context.Context, id string) error {
	_, err := b.c.ConfigRemove(ctx, id, client.ConfigRemoveOptions{})
	return wrapf(err, "remove config %q", id)
}

// SwarmTasks lists the tasks of the service id (an ID or a name).
func (b *Backend) SwarmTasks(ctx context.Context, id string) ([]service.SwarmTask, error) {
	svc, err := b.c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return nil, wrapf(err, "inspect service %q", id)
	}
	current, err := json.Marshal(svc.Service.Spec.TaskTemplate.ContainerSpec)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", id, err)
	}
	res, err := b.c.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", svc.Service.ID)})
	if err != nil {
		return nil, wrapf(err, "list tasks of service %q", id)
	}
	hostnames := map[string]string{}
	if nodes, err := b.c.NodeList(ctx, client.NodeListOptions{}); err == nil { // a worker cannot list them: IDs then
		for _, n := range nodes.Items {
			hostnames[n.ID] = n.Description.Hostname
		}
	}
	out := make([]service.SwarmTask, 0, len(res.Items))
	for _, t := range res.Items {
		// a task's spec is a copy of the service's task template when the
		// task was made: an equal container spec means it runs the current
		// one. (The whole task specs differ: the manager fills in the
		// tasks' networks and runtime.) A change of resources or placement
		// alone is not told apart yet.
		spec, err := json.Marshal(t.Spec.ContainerSpec)
		out = append(out, service.SwarmTask{ID: t.ID, ServiceID: t.ServiceID, Slot: t.Slot, NodeID: t.NodeID, Node: hostnames[t.NodeID],
			DesiredState: string(t.DesiredState), State: string(t.Status.State), Error: t.Status.Err,
			Current: err == nil && bytes.Equal(spec, current), Timestamp: t.Status.Timestamp})
	}
	return out, nil
}

// SwarmUpdateStatus returns how the latest update of service id went.
func (b *Backend) SwarmUpdateStatus(ctx context.Context, id string) (service.SwarmUpdateStatus, error) {
	svc, err := b.c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return service.SwarmUpdateStatus{}, wrapf(err, "inspect service %q", id)
	}
	u := svc.Service.UpdateStatus
	if u == nil {
		return service.SwarmUpdateStatus{}, nil
	}
	return service.SwarmUpdateStatus{State: string(u.State), Message: u.Message}, nil
}

// SwarmLogs writes the logs of service id, or of task id, through the
// service logs API (the swarm gathers them from the nodes running the
// tasks; the service's log driver must keep them readable: json-file,
// local or journald).
func (b *Backend) SwarmLogs(ctx context.Context, id string, task bool, opts service.LogOptions, stdout, stderr io.Writer) error {
	what := "service"
	if task {
		what = "task"
	}
	showOut, showErr := opts.Stdout, opts.Stderr
	if !showOut && !showErr {
		showOut, showErr = true, true
	}
	var (
		rc  io.ReadCloser
		tty bool
		err error
	)
	if task {
		var t client.TaskInspectResult
		if t, err = b.c.TaskInspect(ctx, id, client.TaskInspectOptions{}); err == nil && t.Task.Spec.ContainerSpec != nil {
			tty = t.Task.Spec.ContainerSpec.TTY
		}
		if err == nil {
			rc, err = b.c.TaskLogs(ctx, id, client.TaskLogsOptions{ShowStdout: showOut, ShowStderr: showErr, Since: opts.Since,
				Until: opts.Until, Timestamps: opts.Timestamps, Follow: opts.Follow, Tail: opts.Tail})
		}
	} else {
		var svc client.ServiceInspectResult
		if svc, err = b.c.ServiceInspect(ctx, id, client.ServiceInspectOptions{}); err == nil && svc.Service.Spec.TaskTemplate.ContainerSpec != nil {
			tty = svc.Service.Spec.TaskTemplate.ContainerSpec.TTY
		}
		if err == nil {
			rc, err = b.c.ServiceLogs(ctx, id, client.ServiceLogsOptions{ShowStdout: showOut, ShowStderr: showErr, Since: opts.Since,
				Until: opts.Until, Timestamps: opts.Timestamps, Follow: opts.Follow, Tail: opts.Tail})
		}
	}
	if err != nil {
		return wrapf(err, "logs of %s %q", what, id)
	}
	defer rc.Close()
	if err := copyOutput(tty, stdout, stderr, rc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("logs of %s %q: %w", what, id, ctx.Err())
		}
		return fmt.Errorf("logs of %s %q: %w", what, id, err)
	}
	return nil
}

// serviceSpec maps the contract's service spec onto the swarm API's, one
// field to one field.
func serviceSpec(s service.SwarmService) swarm.ServiceSpec {
	c := s.Container
	cs := &swarm.ContainerSpec{
		Image: c.Image, Labels: c.Labels, Command: c.Command, Args: c.Args, Hostname: c.Hostname, Env: c.Env,
		Dir: c.Dir, User: c.User, Init: c.Init, StopSignal: c.StopSignal, TTY: c.TTY, OpenStdin: c.OpenStdin,
		ReadOnly: c.ReadOnly, StopGracePeriod: c.StopGracePeriod, Hosts: c.Hosts, Sysctls: c.Sysctls,
		CapabilityAdd: c.CapAdd, CapabilityDrop: c.CapDrop,
	}
	if len(c.DNS) > 0 || len(c.DNSSearch) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{Search: c.DNSSearch}
		for _, a := range c.DNS {
			if ip, err := parseAddr(a); err == nil {
				cs.DNSConfig.Nameservers = append(cs.DNSConfig.Nameservers, ip)
			}
		}
	}
	if h := c.Healthcheck; h != nil {
		cs.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	for _, u := range c.Ulimits {
		cs.Ulimits = append(cs.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, m := range c.Mounts {
		mm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case "volume":
			mm.VolumeOptions = &mount.VolumeOptions{NoCopy: m.NoCopy, Labels: m.Labels}
			if m.Driver != "" || len(m.DriverOpts) > 0 {
				mm.VolumeOptions.DriverConfig = &mount.Driver{Name: m.Driver, Options: m.DriverOpts}
			}
		case "tmpfs":
			mm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
		}
		cs.Mounts = append(cs.Mounts, mm)
	}
	for _, r := range c.Secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretName: r.Name,
			File: &swarm.SecretReferenceFileTarget{Name: r.Target, UID: r.UID, GID: r.GID, Mode: os.FileMode(r.Mode)}})
	}
	for _, r := range c.Configs {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigName: r.Name,
			File: &swarm.ConfigReferenceFileTarget{Name: r.Target, UID: r.UID, GID: r.GID, Mode: os.FileMode(r.Mode)}})
	}

	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: s.Name, Labels: s.Labels},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: cs},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionMode(s.EndpointMode)},
	}
	if s.LogDriver != nil {
		spec.TaskTemplate.LogDriver = &swarm.Driver{Name: s.LogDriver.Name, Options: s.LogDriver.Options}
	}
	if r := s.Resources; r != nil {
		spec.TaskTemplate.Resources = &swarm.ResourceRequirements{
			Limits:       &swarm.Limit{NanoCPUs: r.Limits.NanoCPUs, MemoryBytes: r.Limits.MemoryBytes, Pids: r.Limits.Pids},
			Reservations: &swarm.Resources{NanoCPUs: r.Reservations.NanoCPUs, MemoryBytes: r.Reservations.MemoryBytes},
		}
	}
	if rp := s.RestartPolicy; rp != nil {
		spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition),
			Delay: rp.Delay, MaxAttempts: rp.MaxAttempts, Window: rp.Window}
	}
	if p := s.Placement; p != nil {
		pl := &swarm.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicas}
		for _, d := range p.Spread {
			pl.Preferences = append(pl.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: d}})
		}
		spec.TaskTemplate.Placement = pl
	}
	for _, a := range s.Networks {
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: a.Network, Aliases: a.Aliases})
	}
	for _, p := range s.Ports {
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, swarm.PortConfig{Protocol: network.IPProtocol(p.Protocol),
			TargetPort: p.Target, PublishedPort: p.Published, PublishMode: swarm.PortConfigPublishMode(p.Mode)})
	}
	switch s.Mode {
	case "global":
		spec.Mode.Global = &swarm.GlobalService{}
	case "global-job":
		spec.Mode.GlobalJob = &swarm.GlobalJob{}
	case "replicated-job":
		spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{TotalCompletions: s.Replicas}
	default:
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: s.Replicas}
	}
	spec.UpdateConfig = updateConfig(s.UpdateConfig)
	spec.RollbackConfig = updateConfig(s.RollbackConfig)
	return spec
}

func updateConfig(u *service.SwarmUpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	return &swarm.UpdateConfig{Parallelism: u.Parallelism, Delay: u.Delay, FailureAction: swarm.FailureAction(u.FailureAction),
		Monitor: u.Monitor, MaxFailureRatio: u.MaxFailureRatio, Order: swarm.UpdateOrder(u.Order)}
}
