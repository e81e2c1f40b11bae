// Package listing answers the read-only list commands: the containers ps
// shows, the projects ls shows (aggregated from their containers' labels)
// and the volumes of a project or of some of its services. It only reads;
// how the answers are printed is the command line's business.
package listing

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// Select keeps the containers of the services (all when none) in one of
// the states (any when none), sorted by name; one-offs are kept.
func Select(cs []service.Container, services, states []string) []service.Container {
	want := set(services)
	st := set(states)
	var out []service.Container
	for _, c := range cs {
		if len(want) > 0 && !want[c.Labels[service.LabelService]] {
			continue
		}
		if len(st) > 0 && !st[c.State] {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ContainersOptions select the containers ps lists.
type ContainersOptions struct {
	// Project is the project's name.
	Project string
	// Services restricts the list to these services (none: all).
	Services []string
	// States restricts it to containers in these states (none: any); a
	// state implies All.
	States []string
	// All lists stopped containers and one-offs (run) too, as ps -a.
	All bool
}

// Containers lists the project's containers as docker compose ps does.
func Containers(ctx context.Context, b service.Backend, o ContainersOptions) ([]service.Container, error) {
	all := o.All || len(o.States) > 0
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: o.Project}, All: all})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", o.Project, err)
	}
	if !all {
		// one-off (run) containers only with -a, as docker compose
		cs = slices.DeleteFunc(cs, func(c service.Container) bool { return c.Labels[service.LabelOneoff] == service.OneoffTrue })
	}
	return Select(cs, o.Services, o.States), nil
}

// Project is one project of ls: docker compose's keys.
type Project struct {
	Name        string
	Status      string
	ConfigFiles string
}

// ProjectsOptions select the projects ls lists.
type ProjectsOptions struct {
	// All lists projects whose containers are all stopped too.
	All bool
	// Names keeps the projects whose name one of these matches (none: all).
	Names []*regexp.Regexp
}

// Projects lists the projects that have containers on b, sorted by name,
// each with its containers' states counted ("running(2), exited(1)") and
// the compose files of its first container.
func Projects(ctx context.Context, b service.Backend, o ProjectsOptions) ([]Project, error) {
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: ""}, All: o.All})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	type counted struct {
		Project
		states map[string]int
	}
	byName := map[string]*counted{}
	for _, c := range cs {
		name := c.Labels[service.LabelProject]
		p := byName[name]
		if p == nil {
			p = &counted{Project: Project{Name: name, ConfigFiles: c.Labels[service.LabelConfigFiles]}, states: map[string]int{}}
			byName[name] = p
		}
		p.states[c.State]++
	}
	var list []Project
	for _, p := range byName {
		if len(o.Names) > 0 && !slices.ContainsFunc(o.Names, func(re *regexp.Regexp) bool { return re.MatchString(p.Name) }) {
			continue
		}
		var parts []string
		for _, st := range sortedKeys(p.states) {
			parts = append(parts, fmt.Sprintf("%s(%d)", st, p.states[st]))
		}
		p.Status = strings.Join(parts, ", ")
		list = append(list, p.Project)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

// Volumes lists the volumes of project name, sorted by name; with p and
// services, only those these services mount (a service p does not have
// mounts none).
func Volumes(ctx context.Context, b service.Backend, name string, p *project.Project, services []string) ([]service.Volume, error) {
	vs, err := b.ListVolumes(ctx, service.Filter{Labels: map[string]string{service.LabelProject: name}})
	if err != nil {
		return nil, fmt.Errorf("list volumes of project %s: %w", name, err)
	}
	if len(services) > 0 && p != nil {
		used := usedVolumes(p, services)
		vs = slices.DeleteFunc(vs, func(v service.Volume) bool { return !used[v.Name] })
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return vs, nil
}

// usedVolumes are the names of the project's volumes the services mount.
func usedVolumes(p *project.Project, services []string) map[string]bool {
	used := map[string]bool{}
	for _, name := range services {
		svc := p.Service(name)
		if svc == nil {
			continue
		}
		for _, m := range svc.Config.Volumes {
			if m.Type != types.VolumeTypeVolume || m.Source == "" {
				continue
			}
			for _, v := range p.Volumes {
				if v.Key == m.Source {
					used[v.Name] = true
				}
			}
		}
	}
	return used
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
