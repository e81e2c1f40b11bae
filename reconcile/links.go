package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// Links are the container links docker compose gives container number n
// of svc (n is -1 for a one-off of run, as compose numbers it), in its
// order: for each service svc links to ("db" or "db:alias"), and each
// container of that service containers names, "<container>:<alias>",
// "<container>:db-<n>" and "<container>:<project>-db-<n>"; then each of
// external_links as "name:alias" ("name:name" when it names no alias).
// containers lists a service's containers, one-offs left out.
func Links(p *project.Project, svc *project.Service, n int, containers func(service string) []string) []string {
	var out []string
	num := strconv.Itoa(n)
	for _, raw := range svc.Config.Links {
		target, alias, ok := strings.Cut(raw, ":")
		if !ok {
			alias = target
		}
		for _, c := range containers(target) {
			out = append(out, c+":"+alias, c+":"+target+"-"+num, c+":"+p.Name+"-"+target+"-"+num)
		}
	}
	for _, raw := range svc.Config.ExternalLinks {
		target, alias, ok := strings.Cut(raw, ":")
		if !ok {
			alias = target
		}
		out = append(out, target+":"+alias)
	}
	return out
}

// LiveLinks are the Links of container number n of svc with the
// containers the backend has now (stopped ones too): what run gives its
// one-off container.
func LiveLinks(ctx context.Context, b service.Backend, p *project.Project, svc *project.Service, n int) ([]string, error) {
	if len(svc.Config.Links) == 0 {
		return Links(p, svc, n, nil), nil
	}
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: p.Name}, All: true})
	if err != nil {
		return nil, fmt.Errorf("service %s: links: list the containers of project %s: %w", svc.Name, p.Name, err)
	}
	obs := &Observed{Project: p.Name, Containers: cs}
	return Links(p, svc, n, obs.serviceContainerNames), nil
}

// serviceContainerNames are the names of the containers of a service,
// one-offs left out, by replica number.
func (o *Observed) serviceContainerNames(svc string) []string {
	var out []string
	for _, c := range o.ServiceContainers(svc) {
		out = append(out, c.Name)
	}
	return out
}

// linkedContainers lists, for Links, the containers of svc as the plan
// leaves them: its replicas when the plan acts on it, else those observed
// that the plan does not remove.
func (d *differ) linkedContainers(svc string) []string {
	if outs, ok := d.replicas[svc]; ok && d.inScope(svc) {
		names := make([]string, 0, len(outs))
		for _, r := range outs {
			names = append(names, r.name)
		}
		return names
	}
	var names []string
	for _, name := range d.obs.serviceContainerNames(svc) {
		if _, removed := d.gone[name]; !removed {
			names = append(names, name)
		}
	}
	return names
}
