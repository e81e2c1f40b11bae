package cli

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// session is what most commands need: the project (nil without compose
// file), its name, and a backend.
type session struct {
	p     *project.Project
	name  string
	b     service.Backend
	close func()
}

func (g *globals) session(ctx context.Context, services []string) (*session, error) {
	p, name, err := g.projectOrName(ctx, services)
	if err != nil {
		return nil, err
	}
	if p != nil {
		for _, s := range services {
			if p.Service(s) == nil {
				return nil, fmt.Errorf("no such service: %s", s)
			}
		}
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return nil, err
	}
	return &session{p: p, name: name, b: b, close: closeBackend}, nil
}

// lockedSession is session for a command that changes the project: it
// also holds the project's lock until closed.
func (g *globals) lockedSession(ctx context.Context, services []string) (*session, error) {
	s, err := g.session(ctx, services)
	if err != nil {
		return nil, err
	}
	unlock, err := g.lockProject(ctx, s.b, s.name)
	if err != nil {
		s.close()
		return nil, err
	}
	closeBackend := s.close
	s.close = func() { unlock(); closeBackend() }
	return s, nil
}

// withLockedSession is withSession for a command that changes the
// project (lockedSession).
func (g *globals) withLockedSession(fn func(ctx context.Context, s *session, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		s, err := g.lockedSession(ctx, args)
		if err != nil {
			return err
		}
		defer s.close()
		return fn(ctx, s, args)
	}
}

// withSession is a command's RunE that opens the session of the services
// named in args, runs fn, and closes it.
func (g *globals) withSession(fn func(ctx context.Context, s *session, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		s, err := g.session(ctx, args)
		if err != nil {
			return err
		}
		defer s.close()
		return fn(ctx, s, args)
	}
}

// signalServices sends op (kill with signal, pause, unpause) to the running
// containers of the services (when none: those of the files' services, or
// of every service with orphans) through a plan, so that --dry-run prints
// it and progress and --parallel are Apply's. Unless unlocked, it holds the
// project's lock.
func signalServices(ctx context.Context, g *globals, services []string, orphans, unlocked bool, op reconcile.Op, signal string) error {
	open := g.lockedSession
	if unlocked {
		open = g.session
	}
	s, err := open(ctx, services)
	if err != nil {
		return err
	}
	defer s.close()
	if len(services) == 0 && s.p != nil && !orphans {
		for _, svc := range s.p.Services {
			services = append(services, svc.Name)
		}
	}
	cs, err := serviceContainers(ctx, s.b, s.name, services, false)
	if err != nil {
		return err
	}
	plan := reconcile.Signal(cs, op, signal)
	if g.dryRun {
		printPlan(g, plan)
		return nil
	}
	pr := newProgress(g)
	return reconcile.Apply(ctx, s.b, plan, reconcile.ApplyOptions{Project: s.name, Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal})
}

func newStartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start existing containers",
		Long:  "Start the services' existing containers in dependency order, waiting for healthy or completed dependencies as up does. It creates nothing: use up for that.",
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
			unlock, err := g.lockProject(ctx, b, p.Name)
			if err != nil {
				return err
			}
			defer unlock()
			obs, err := reconcile.Observe(ctx, b, p.Name, nil)
			if err != nil {
				return err
			}
			plan, err := reconcile.Diff(p, obs, reconcile.Options{Services: args, StartOnly: true})
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

func newStopCmd(g *globals) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [SERVICE...]",
		Short: "Stop running containers without removing them",
		Long:  "Stop the services' running containers, dependents first: the stop signal, then SIGKILL after the grace period (-t, else each service's stop_grace_period, else 10 s).",
		RunE: g.withLockedSession(func(ctx context.Context, s *session, args []string) error {
			return stopServices(ctx, g, s.b, s.p, s.name, args, stopTimeout(timeout))
		}),
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", -1, "Seconds to wait before killing the containers")
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	var timeout int
	var noDeps bool
	cmd := &cobra.Command{
		Use:   "restart [SERVICE...]",
		Short: "Restart service containers",
		Long: `Restart the services' containers, as docker compose does: stopped (pre_stop
hooks first, dependents before what they depend on), then started in
dependency order, each after its depends_on conditions hold (healthy,
completed), post_start hooks after. Configuration changes are not applied:
use up for that. Services that depend on a restarted one with restart: true
are restarted too, unless --no-deps.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.lockedSession(ctx, nil)
			if err != nil {
				return err
			}
			defer s.close()
			targets := args
			if s.p != nil {
				for _, a := range args {
					if s.p.Service(a) != nil {
						continue
					}
					if !slices.Contains(s.p.DisabledServices, a) {
						return fmt.Errorf("no such service: %s", a)
					}
					// Its profile is not active: naming it enables it, as
					// docker compose (the project then holds what it names).
					if s.p, err = g.load(ctx, args); err != nil {
						return err
					}
					break
				}
				if len(args) > 0 && !noDeps {
					targets = withRestartDependents(s.p, args)
				}
			}
			obs, err := reconcile.Observe(ctx, s.b, s.name, nil)
			if err != nil {
				return err
			}
			plan, err := reconcile.Restart(s.p, obs, targets)
			if err != nil {
				return err
			}
			if g.dryRun {
				printPlan(g, plan)
				return nil
			}
			pr := newProgress(g)
			return reconcile.Apply(ctx, s.b, plan, reconcile.ApplyOptions{Project: s.name, StopTimeout: stopTimeout(timeout),
				Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", -1, "Seconds to wait before killing the containers")
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't restart dependent services")
	return cmd
}

func newKillCmd(g *globals) *cobra.Command {
	var signal string
	var removeOrphans bool
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		Long: `Send the services' containers a signal (SIGKILL unless -s). Unlike the other
commands that change a project, kill does not wait for the project's lock: it
acts at once, also on an up in progress (which may be waiting for the very
container to become healthy).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return signalServices(cmd.Context(), g, args, removeOrphans, true, reconcile.OpKillContainer, signal)
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "Signal to send to the containers")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "Also kill containers of services not in the compose files")
	return cmd
}

