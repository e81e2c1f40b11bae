package supervise

import (
	"context"
	"fmt"
	"sort"

	"github.com/berthdev/berth/service"
)

// ServiceContainers lists the project's service containers (no one-offs)
// of the named services (all when none), by name; with all, the stopped
// ones too.
func ServiceContainers(ctx context.Context, b service.Backend, projectName string, services []string, all bool) ([]service.Container, error) {
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: projectName}, All: all})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", projectName, err)
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []service.Container
	for _, c := range cs {
		if c.Labels[service.LabelOneoff] == service.OneoffTrue {
			continue
		}
		if len(want) > 0 && !want[c.Labels[service.LabelService]] {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
