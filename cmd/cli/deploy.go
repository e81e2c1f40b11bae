package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
)

// newDeployCmd is berth deploy (#15): the project on the Docker Swarm
// whose manager DOCKER_HOST names, with ps and rm beside it.
func newDeployCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy [SERVICE...]",
		Short: "Deploy the project to a Docker Swarm and wait until it runs",
		Long: `Deploy the project's services, networks, secrets and configs to the Docker Swarm
whose manager DOCKER_HOST names, as docker stack deploy would (the objects carry
com.docker.stack.namespace, so docker stack ls/ps/rm see them), in depends_on
order, and block until every task runs the new spec, or report the task that
failed. Unchanged services are left alone. --dry-run prints the plan.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := g.load(ctx, args)
			if err != nil {
				return err
			}
			b, closeBackend, err := g.backend(ctx)
			if err != nil {
				return err
			}
			defer closeBackend()
			plan, warnings, err := reconcile.PlanDeployProject(ctx, b, p.Model, reconcile.DeployOptions{Services: args})
			for _, w := range warnings {
				fmt.Fprintf(g.stdio.Err, "warning: %s\n", w)
			}
			if err != nil {
				return err
			}
			if g.dryRun {
				printPlan(g, plan)
				return nil
			}
			pr := newProgress(g)
			return reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{Project: p.Name, Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal})
		},
	}
	cmd.AddCommand(newDeployPsCmd(g), newDeployRmCmd(g))
	return cmd
}

func newDeployPsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ps",
		Short: "List the project's services on the swarm: tasks running/desired, failing tasks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := g.load(ctx, nil)
			if err != nil {
				return err
			}
			b, closeBackend, err := g.backend(ctx)
			if err != nil {
				return err
			}
			defer closeBackend()
			list, err := reconcile.DeployStatus(ctx, b, p.Name)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(g.stdio.Out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "SERVICE\tREPLICAS\tFAILING")
			for _, s := range list {
				fmt.Fprintf(w, "%s\t%d/%d\t%s\n", s.Name, s.Running, s.Desired, strings.Join(s.Failing, "; "))
			}
			return w.Flush()
		},
	}
}

func newDeployRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm",
		Short: "Remove the project's services, secrets, configs and networks from the swarm",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := g.load(ctx, nil)
			if err != nil {
				return err
			}
			b, closeBackend, err := g.backend(ctx)
			if err != nil {
				return err
			}
			defer closeBackend()
			plan, err := reconcile.PlanDeployRemoveProject(ctx, b, p.Name)
			if err != nil {
				return err
			}
			if g.dryRun {
				printPlan(g, plan)
				return nil
			}
			pr := newProgress(g)
			return reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{Project: p.Name, Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal})
		},
	}
}