func newPauseCmd(g *globals, pause bool) *cobra.Command {
	use, short := "pause", "Pause services"
	if !pause {
		use, short = "unpause", "Unpause services"
	}
	return &cobra.Command{
		Use:   use + " [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			op := reconcile.OpUnpauseContainer
			if pause {
				op = reconcile.OpPauseContainer
			}
			return signalServices(cmd.Context(), g, args, false, false, op, "")
		},
	}
}

// withRestartDependents adds to services those that depend on one of them
// with restart: true, transitively.
func withRestartDependents(p *project.Project, services []string) []string {
	if p == nil {
		return services
	}
	set := map[string]bool{}
	for _, a := range services {
		set[a] = true
	}
	for changed := true; changed; {
		changed = false
		for _, svc := range p.Services {
			for dep, d := range svc.Config.DependsOn {
				if set[dep] && d.Restart && !set[svc.Name] {
					set[svc.Name], changed = true, true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newRmCmd(g *globals) *cobra.Command {
	var force, stop, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Remove stopped service containers",
		Long:  "Remove the services' stopped containers, one-off ones included. It asks first unless -f; with -s it stops running ones first.",
		RunE: g.withLockedSession(func(ctx context.Context, s *session, args []string) error {
			if stop {
				if err := stopServices(ctx, g, s.b, s.p, s.name, args, nil); err != nil {
					return err
				}
			}
			all, err := s.b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: s.name}, All: true})
			if err != nil {
				return err
			}
			var gone []service.Container
			for _, c := range selectContainers(all, args, nil) {
				if c.State != service.StateRunning && c.State != service.StateRestarting && c.State != service.StatePaused {
					gone = append(gone, c)
				}
			}
			if len(gone) == 0 {
				fmt.Fprintln(g.stdio.Err, "No stopped containers")
				return nil
			}
			plan := reconcile.Remove(gone, volumes)
			if g.dryRun {
				printPlan(g, plan)
				return nil
			}
			if !force {
				names := make([]string, len(gone))
				for i, c := range gone {
					names[i] = c.Name
				}
				fmt.Fprintf(g.stdio.Err, "Going to remove %s\nAre you sure? [yN] ", strings.Join(names, ", "))
				line, _ := bufio.NewReader(g.stdio.In).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return nil
				}
			}
			pr := newProgress(g)
			return reconcile.Apply(ctx, s.b, plan, reconcile.ApplyOptions{Project: s.name, Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal})
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&force, "force", "f", false, "Don't ask to confirm removal")
	f.BoolVarP(&stop, "stop", "s", false, "Stop the containers, if required, before removing")
	f.BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes attached to containers")
	return cmd
}

// runningReplica returns the running container of a service that exec,
// attach and port act on, as docker compose picks it: the replica of the
// given index, or with index 0 the lowest one, else a one-off container of
// the service (run -d); or an error in docker compose's words.
func runningReplica(ctx context.Context, s *session, svc string, index int) (service.Container, error) {
	cs, err := s.b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: s.name, service.LabelService: svc}})
	if err != nil {
		return service.Container{}, fmt.Errorf("list containers of project %s: %w", s.name, err)
	}
	if index > 0 {
		cs = slices.DeleteFunc(cs, func(c service.Container) bool { return c.Labels[service.LabelContainerNumber] != strconv.Itoa(index) })
	}
	if len(cs) == 0 {
		// docker compose's messages
		if index > 0 {
			return service.Container{}, fmt.Errorf("service %q is not running container #%d", svc, index)
		}
		return service.Container{}, fmt.Errorf("service %q is not running", svc)
	}
	// The lowest replica number first, one-off containers (run) last.
	slices.SortStableFunc(cs, func(a, b service.Container) int {
		ao, bo := a.Labels[service.LabelOneoff] == service.OneoffTrue, b.Labels[service.LabelOneoff] == service.OneoffTrue
		if ao != bo {
			if ao {
				return 1
			}
			return -1
		}
		an, _ := strconv.Atoi(a.Labels[service.LabelContainerNumber])
		bn, _ := strconv.Atoi(b.Labels[service.LabelContainerNumber])
		return an - bn
	})
	return cs[0], nil
}
