package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/watch"
	"github.com/berthdev/berth/service"
)

type watchOptions struct {
	noUp, prune, quiet bool
}

func newWatchCmd(g *globals) *cobra.Command {
	var o watchOptions
	cmd := &cobra.Command{
		Use:   "watch [SERVICE...]",
		Short: "Watch the build context and update the services when files change",
		Long: `Bring the services up (built first, where they have a build section),
then watch the paths of their develop.watch rules and apply each change as
the rule says:

  sync          copy the changed files into the service's containers
                (deleted files are deleted there)
  sync+restart  sync, then restart the service's containers
  sync+exec     sync, then run the rule's exec command in each container
  restart       restart the service's containers
  rebuild       rebuild the service's image and recreate its containers

Changes are gathered until files stop changing for 100 ms, then applied.
Editors' temporary files, .git and the build's .dockerignore patterns are
ignored, as are the rule's ignore patterns. Stop with Ctrl+C: the services
keep running.`,
		Example: `  berth watch                # every service with a develop section
  berth watch web            # only web
  berth up --watch           # up, attached, and watch`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noUp, "no-up", false, "Do not build and start the services before watching")
	f.BoolVar(&o.prune, "prune", true, "Prune dangling images after a rebuild (accepted; the previous image is left to down --rmi)")
	f.BoolVar(&o.quiet, "quiet", false, "Hide the build output")
	return cmd
}

func runWatch(ctx context.Context, g *globals, o watchOptions, args []string) error {
	p, err := g.load(ctx, args)
	if err != nil {
		return err
	}
	rules, err := watch.Rules(p, args)
	if err != nil {
		return err
	}
	if !o.noUp {
		if err := runUp(ctx, g, upOptions{detach: true, build: true, pull: "policy", timeout: -1, quietBuild: o.quiet}, args); err != nil {
			return err
		}
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	return g.watchLoop(ctx, b, p, rules, o.quiet)
}

// watchLoop runs the watch until ctx is done (Ctrl+C), which is no error.
func (g *globals) watchLoop(ctx context.Context, b service.Backend, p *project.Project, rules []*watch.Rule, quietBuild bool) error {
	wb, ok := b.(watch.Backend)
	if !ok {
		return fmt.Errorf("watch: the backend cannot copy into, exec in or restart containers: %w", service.ErrUnsupported)
	}
	pr := newProgress(g)
	l := &watch.Loop{
		B: wb, Project: p.Name, Rules: rules,
		// docker compose writes the watch's messages with the services'
		// output, on standard output
		Log:  func(msg string) { fmt.Fprintln(g.stdio.Out, msg) },
		Warn: pr.warn,
		Out:  g.stdio.Out, Err: g.stdio.Err,
		Parallel: g.parallelLimit(),
		Rebuild: func(ctx context.Context, services []string) error {
			unlock, err := g.lockProject(ctx, b, p.Name)
			if err != nil {
				return err
			}
			defer unlock()
			images, err := g.ensureImages(ctx, b, p, imageFlags{build: true, pull: "policy", quietBuild: quietBuild}, services)
			if err != nil {
				return err
			}
			opts := reconcile.Options{Services: services, NoDeps: true, ImageIDs: images}
			aopts := reconcile.ApplyOptions{Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal}
			return reconcile.Converge(ctx, b, p, opts, aopts, false, func(plan *reconcile.Plan) {
				for _, w := range plan.Warnings {
					pr.warn(w)
				}
			})
		},
	}
	if d := g.getenv("BERTH_WATCH_QUIET"); d != "" {
		q, err := time.ParseDuration(d)
		if err != nil || q <= 0 {
			return fmt.Errorf("BERTH_WATCH_QUIET=%q: want a duration such as 100ms", d)
		}
		l.Quiet = q
	}
	err := l.Run(ctx)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}
