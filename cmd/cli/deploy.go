package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/service"
)

// newDeployCmd is berth deploy (#15): the project on the Docker Swarm
// whose manager DOCKER_HOST names, with ps, logs and rm beside it.
func newDeployCmd(g *globals) *cobra.Command {
	var build bool
	cmd := &cobra.Command{
		Use:   "deploy [SERVICE...]",
		Short: "Deploy the project to a Docker Swarm and wait until it runs",
		Long: `Deploy the project's services, networks, secrets and configs to the Docker Swarm
whose manager DOCKER_HOST names, as docker stack deploy would (the objects carry
com.docker.stack.namespace, so docker stack ls/ps/rm see them), in depends_on
order, and block until every task runs the new spec, or report the task that
failed (node, error, last log lines); an update the swarm rolls back
(deploy.update_config.failure_action: rollback) is a failure. Unchanged
services are left alone. --dry-run prints the plan.

With --build, the services that have a build section are built on the
engine DOCKER_HOST names and pushed to the registry their image: names
before the deploy, so that every node can pull them; without it, their
image is deployed as the registry has it.

The deployed services are read with their own subcommands, as docker stack
and docker service do: "berth deploy ps" lists them, "berth deploy logs"
prints their logs (every replica's, on every node); berth ps and berth logs
stay about the containers of berth up on this host.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.deploySession(ctx, args, true)
			if err != nil {
				return err
			}
			defer s.close()
			if build {
				r := newImageReport(g, s.p, false)
				if err := images.BuildAndPush(ctx, s.b, s.p, images.ImageOptions{Services: args, Parallel: g.parallelLimit(),
					DryRun: g.dryRun, Progress: r.event, Output: r.output}); err != nil {
					return err
				}
			}
			plan, warnings, err := reconcile.PlanDeployProject(ctx, s.b, s.p.Model, reconcile.DeployOptions{Services: args, Locate: s.p.Locate, Built: build})
			for _, w := range warnings {
				fmt.Fprintf(g.stdio.Err, "warning: %s\n", w)
			}
			if err != nil {
				return err
			}
			return s.apply(ctx, plan)
		},
	}
	cmd.Flags().BoolVar(&build, "build", false, "Build the images of the services with a build section and push them to their registry first")
	cmd.AddCommand(newDeployPsCmd(g), newDeployLogsCmd(g), newDeployRmCmd(g))
	return cmd
}

// deploySession is what a deploy command works on: the project, the
// backend and, for a command that changes the swarm, the project's lock
// (as up and down take it).
type deploySession struct {
	g     *globals
	p     *project.Project
	b     service.Backend
	close func()
}

// deploySession loads the project (services: those named) and opens the
// backend, locking the project when lock is set.
func (g *globals) deploySession(ctx context.Context, services []string, lock bool) (*deploySession, error) {
	p, err := g.load(ctx, services)
	if err != nil {
		return nil, err
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return nil, err
	}
	s := &deploySession{g: g, p: p, b: b, close: closeBackend}
	if lock {
		unlock, err := g.lockProject(ctx, b, p.Name)
		if err != nil {
			closeBackend()
			return nil, err
		}
		s.close = func() { unlock(); closeBackend() }
	}
	return s, nil
}

// apply prints plan with --dry-run, else applies it with progress.
func (s *deploySession) apply(ctx context.Context, plan *reconcile.Plan) error {
	if s.g.dryRun {
		printPlan(s.g, plan)
		return nil
	}
	pr := newProgress(s.g)
	return reconcile.Apply(ctx, s.b, plan, reconcile.ApplyOptions{Project: s.p.Name, Parallel: s.g.parallelLimit(), Progress: pr.event, Journal: s.g.journal})
}

func newDeployPsCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the project's services on the swarm: tasks running/desired, failing tasks",
		Long: `List the project's services on the swarm: tasks running/desired and the latest
failed tasks with their node and error. --format json prints one object per
service (keys Name, Service, Running, Desired, Replicas, Failing); a Go
template is applied to each, e.g. --format '{{.Name}} {{.Replicas}}'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := g.deploySession(ctx, nil, false)
			if err != nil {
				return err
			}
			defer s.close()
			list, err := reconcile.DeployStatus(ctx, s.b, s.p.Name)
			if err != nil {
				return err
			}
			return writeListStyled(g.stdio.Out, format, list, listStyle{minWidth: 10}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "SERVICE\tREPLICAS\tFAILING")
				for _, s := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, s.Replicas, strings.Join(s.Failing, "; "))
				}
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table, json or a Go template")
	return cmd
}

func newDeployLogsCmd(g *globals) *cobra.Command {
	var (
		follow, timestamps, noColor, noPrefix bool
		tail, since, until                    string
	)
	cmd := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "View the output of the project's services on the swarm",
		Long: `View the output of the project's deployed services, every replica's on every
node, through the swarm's service logs API (as docker service logs), each line
behind its compose service's name. The services' log driver must keep logs
readable (json-file, the default, local or journald).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.deploySession(ctx, nil, false)
			if err != nil {
				return err
			}
			defer s.close()
			names := args
			if len(names) == 0 {
				names = s.p.Model.ServiceNames()
			}
			m := newLogMux(g, names, noColor, noPrefix, timestamps)
			opts := reconcile.DeployLogsOptions{Services: args, Log: service.LogOptions{Follow: follow, Tail: tail, Since: since, Until: until, Timestamps: timestamps}}
			return reconcile.DeployLogs(ctx, s.b, s.p.Name, opts, func(svc string) (io.WriteCloser, io.WriteCloser) {
				w := m.writer(svc)
				return w, nopWriteCloser{w}
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	f.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs of each service")
	f.StringVar(&since, "since", "", "Show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
	f.StringVar(&until, "until", "", "Show logs before a timestamp or relative")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	f.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&noPrefix, "no-log-prefix", false, "Don't print a prefix in logs")
	return cmd
}

// nopWriteCloser is the second handle on a writer closed through the
// first: stdout and stderr of a service share its prefixed writer.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func newDeployRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm",
		Short: "Remove the project's services, secrets, configs and networks from the swarm",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := g.deploySession(ctx, nil, true)
			if err != nil {
				return err
			}
			defer s.close()
			plan, err := reconcile.PlanDeployRemoveProject(ctx, s.b, s.p.Name)
			if err != nil {
				return err
			}
			return s.apply(ctx, plan)
		},
	}
}
