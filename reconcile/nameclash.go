package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// NameClashError is a container_name that a container of another project
// (or one no compose project owns) already uses: creating the service's
// container would fail halfway through the plan.
type NameClashError struct {
	// Project and Service are the ones whose container_name it is.
	Project, Service string
	// Name is the container name.
	Name string
	// Owner is the project of the container holding the name ("" when it
	// carries no project label), OwnerID its ID.
	Owner, OwnerID string
}

func (e *NameClashError) Error() string {
	owner := "a container that belongs to no compose project"
	fix := "remove or rename it"
	if e.Owner != "" {
		owner = fmt.Sprintf("a container of project %q", e.Owner)
		fix = fmt.Sprintf("take that project down (berth -p %s down) or change container_name", e.Owner)
	}
	return fmt.Sprintf("service %q of project %q: container_name %q is already used by %s (%.12s): %s; nothing was created",
		e.Service, e.Project, e.Name, owner, e.OwnerID, fix)
}

// CheckNameClashes looks, before plan is applied, for a container that
// holds a container_name the plan would give one of p's containers (by
// creating or renaming it) and that is not p's own: it returns a
// NameClashError for each (joined), naming both projects.
func CheckNameClashes(ctx context.Context, b service.Backend, p *project.Project, plan *Plan) error {
	fixed := map[string]string{} // container_name → service
	for _, s := range p.Services {
		if s.Config.ContainerName != "" {
			fixed[s.Config.ContainerName] = s.Name
		}
	}
	if len(fixed) == 0 {
		return nil
	}
	checked := map[string]bool{}
	var errs []error
	for _, st := range plan.Steps {
		name := ""
		switch st.Op {
		case OpCreateContainer:
			if st.Container != nil {
				name = st.Container.Name
			}
		case OpRenameContainer:
			name = st.NewName
		}
		svc, ok := fixed[name]
		if !ok || checked[name] {
			continue
		}
		checked[name] = true
		c, err := b.InspectContainer(ctx, name)
		if errors.Is(err, service.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("service %s: look for a container named %q: %w", svc, name, err)
		}
		// the engine also matches an ID prefix: only the name counts
		if strings.TrimPrefix(c.Name, "/") != name || c.Labels[service.LabelProject] == p.Name {
			continue
		}
		errs = append(errs, &NameClashError{Project: p.Name, Service: svc, Name: name, Owner: c.Labels[service.LabelProject], OwnerID: c.ID})
	}
	return errors.Join(errs...)
}
