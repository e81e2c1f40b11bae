package reconcile

import (
	"slices"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// Restart plans restarting the running containers of the services (all
// when none), as docker compose's restart does: each one stopped (its
// pre_stop hooks first, dependents before what they depend on) and then
// started in dependency order, each start after the depends_on conditions
// of its service hold (healthy, completed), its post_start hooks after it.
// Configuration changes are not applied (that is up's job). The caller
// adds the dependents with restart: true to services (docker compose's
// default). p may be nil: the containers are then stopped and started
// back, without waits or hooks.
func Restart(p *project.Project, obs *Observed, services []string) (*Plan, error) {
	plan := Stop(p, obs, services)
	if p == nil {
		stopped := slices.Clone(plan.Steps)
		for _, s := range stopped {
			plan.add(&Step{Op: OpStartContainer, Object: s.Object, Target: s.Target, Service: s.Service}, s)
		}
		return plan, nil
	}
	// The start phase sees the containers as the stops leave them.
	after := *obs
	after.Containers = slices.Clone(obs.Containers)
	restarted := map[string]bool{}
	for _, s := range plan.Steps {
		restarted[s.Target] = true
	}
	for i, c := range after.Containers {
		if restarted[c.ID] {
			after.Containers[i].State, after.Containers[i].Health = service.StateExited, ""
		}
	}
	names := services
	if len(names) == 0 {
		for _, s := range p.Services {
			names = append(names, s.Name)
		}
	}
	start, err := Diff(p, &after, Options{Services: names, StartOnly: true, NoDeps: true})
	if err != nil {
		return nil, err
	}
	stops := slices.Clone(plan.Steps)
	moved := map[*Step]*Step{}
	for _, s := range start.Steps {
		deps := stops // the first steps of the start phase follow every stop
		if len(s.Deps) > 0 {
			deps = nil
			for _, d := range s.Deps {
				deps = append(deps, moved[d])
			}
		}
		c := *s
		c.Deps = nil
		moved[s] = plan.add(&c, deps...)
	}
	return plan, nil
}

// Signal plans one independent step per container of cs: op is
// OpKillContainer (with signal), OpPauseContainer or OpUnpauseContainer.
// The caller picks the containers (kill, pause and unpause act on what
// runs, whatever the files say).
func Signal(cs []service.Container, op Op, signal string) *Plan {
	plan := &Plan{}
	for _, c := range cs {
		s := &Step{Op: op, Object: c.Name, Target: c.ID, Service: c.Labels[service.LabelService]}
		if op == OpKillContainer {
			s.Signal = signal
		}
		plan.add(s)
	}
	return plan
}

// Remove plans removing the containers cs (rm), with their anonymous
// volumes when volumes is set; each step independent.
func Remove(cs []service.Container, volumes bool) *Plan {
	plan := &Plan{}
	for _, c := range cs {
		plan.add(&Step{Op: OpRemoveContainer, Object: c.Name, Target: c.ID, Service: c.Labels[service.LabelService], RemoveVolumes: volumes})
	}
	return plan
}

// RemoveImages plans removing the images refs (image rm), each step
// independent.
func RemoveImages(refs []string) *Plan {
	plan := &Plan{}
	for _, ref := range refs {
		plan.add(&Step{Op: OpRemoveImage, Object: ref, Target: ref})
	}
	return plan
}
