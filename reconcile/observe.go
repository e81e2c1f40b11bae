package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// Observed is what is live for one project: the containers (one-offs
// included, stopped ones too), networks and volumes that carry its label,
// plus the declared networks and volumes found by name without it.
type Observed struct {
	// Project is the project name observed.
	Project string
	// Containers carry the project label.
	Containers []service.Container
	// Networks by name. When several labelled networks have one name (see
	// NetworkDuplicates), this is the one to keep.
	Networks map[string]service.Network
	// NetworkDuplicates are, by name, the other networks of the project
	// that have the name of one in Networks (made by creates that raced, on
	// engines before API 1.44), each inspected (Containers filled in), the
	// oldest first. A name with one network has no entry.
	NetworkDuplicates map[string][]service.Network
	// Volumes by name.
	Volumes map[string]service.Volume
}

// Observe lists what is live for the project: one list per kind, by label,
// then an inspect by name for each declared network or volume (external
// ones included) the lists did not return. p may be nil, for commands that
// work from labels alone.
func Observe(ctx context.Context, b service.Backend, name string, p *project.Project) (*Observed, error) {
	o := &Observed{Project: name, Networks: map[string]service.Network{}, Volumes: map[string]service.Volume{}}
	f := service.Filter{Labels: map[string]string{service.LabelProject: name}, All: true}
	var nets []service.Network
	var vols []service.Volume
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		o.Containers, err = b.ListContainers(gctx, f)
		return wrapErr(err, "list containers of project %q", name)
	})
	g.Go(func() (err error) {
		nets, err = b.ListNetworks(gctx, f)
		return wrapErr(err, "list networks of project %q", name)
	})
	g.Go(func() (err error) {
		vols, err = b.ListVolumes(gctx, f)
		return wrapErr(err, "list volumes of project %q", name)
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := o.setNetworks(ctx, b, nets); err != nil {
		return nil, err
	}
	for _, v := range vols {
		o.Volumes[v.Name] = v
	}
	sort.Slice(o.Containers, func(i, j int) bool { return o.Containers[i].Name < o.Containers[j].Name })
	if p == nil {
		return o, nil
	}

	g, gctx = errgroup.WithContext(ctx)
	var mu sync.Mutex
	for _, n := range p.Networks {
		if _, ok := o.Networks[n.Name]; ok {
			continue
		}
		g.Go(func() error {
			got, err := b.InspectNetwork(gctx, n.Name)
			if errors.Is(err, service.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect network %q: %w", n.Name, err)
			}
			mu.Lock()
			o.Networks[n.Name] = got
			mu.Unlock()
			return nil
		})
	}
	for _, v := range p.Volumes {
		if _, ok := o.Volumes[v.Name]; ok {
			continue
		}
		g.Go(func() error {
			got, err := b.InspectVolume(gctx, v.Name)
			if errors.Is(err, service.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect volume %q: %w", v.Name, err)
			}
			mu.Lock()
			o.Volumes[v.Name] = got
			mu.Unlock()
			return nil
		})
	}
	return o, g.Wait()
}

// setNetworks indexes the project's networks by name. Where several have
// one name, each is inspected and the one to keep is chosen (KeepNetwork);
// the others go to NetworkDuplicates.
func (o *Observed) setNetworks(ctx context.Context, b service.Backend, nets []service.Network) error {
	byName := map[string][]service.Network{}
	for _, n := range nets {
		byName[n.Name] = append(byName[n.Name], n)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultParallel)
	for _, same := range byName {
		if len(same) < 2 {
			continue
		}
		for i, n := range same {
			g.Go(func() error {
				got, err := b.InspectNetwork(gctx, n.ID)
				if errors.Is(err, service.ErrNotFound) {
					same[i].ID = "" // removed meanwhile
					return nil
				}
				if err != nil {
					return fmt.Errorf("inspect network %s (%s): %w", n.Name, n.ID, err)
				}
				same[i] = got
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for name, same := range byName {
		same = slices.DeleteFunc(same, func(n service.Network) bool { return n.ID == "" })
		if len(same) == 0 {
			continue
		}
		keep, others := KeepNetwork(same)
		o.Networks[name] = keep
		if len(others) > 0 {
			if o.NetworkDuplicates == nil {
				o.NetworkDuplicates = map[string][]service.Network{}
			}
			o.NetworkDuplicates[name] = others
		}
	}
	return nil
}

// KeepNetwork chooses, among networks of one name, the one to keep: the one
// with the most containers attached, then the oldest, then the lowest ID
// (the engine backend's creators settle on the oldest the same way). It
// returns it and the others, oldest first.
func KeepNetwork(same []service.Network) (service.Network, []service.Network) {
	sorted := slices.Clone(same)
	slices.SortFunc(sorted, func(a, b service.Network) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	k := 0
	for i, n := range sorted {
		if len(n.Containers) > len(sorted[k].Containers) {
			k = i
		}
	}
	keep := sorted[k]
	return keep, slices.Delete(sorted, k, k+1)
}

func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// isOneoff reports whether c is a one-off (run) container.
func isOneoff(c service.Container) bool {
	return c.Labels[service.LabelOneoff] == service.OneoffTrue
}

// number is the replica number of c, 0 if it has none.
func number(c service.Container) int {
	n, _ := strconv.Atoi(c.Labels[service.LabelContainerNumber])
	return n
}

// ServiceContainers returns the project's non-one-off containers of svc,
// sorted by replica number.
func (o *Observed) ServiceContainers(svc string) []service.Container {
	var out []service.Container
	for _, c := range o.Containers {
		if c.Labels[service.LabelService] == svc && !isOneoff(c) {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return number(out[i]) < number(out[j]) })
	return out
}
