package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// preStart plans the service's pre_start hooks as docker compose v5 runs
// them: once per service, only when none of its replicas runs (a first up,
// a recreate), each in a container of its own (the hook's image, else the
// service's; the service's environment plus the hook's; the volumes of the
// lowest replica; the service's networks), one after the other, after the
// service's dependencies and before any replica starts. A hook that exits
// non-zero stops the up there. It returns the hook steps, in order.
func (d *differ) preStart(svc *project.Service, needs []*Step) []*Step {
	if len(svc.Config.PreStart) == 0 {
		return nil
	}
	replicas := d.replicas[svc.Name]
	if len(replicas) == 0 {
		return nil
	}
	for _, r := range replicas {
		if r.running || !d.toStart(r) {
			return nil // a replica runs (or stays): compose runs no hook
		}
	}
	first := replicas[0]
	spec, _, err := ContainerSpec(d.p, svc, 1)
	if err != nil {
		return nil // the create steps report it
	}
	var steps []*Step
	prev := append([]*Step{first.ready}, needs...)
	prev = append(prev, first.cleaned...)
	for i, h := range svc.Config.PreStart {
		image := h.Image
		if image == "" {
			image = svc.Image
		}
		hs := service.ContainerSpec{
			Image:      image,
			Command:    h.Command,
			User:       h.User,
			WorkingDir: h.WorkingDir,
			Privileged: h.Privileged,
			Env:        append(append([]string{}, spec.Env...), envList(h.Environment)...),
			Labels: map[string]string{
				service.LabelProject: d.p.Name,
				service.LabelService: svc.Name,
				service.LabelVersion: project.Version,
				service.LabelOneoff:  service.OneoffTrue,
			},
			VolumesFrom: []string{first.name},
			NetworkMode: spec.NetworkMode,
			Networks:    spec.Networks,
			ExtraHosts:  spec.ExtraHosts,
			DNS:         spec.DNS,
		}
		name := fmt.Sprintf("%s pre_start[%d]", svc.Name, i)
		st := d.plan.add(&Step{Op: OpRunHook, Object: name, Target: name, Service: svc.Name, Container: &hs, Hook: i}, prev...)
		steps = append(steps, st)
		prev = []*Step{st}
	}
	return steps
}

// preStartSupported refuses, before anything is planned, a pre_start hook
// of a service in scope with per_replica: true, in docker compose v5.5.0's
// words (it does not support it either).
func (d *differ) preStartSupported() error {
	for _, svc := range d.p.Services {
		if !d.inScope(svc.Name) {
			continue
		}
		for i, h := range svc.Config.PreStart {
			if h.PerReplica {
				return fmt.Errorf("service %q pre_start[%d]: per_replica is not yet supported; remove per_replica or set it to false", svc.Name, i)
			}
		}
	}
	return nil
}

// envList renders a hook's environment as KEY=VALUE (a key without value
// is left out).
func envList(env map[string]*string) []string {
	var out []string
	for _, k := range sortedKeys(env) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

// maxHookOutput bounds what a failing hook's error quotes of its output.
const maxHookOutput = 4096

// runHookContainer applies a run-hook step: creates the hook's container,
// starts it with its output captured, waits for its exit and removes it.
// A non-zero exit is an error in docker compose's words, with the output's
// end.
func runHookContainer(ctx context.Context, b service.Backend, s *Step) error {
	w, ok := b.(service.Waiter)
	if !ok {
		return fmt.Errorf("%s: the backend cannot wait for containers: %w", s.Object, service.ErrUnsupported)
	}
	spec := *s.Container
	spec.AttachStdout, spec.AttachStderr = true, true
	id, err := b.CreateContainer(ctx, spec)
	if err != nil {
		return fmt.Errorf("service %q pre_start[%d]: %w", s.Service, s.Hook, err)
	}
	defer func() {
		_ = b.RemoveContainer(context.WithoutCancel(ctx), id, service.RemoveOptions{Force: true})
	}()
	var out bytes.Buffer
	lw := &lockedWriter{w: &out}
	var waitOut func() error
	if a, ok := b.(service.Attacher); ok {
		if waitOut, err = a.Attach(ctx, id, nil, lw, lw); err != nil {
			waitOut = nil
		}
	}
	if err := b.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("service %q pre_start[%d]: %w", s.Service, s.Hook, err)
	}
	code, err := w.WaitContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("service %q pre_start[%d]: %w", s.Service, s.Hook, err)
	}
	if waitOut != nil {
		_ = waitOut()
	}
	if code != 0 {
		msg := fmt.Sprintf("service %q pre_start[%d] exited with code %d", s.Service, s.Hook, code)
		if o := strings.TrimSpace(lw.String()); o != "" {
			if len(o) > maxHookOutput {
				o = "…" + o[len(o)-maxHookOutput:]
			}
			msg += ":\n" + o
		}
		return errors.New(msg)
	}
	return nil
}
