package reconcile

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// DownOptions steer Down as down's flags steer docker compose.
type DownOptions struct {
	// Services limits down to these services (and the services that depend
	// on them); empty means the whole project.
	Services []string
	// RemoveOrphans also removes containers of services the files no longer
	// have, and one-off containers.
	RemoveOrphans bool
	// Volumes removes the project's named volumes and the containers'
	// anonymous volumes.
	Volumes bool
	// Images are removed once the containers are (down --rmi; see
	// DownImages). One still in use is left with a warning.
	Images []string
}

// Down plans the removal of a project: containers stopped in reverse
// dependency order (dependents first) and removed, then the networks (and,
// with Volumes, the volumes; with Images, those images). p may be nil when no compose file is at hand:
// the project is then what carries its label. Objects already gone are
// simply not in the plan; networks still used by others are left with a
// warning when the plan is applied.
func Down(p *project.Project, obs *Observed, opts DownOptions) *Plan {
	plan := &Plan{}
	selected := map[string]bool{}
	for _, s := range opts.Services {
		selected[s] = true
	}
	known := map[string]bool{}
	dependents := dependentsOf(p, obs.Containers)
	if p != nil {
		for _, s := range p.Services {
			known[s.Name] = true
		}
		for _, s := range p.DisabledServices {
			known[s] = true
		}
	} else {
		for _, c := range obs.Containers {
			known[c.Labels[service.LabelService]] = true
		}
	}

	byService := map[string][]service.Container{}
	for _, c := range obs.Containers {
		svc := c.Labels[service.LabelService]
		orphan := !known[svc] || isOneoff(c)
		if orphan && !opts.RemoveOrphans {
			continue
		}
		if len(selected) > 0 && !selected[svc] {
			continue
		}
		byService[svc] = append(byService[svc], c)
	}

	names, stops := stopInOrder(plan, byService, dependents, preStop(p))
	var removed []*Step
	for _, n := range names {
		for _, c := range byService[n] {
			var stop *Step
			for _, s := range stops[n] {
				if s.Object == c.Name {
					stop = s
				}
			}
			removed = append(removed, plan.add(&Step{Op: OpRemoveContainer, Object: c.Name, Target: c.ID, Service: n, RemoveVolumes: opts.Volumes}, stop))
		}
	}
	for _, img := range opts.Images {
		plan.add(&Step{Op: OpRemoveImage, Object: img, Target: img, Optional: true}, removed...)
	}
	if p != nil {
		// provider services release what they made once their dependents'
		// containers are gone (docker compose's down lifecycle)
		plan.merge(Providers(p, opts.Services, "down"), removed...)
	}
	if len(selected) > 0 {
		return plan
	}

	// networks and volumes: the declared ones with a file, else all
	// labelled; every network of a name the project has, duplicates
	// included, by ID
	var nets []service.Network
	var vols []string
	addNets := func(name string) {
		if got, ok := obs.Networks[name]; ok && got.Labels[service.LabelProject] == obs.Project {
			nets = append(nets, got)
			nets = append(nets, obs.NetworkDuplicates[name]...)
		}
	}
	if p != nil {
		for _, n := range p.Networks {
			if !n.External {
				addNets(n.Name)
			}
		}
		for _, v := range p.Volumes {
			if !v.External {
				if got, ok := obs.Volumes[v.Name]; ok && got.Labels[service.LabelProject] == obs.Project {
					vols = append(vols, v.Name)
				}
			}
		}
	} else {
		for name := range obs.Networks {
			addNets(name)
		}
		for name := range obs.Volumes {
			vols = append(vols, name)
		}
	}
	sort.SliceStable(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	sort.Strings(vols)
	for _, n := range nets {
		s := &Step{Op: OpRemoveNetwork, Object: n.Name, Target: cmp.Or(n.ID, n.Name), Optional: true}
		if n.ID != obs.Networks[n.Name].ID {
			s.Cause = fmt.Sprintf("duplicate %s", shortID(n.ID))
		}
		plan.add(s, removed...)
	}
	if opts.Volumes {
		for _, v := range vols {
			plan.add(&Step{Op: OpRemoveVolume, Object: v, Target: v, Optional: true}, removed...)
		}
	}
	return plan
}

// stopInOrder adds stop steps for the running containers of byService, a
// service's stops after those of the services that depend on it. It returns
// the services, sorted, and their stop steps.
func stopInOrder(plan *Plan, byService map[string][]service.Container, dependents map[string][]string, hooks map[string][]service.ExecSpec) ([]string, map[string][]*Step) {
	var names []string
	for n := range byService {
		names = append(names, n)
	}
	sort.Strings(names)
	stops := map[string][]*Step{}
	var visit func(string, map[string]bool)
	visit = func(svc string, onPath map[string]bool) {
		if _, done := stops[svc]; done || onPath[svc] {
			return
		}
		onPath[svc] = true
		var after []*Step
		deps := append([]string{}, dependents[svc]...)
		sort.Strings(deps)
		for _, d := range deps {
			visit(d, onPath)
			after = append(after, stops[d]...)
		}
		list := []*Step{}
		for _, c := range byService[svc] {
			if c.State == service.StateRunning || c.State == service.StateRestarting || c.State == service.StatePaused {
				step := plan.add(&Step{Op: OpStopContainer, Object: c.Name, Target: c.ID, Service: svc}, after...)
				if c.State == service.StateRunning {
					step.Hooks = hooks[svc]
				}
				list = append(list, step)
			}
		}
		if len(list) == 0 {
			list = after
		}
		stops[svc] = list
	}
	for _, n := range names {
		visit(n, map[string]bool{})
	}
	return names, stops
}

// dependentsOf maps each service to the services that depend on it: from
// the files, or without them (p nil), from the containers' depends_on
// label ("db:service_healthy:true,..."), as docker compose orders a
// project it only knows by its containers.
func dependentsOf(p *project.Project, cs []service.Container) map[string][]string {
	out := map[string][]string{}
	if p == nil {
		seen := map[string]bool{}
		for _, c := range cs {
			svc := c.Labels[service.LabelService]
			if seen[svc] || isOneoff(c) {
				continue
			}
			seen[svc] = true
			for _, d := range strings.Split(c.Labels[service.LabelDependsOn], ",") {
				if dep, _, _ := strings.Cut(d, ":"); dep != "" {
					out[dep] = append(out[dep], svc)
				}
			}
		}
		return out
	}
	for _, s := range p.Services {
		for dep := range s.Config.DependsOn {
			out[dep] = append(out[dep], s.Name)
		}
	}
	return out
}

// Stop plans stopping the running service containers of the named services
// (when none: those of p's services, or every service's when p is nil),
// dependents first. p may be nil (order is then by name).
func Stop(p *project.Project, obs *Observed, services []string) *Plan {
	plan := &Plan{}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	if len(want) == 0 && p != nil {
		// As docker compose: the services of the files loaded (active
		// profiles), not every container of the project.
		for _, s := range p.Services {
			want[s.Name] = true
		}
	}
	byService := map[string][]service.Container{}
	for _, c := range obs.Containers {
		svc := c.Labels[service.LabelService]
		if isOneoff(c) || (len(want) > 0 && !want[svc]) {
			continue
		}
		byService[svc] = append(byService[svc], c)
	}
	_, stops := stopInOrder(plan, byService, dependentsOf(p, obs.Containers), preStop(p))
	if p != nil {
		// provider services that declare stop, after their dependents
		var after []*Step
		for _, n := range sortedKeys(stops) {
			after = append(after, stops[n]...)
		}
		plan.merge(Providers(p, services, "stop"), after...)
	}
	return plan
}

// preStop maps services to their pre_stop hooks.
func preStop(p *project.Project) map[string][]service.ExecSpec {
	out := map[string][]service.ExecSpec{}
	if p == nil {
		return out
	}
	for _, s := range p.Services {
		if len(s.Config.PreStop) > 0 {
			out[s.Name] = Hooks(s.Config.PreStop)
		}
	}
	return out
}
