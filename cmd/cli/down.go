package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/service"
)

// projectOrName loads the project when compose files are given or no
// project name is, as docker compose does; with -p alone (or when loading
// fails but COMPOSE_PROJECT_NAME names one) the command works from labels,
// and the project is nil.
func (g *globals) projectOrName(ctx context.Context, services []string) (*project.Project, string, error) {
	if len(g.files) == 0 && g.projectName != "" {
		return nil, g.projectName, nil
	}
	opts := g.loadOptions(services)
	opts.DiscardEnvFiles = true
	p, err := project.Load(ctx, opts)
	if err != nil {
		var le *project.LoadError
		if name := g.getenv("COMPOSE_PROJECT_NAME"); name != "" && errors.As(err, &le) && le.File == "" && le.Service == "" {
			return nil, name, nil
		}
		return nil, "", err
	}
	return p, p.Name, nil
}

func newDownCmd(g *globals) *cobra.Command {
	var (
		volumes, removeOrphans bool
		timeout                int
		rmi                    string
	)
	cmd := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICE...]",
		Short: "Stop and remove containers and networks",
		Long: `Stop the project's containers (dependents first) and remove them, then remove
the networks the compose files declare. With -v, also the named volumes and
the containers' anonymous volumes; with --rmi, the services' images (one
still used by another container is left, with a warning). Objects already gone are skipped, so down
can always be run again. Without a compose file, -p NAME removes what carries
that project's labels.`,
		Example: `  berth down -v          # everything, data included
  berth down --rmi local # and the images built for the project
  berth -p ci-42 down    # a project by name, from any directory`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rmi != "" && rmi != images.RemoveImagesLocal && rmi != images.RemoveImagesAll {
				return fmt.Errorf("invalid --rmi %q: use local or all", rmi)
			}
			ctx := cmd.Context()
			p, name, err := g.projectOrName(ctx, nil)
			if err != nil {
				return err
			}
			b, closeBackend, err := g.backend(ctx)
			if err != nil {
				return err
			}
			defer closeBackend()
			unlock, err := g.lockProject(ctx, b, name)
			if err != nil {
				return err
			}
			defer unlock()
			return runDown(ctx, g, b, p, name, downOptions{services: args, removeOrphans: removeOrphans, volumes: volumes, rmi: rmi, timeout: timeout})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&volumes, "volumes", "v", false, "Remove named volumes declared in the volumes section and anonymous volumes attached to containers")
	f.BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers of services not defined in the compose files")
	f.IntVarP(&timeout, "timeout", "t", -1, "Seconds to wait for containers to stop before killing them")
	f.StringVar(&rmi, "rmi", "", `Remove images used by services: "local" removes only the images built with no custom tag (project-service), "all" every service's image`)
	return cmd
}

// downOptions are down's flags.
type downOptions struct {
	services               []string
	removeOrphans, volumes bool
	rmi                    string
	timeout                int
}

// runDown takes the project down: observe, plan, apply. p may be nil (a
// project known by name only).
func runDown(ctx context.Context, g *globals, b service.Backend, p *project.Project, name string, o downOptions) error {
	obs, err := reconcile.Observe(ctx, b, name, p)
	if err != nil {
		return err
	}
	var rmImages []string
	if o.rmi != "" {
		if _, ok := b.(service.ImageRemover); !ok {
			return fmt.Errorf("--rmi: this backend cannot remove images: %w", service.ErrUnsupported)
		}
		if rmImages, err = images.DownImages(ctx, b, p, obs, o.rmi, o.services); err != nil {
			return err
		}
	}
	plan := reconcile.Down(p, obs, reconcile.DownOptions{
		Services:      o.services,
		RemoveOrphans: o.removeOrphans || truthy(g.getenv("COMPOSE_REMOVE_ORPHANS")),
		Volumes:       o.volumes,
		Images:        rmImages,
	})
	pr := newProgress(g)
	if plan.Empty() {
		pr.warn(fmt.Sprintf("No resource found to remove for project %q.", name))
		return nil
	}
	if g.dryRun {
		printPlan(g, plan)
		return nil
	}
	return reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{Project: name, Parallel: g.parallelLimit(), StopTimeout: stopTimeout(o.timeout), Progress: pr.event, Journal: g.journal, Providers: g.providerRunner(p)})
}
