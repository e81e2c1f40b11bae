package reconcile

import (
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
)

// dependencyOrder lists names dependencies first: each name after those
// deps gives for it (visited in that order), the rest in the order of
// names; deps says false for a name to leave out.
func dependencyOrder(names []string, deps func(string) ([]string, bool)) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		ds, ok := deps(name)
		if !ok {
			return
		}
		seen[name] = true
		for _, d := range ds {
			visit(d)
		}
		out = append(out, name)
	}
	for _, name := range names {
		visit(name)
	}
	return out
}

// Order lists the active services dependencies first, ties by name: the
// order up creates them in (depends_on, and the services whose namespaces
// or volumes one uses).
func Order(p *project.Project) []string {
	names := make([]string, 0, len(p.Services))
	for _, s := range p.Services {
		names = append(names, s.Name)
	}
	return dependencyOrder(names, func(name string) ([]string, bool) {
		s := p.Service(name)
		if s == nil {
			return nil, false
		}
		return append(sortedKeys(s.Config.DependsOn), refParents(s.Config)...), true
	})
}

// ModelOrder lists the model's services as docker compose's config
// --services does: dependencies first by depends_on as the model has it
// (normalization adds those of network_mode, volumes_from and links;
// --no-normalize leaves them out), ties by name.
func ModelOrder(m *types.Project) []string {
	return dependencyOrder(m.ServiceNames(), func(name string) ([]string, bool) {
		s, ok := m.Services[name]
		if !ok {
			return nil, false
		}
		return sortedKeys(s.DependsOn), true
	})
}
