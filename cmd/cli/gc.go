package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/gc"
	"github.com/berthdev/berth/service"
)

func newGCCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove the projects whose lifetime is over (up --ttl, berth test)",
		Long: `Remove every project that up --ttl (or berth test) made whose expiry has
passed, or whose owner process is gone (the process that ran up --ttl: the
CI job's shell, say; berth test itself): its containers, networks, volumes
and the images built for it, as down -v --remove-orphans --rmi local does,
from any directory and without compose files. Projects made without --ttl
are never touched. With --dry-run, says what it would remove. Every up runs
this pass for the other projects first.`,
		Example: `  berth up -d --ttl 30m   # a stack that gc may remove in 30 minutes
  berth gc --dry-run       # what would go
  berth gc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, closeBackend, err := g.backend(ctx)
			if err != nil {
				return err
			}
			defer closeBackend()
			n, err := g.reap(ctx, b, "")
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintln(g.stdio.Err, "Nothing to remove.")
			}
			return nil
		},
	}
}

// reap removes the projects whose lifetime is over, but skip, and returns
// how many it removed (or, with --dry-run, would remove).
func (g *globals) reap(ctx context.Context, b service.Backend, skip string) (int, error) {
	projects, err := gc.Find(ctx, b, time.Now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range projects {
		if p.Reason == "" || p.Name == skip {
			continue
		}
		n++
		if err := g.reapOne(ctx, b, p); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (g *globals) reapOne(ctx context.Context, b service.Backend, p gc.Project) error {
	unlock, err := g.lockProject(ctx, b, p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	plan, err := gc.Plan(ctx, b, p.Name)
	if err != nil {
		return fmt.Errorf("gc: project %s: %w", p.Name, err)
	}
	if g.dryRun {
		fmt.Fprintf(g.stdio.Out, "would remove project %s: %s\n", p.Name, p.Reason)
		printPlan(g, plan)
		return nil
	}
	fmt.Fprintf(g.stdio.Err, "Removing project %s: %s\n", p.Name, p.Reason)
	pr := newProgress(g)
	if err := reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{Project: p.Name, Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal}); err != nil {
		return fmt.Errorf("gc: project %s: %w", p.Name, err)
	}
	return nil
}
