package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// maxPasses bounds how often Converge observes and applies again.
const maxPasses = 3

// Converge observes, diffs and applies until what is live matches p: after
// the first plan is applied it observes again, and applies what is still
// missing (a container removed meanwhile, say), up to maxPasses times. The
// first plan is passed to onPlan before anything is applied (for warnings,
// or to print it). With dryRun nothing is applied.
//
// The provider services it needs run first (UpProviders). A container_name
// held by a container of another project is reported (CheckNameClashes)
// before the first plan is applied.
//
// When opts.ImageIDs is nil, the images are resolved (ResolveImages) while
// the first observation runs.
func Converge(ctx context.Context, b service.Backend, p *project.Project, opts Options, aopts ApplyOptions, dryRun bool, onPlan func(*Plan)) error {
	aopts.Project = p.Name
	if err := UpProviders(ctx, p, opts, aopts, dryRun, onPlan); err != nil {
		return err
	}
	for pass := 0; pass < maxPasses; pass++ {
		var obs *Observed
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			obs, err = Observe(gctx, b, p.Name, p)
			return err
		})
		if opts.ImageIDs == nil {
			g.Go(func() (err error) {
				opts.ImageIDs, err = ResolveImages(gctx, b, p)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		plan, err := Diff(p, obs, opts)
		if err != nil {
			return err
		}
		if pass == 0 && onPlan != nil {
			onPlan(plan)
		}
		if pass == 0 {
			// a container_name another project holds would fail
			// halfway through: report it before anything is created
			if err := CheckNameClashes(ctx, b, p, plan); err != nil {
				return err
			}
		}
		if dryRun {
			return nil
		}
		if pass > 0 && !structural(plan) {
			return nil
		}
		if plan.Empty() {
			return nil
		}
		if err := Apply(ctx, b, plan, aopts); err != nil {
			return err
		}
		// later passes only repair structure: starting a container that
		// exited on its own again would never converge; but what they put
		// in place of a running container, or create because it went
		// missing, runs (unless --no-start)
		opts.StartReplacements = !opts.NoStart
		opts.NoStart = true
		opts.ForceRecreate, opts.AlwaysRecreateDeps = false, false
	}
	return fmt.Errorf("project %s did not converge after %d passes: something else is changing its containers", p.Name, maxPasses)
}

// structural reports whether the plan creates, removes or replaces anything.
func structural(p *Plan) bool {
	for _, s := range p.Steps {
		if s.Op != OpStartContainer && s.Op != OpWait {
			return true
		}
	}
	return false
}

// ResolveImages finds the local image of every service, in parallel, and
// returns their IDs by service. Services whose image is missing are listed
// in one error.
func ResolveImages(ctx context.Context, b service.Backend, p *project.Project) (map[string]string, error) {
	refs := map[string][]string{} // image → services
	for _, s := range p.Services {
		refs[s.Image] = append(refs[s.Image], s.Name)
	}
	ids := map[string]string{}
	var missing []string
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultParallel)
	for ref, svcs := range refs {
		g.Go(func() error {
			img, err := b.InspectImage(gctx, ref)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, service.ErrNotFound):
				sort.Strings(svcs)
				missing = append(missing, fmt.Sprintf("image %s (service %s) is not present", ref, strings.Join(svcs, ", ")))
			case err != nil:
				return fmt.Errorf("inspect image %s: %w", ref, err)
			default:
				for _, s := range svcs {
					ids[s] = img.ID
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: pull or build the images first (berth pull, berth build)", strings.Join(missing, "; "))
	}
	return ids, nil
}
