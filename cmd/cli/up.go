package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/gc"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/reconcile/supervise"
	"github.com/berthdev/berth/reconcile/watch"
	"github.com/berthdev/berth/service"
)

type upOptions struct {
	detach, wait                         bool
	waitTimeout                          int
	build, noBuild                       bool
	pull                                 string
	forceRecreate, noRecreate, alwaysDep bool
	renewAnon, noDeps, removeOrphans     bool
	noStart                              bool
	scale                                []string
	timeout                              int
	abortOnExit, abortOnFailure          bool
	exitCodeFrom                         string
	ttl                                  time.Duration
	// ttlOwnedByBerth makes this berth process the project's owner (berth
	// test), not its parent.
	ttlOwnedByBerth                  bool
	attach, noAttach                 []string
	noColor, noLogPrefix, timestamps bool
	yes, quietPull, quietBuild       bool
	watch, attachDeps                bool
	ephemeralPorts                   bool
}

func newUpCmd(g *globals) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		Long: `Create, recreate and start the containers of the services (all of them, or
those named and their dependencies), so that what runs matches the compose
files: containers whose configuration or image changed are recreated, the
others left alone. Without -d, the services' output is shown until they stop
or Ctrl+C is pressed (once: stop gracefully; twice: kill).

Images come first: each service's pull_policy (or --pull) says when its image
is pulled, and a service with a build section whose image is missing is built
(--build rebuilds it; a rebuild that changes nothing keeps the containers).

In scripts and CI, use "up -d --wait": it returns once every service is
running (and healthy, where it has a healthcheck), or fails with the
service that is not.`,
		Example: `  berth up -d --wait               # start everything, wait until healthy
  berth up -d --build              # rebuild what has a build section first
  berth up -d --scale web=3        # three web replicas
  berth up --abort-on-container-exit --exit-code-from tests
  berth up --dry-run               # show the plan and why, change nothing`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, o, args)
		},
	}
	upFlags(cmd, &o)
	return cmd
}

// upFlags defines up's flags on cmd.
func upFlags(cmd *cobra.Command, o *upOptions) {
	f := cmd.Flags()
	f.BoolVarP(&o.detach, "detach", "d", false, "Run in the background")
	f.BoolVar(&o.wait, "wait", false, "Wait until services are running and healthy (implies --detach)")
	f.IntVar(&o.waitTimeout, "wait-timeout", 0, "Maximum seconds to wait with --wait (0: no limit)")
	f.BoolVar(&o.build, "build", false, "Build images before starting containers (without it, only missing images are built)")
	f.BoolVar(&o.noBuild, "no-build", false, "Don't build an image, even if it's missing")
	f.StringVar(&o.pull, "pull", "policy", `Pull image before running ("always"|"missing"|"never"|"policy": each service's pull_policy)`)
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	f.BoolVar(&o.alwaysDep, "always-recreate-deps", false, "Recreate dependent containers too")
	f.BoolVarP(&o.renewAnon, "renew-anon-volumes", "V", false, "Recreate anonymous volumes instead of reusing the previous containers' data")
	f.BoolVar(&o.noDeps, "no-deps", false, "Don't start linked services")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers of services not defined in the compose files")
	f.BoolVar(&o.noStart, "no-start", false, "Don't start the services after creating them")
	f.StringArrayVar(&o.scale, "scale", nil, "Scale SERVICE to NUM instances (SERVICE=NUM; overrides scale in the file)")
	f.IntVarP(&o.timeout, "timeout", "t", -1, "Seconds to wait for containers to stop when recreating or stopping")
	f.BoolVar(&o.abortOnExit, "abort-on-container-exit", false, "Stop all containers if any container stops")
	f.BoolVar(&o.abortOnFailure, "abort-on-container-failure", false, "Stop all containers if any container exits with a non-zero code")
	f.StringVar(&o.exitCodeFrom, "exit-code-from", "", "Return the exit code of this service's container (implies --abort-on-container-exit)")
	f.DurationVar(&o.ttl, "ttl", 0, "Give what this up makes a lifetime (30m, 2h): berth gc (and every later up) removes the project once it passed, or once the process that ran this up (its parent: the CI job's shell) is gone")
	f.StringArrayVar(&o.attach, "attach", nil, "Show only these services' output")
	f.StringArrayVar(&o.noAttach, "no-attach", nil, "Don't show these services' output")
	f.BoolVar(&o.noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "Don't print a prefix in logs")
	f.BoolVar(&o.timestamps, "timestamps", false, "Show timestamps")
	f.BoolVarP(&o.yes, "yes", "y", false, "Assume yes: recreate volumes whose configuration changed (their data is lost)")
	f.BoolVar(&o.quietPull, "quiet-pull", false, "Pull without printing progress information")
	f.BoolVar(&o.quietBuild, "quiet-build", false, "Build without printing the builds' output")
	f.BoolVar(&o.attachDeps, "attach-dependencies", false, "Show the output of the named services' dependencies too")
	f.BoolVar(&o.ephemeralPorts, "ephemeral-ports", false, "Publish the ports the files fix on the host on ephemeral ones instead (see berth endpoints), so copies of the project run side by side")
	f.BoolVarP(&o.watch, "watch", "w", false, "Watch the services' develop.watch paths and update them when files change (see berth watch)")
	f.Bool("menu", false, "Accepted for docker compose compatibility (as COMPOSE_MENU), and ignored: berth has no interactive shortcuts menu")
}

// parseScale turns --scale SVC=N flags into a map.
func parseScale(flags []string) (map[string]int, error) {
	out := map[string]int{}
	for _, s := range flags {
		name, n, ok := strings.Cut(s, "=")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			return nil, fmt.Errorf("invalid --scale %q: use SERVICE=NUMBER", s)
		}
		out[name] = v
	}
	return out, nil
}

func stopTimeout(seconds int) *time.Duration {
	if seconds < 0 {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

func runUp(ctx context.Context, g *globals, o upOptions, args []string) error {
	detachFlag := o.detach // docker compose's tty view reads -d itself, not --wait
	scale, err := o.check()
	if err != nil {
		return err
	}
	p, rules, err := loadUp(ctx, g, o, args, scale)
	if err != nil {
		return err
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	if !g.dryRun {
		// the projects whose lifetime is over go first (one list call
		// when there are none)
		if _, err := g.reap(ctx, b, p.Name); err != nil {
			newProgress(g).warn(fmt.Sprintf("removing expired projects: %v", err))
		}
	}
	// Held while images and containers change; not while attached.
	unlock, err := g.lockProject(ctx, b, p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	started := time.Now()
	err = convergeUp(ctx, g, b, p, o, args, scale, detachFlag)
	unlock()
	if err != nil || g.dryRun || o.noStart {
		return err
	}
	return afterUp(ctx, g, b, p, args, o, rules, started)
}

// check applies the flags' implications (--exit-code-from: abort on exit;
// --wait: detach), refuses the combinations that make no sense, and
// returns --scale as a map.
func (o *upOptions) check() (map[string]int, error) {
	if o.exitCodeFrom != "" {
		o.abortOnExit = true
	}
	if o.wait {
		o.detach = true
	}
	if o.detach && (o.abortOnExit || o.abortOnFailure) {
		return nil, errors.New("--abort-on-container-exit and --abort-on-container-failure cannot be combined with --detach")
	}
	if o.forceRecreate && o.noRecreate {
		return nil, errors.New("--force-recreate and --no-recreate are incompatible")
	}
	if o.build && o.noBuild {
		return nil, errors.New("--build and --no-build are incompatible")
	}
	if !images.ValidPullOption(o.pull) {
		return nil, fmt.Errorf("invalid --pull option %q: use always, missing, never or policy", o.pull)
	}
	if o.ttl < 0 {
		return nil, fmt.Errorf("--ttl %v: want a positive duration", o.ttl)
	}
	return parseScale(o.scale)
}

// loadUp loads the project of an up and checks the flags that name its
// services; it returns the watch rules with --watch.
func loadUp(ctx context.Context, g *globals, o upOptions, args []string, scale map[string]int) (*project.Project, []*watch.Rule, error) {
	p, err := g.load(ctx, args)
	if err != nil {
		return nil, nil, err
	}
	if o.ephemeralPorts {
		if _, err := p.EphemeralPorts(); err != nil {
			return nil, nil, err
		}
	}
	var rules []*watch.Rule
	if o.watch {
		if rules, err = watch.Rules(p, args); err != nil {
			return nil, nil, err
		}
	}
	for name := range scale {
		if p.Service(name) == nil {
			return nil, nil, fmt.Errorf("--scale: no such service: %s", name)
		}
	}
	if o.exitCodeFrom != "" && p.Service(o.exitCodeFrom) == nil {
		return nil, nil, fmt.Errorf("--exit-code-from: no such service: %s", o.exitCodeFrom)
	}
	if o.ttl > 0 {
		owner := os.Getppid()
		if o.ttlOwnedByBerth {
			owner = os.Getpid()
		}
		gc.SetLifetime(p, time.Now().Add(o.ttl), gc.Owner(owner))
	}
	return p, rules, nil
}

// convergeUp pulls and builds the images, then converges the project (or
// prints the plan with --dry-run).
func convergeUp(ctx context.Context, g *globals, b service.Backend, p *project.Project, o upOptions, args []string, scale map[string]int, detachFlag bool) error {
	// Images first (pulled, built), so that their IDs are known to the
	// plan: a service whose image changed is recreated.
	var imageScope []string
	if o.noDeps {
		imageScope = args
	}
	images, err := g.ensureImages(ctx, b, p, imageFlags{build: o.build, noBuild: o.noBuild, pull: o.pull, quietPull: o.quietPull, quietBuild: o.quietBuild}, imageScope)
	if err != nil {
		return err
	}
	opts := reconcile.Options{
		Services:           args,
		NoDeps:             o.noDeps,
		ForceRecreate:      o.forceRecreate,
		NoRecreate:         o.noRecreate,
		AlwaysRecreateDeps: o.alwaysDep,
		RenewAnonVolumes:   o.renewAnon,
		RemoveOrphans:      o.removeOrphans || truthy(g.getenv("COMPOSE_REMOVE_ORPHANS")),
		IgnoreOrphans:      truthy(g.getenv("COMPOSE_IGNORE_ORPHANS")),
		NoStart:            o.noStart,
		RecreateVolumes:    o.yes,
		Scale:              scale,
		ImageIDs:           images,
	}
	pr := newProgress(g)
	pr.detached = detachFlag
	aopts := reconcile.ApplyOptions{Parallel: g.parallelLimit(), StopTimeout: stopTimeout(o.timeout), Progress: pr.event, Journal: g.journal, Providers: g.providerRunner(p)}
	err = reconcile.Converge(ctx, b, p, opts, aopts, g.dryRun, func(plan *reconcile.Plan) {
		for _, w := range plan.Warnings {
			pr.warn(w)
		}
		if g.dryRun {
			printPlan(g, plan)
			return
		}
		pr.done("Container", "Running", runningUntouched(ctx, b, p, plan, upScope(p, args, o.noDeps)))
	})
	pr.finish()
	return err
}

// afterUp is what an up does once the containers run: --wait, --watch,
// and, without -d, the services' output.
func afterUp(ctx context.Context, g *globals, b service.Backend, p *project.Project, args []string, o upOptions, rules []*watch.Rule, started time.Time) error {
	if o.wait {
		if err := waitUp(ctx, g, b, p, args, o); err != nil || !o.watch {
			return err
		}
	}
	if o.watch {
		if o.detach {
			return g.watchLoop(ctx, b, p, rules, o.quietBuild)
		}
		wctx, stopWatch := context.WithCancel(ctx)
		werr := make(chan error, 1)
		go func() { werr <- g.watchLoop(wctx, b, p, rules, o.quietBuild) }()
		err := attachUp(ctx, g, b, p, args, o, started)
		stopWatch()
		if werr := <-werr; err == nil {
			err = werr
		}
		return err
	}
	if o.detach {
		return nil
	}
	return attachUp(ctx, g, b, p, args, o, started)
}

// printPlan prints a plan for --dry-run.
func printPlan(g *globals, plan *reconcile.Plan) {
	if plan.Empty() {
		fmt.Fprintln(g.stdio.Out, "Nothing to do: the project is up to date.")
		return
	}
	fmt.Fprint(g.stdio.Out, plan.String())
}

func truthy(s string) bool {
	b, _ := strconv.ParseBool(s)
	return b
}

// parallelLimit is --parallel, else COMPOSE_PARALLEL_LIMIT, else 0 (the
// default bound).
// parallelLimit is the one bound of every fan-out of a command: --parallel,
// else COMPOSE_PARALLEL_LIMIT, else reconcile.DefaultParallel.
func (g *globals) parallelLimit() int {
	if g.parallel > 0 {
		return g.parallel
	}
	return reconcile.Limit(g.getenv("COMPOSE_PARALLEL_LIMIT"))
}

// serviceContainers lists the project's running-or-not service containers
// (no one-offs) of the named services (all when none).
func serviceContainers(ctx context.Context, b service.Backend, projectName string, services []string, all bool) ([]service.Container, error) {
	return supervise.ServiceContainers(ctx, b, projectName, services, all)
}

// waitUp waits, for up --wait, until every container of the services is
// running (and healthy where it has a healthcheck), or has completed
// successfully when another service waits for that.
func waitUp(ctx context.Context, g *globals, b service.Backend, p *project.Project, args []string, o upOptions) error {
	scope := args
	if !o.noDeps && len(args) > 0 {
		scope = nil
		for _, s := range p.Services {
			scope = append(scope, s.Name)
		}
	}
	cs, err := serviceContainers(ctx, b, p.Name, scope, true)
	if err != nil {
		return err
	}
	conds := reconcile.WaitConditions(p, cs)
	wctx := ctx
	if o.waitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, time.Duration(o.waitTimeout)*time.Second)
		defer cancel()
	}
	pr := newProgress(g)
	for name := range conds {
		pr.line("Container", name, "Waiting", false)
	}
	err = reconcile.WaitUp(wctx, b, p.Name, conds)
	defer pr.finish()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("application not healthy after %ds: %w", o.waitTimeout, err)
	}
	if err != nil {
		return err
	}
	for _, c := range cs {
		status := "Healthy"
		if cur, ierr := b.InspectContainer(ctx, c.ID); ierr == nil && (cur.State == service.StateExited || cur.State == service.StateDead) {
			status = "Exited"
		}
		pr.line("Container", c.Name, status, false)
	}
	return nil
}

// attachUp shows the services' output until they all stop, one of them
// stops (with the abort flags), or Ctrl+C: then it stops them
// (supervise.Up).
func attachUp(ctx context.Context, g *globals, b service.Backend, p *project.Project, args []string, o upOptions, since time.Time) error {
	code, err := supervise.Up(ctx, b, p, supervise.UpOptions{
		Services: args, Attach: o.attach, NoAttach: o.noAttach, AttachDependencies: o.attachDeps,
		AbortOnExit: o.abortOnExit, AbortOnFailure: o.abortOnFailure, ExitCodeFrom: o.exitCodeFrom,
		Since: since,
		Output: func(shown []service.Container) supervise.Output {
			var names []string
			for _, c := range shown {
				names = append(names, displayName(c))
			}
			mux := newLogMux(g, names, o.noColor, o.noLogPrefix, o.timestamps)
			mux.errW = g.stdio.Err // the containers' standard error, as docker compose
			fmt.Fprintln(g.stdio.Out, "Attaching to "+strings.Join(names, ", "))
			return muxOutput{mux}
		},
		Stop: func(ctx context.Context, services []string) error {
			return stopServices(ctx, g, b, p, p.Name, services, stopTimeout(o.timeout))
		},
		Apply:      reconcile.ApplyOptions{Project: p.Name, Parallel: g.parallelLimit(), Journal: g.journal},
		Notices:    g.stdio.Err,
		Interrupts: g.interrupts,
	})
	return exitStatus(code, err)
}

// muxOutput is where supervise.Up shows the containers' output: behind
// their prefixes, as docker compose's log printer.
type muxOutput struct{ mux *logMux }

func (m muxOutput) Follow(ctx context.Context, l service.Logger, c service.Container, opts service.LogOptions) (time.Time, error) {
	return m.mux.followTracked(ctx, l, c, opts)
}

func (m muxOutput) Status(c service.Container, msg string) { m.mux.status(displayName(c), msg) }

// stopServices stops the containers of the named services (all when none),
// dependents first.
// (p may be nil: the order is then by name). With --dry-run it prints the
// plan instead.
func stopServices(ctx context.Context, g *globals, b service.Backend, p *project.Project, name string, services []string, timeout *time.Duration) error {
	obs, err := reconcile.Observe(ctx, b, name, nil)
	if err != nil {
		return err
	}
	plan := reconcile.Stop(p, obs, services)
	if g.dryRun {
		printPlan(g, plan)
		return nil
	}
	pr := newProgress(g)
	pr.done("Container", "Stopped", alreadyStopped(obs, plan, services))
	return reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{Project: name, StopTimeout: timeout, Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal, Providers: g.providerRunner(p)})
}

// alreadyStopped lists, by name, the service containers (no one-offs) of
// the services (all when none) that are not running and that the plan
// leaves alone: docker compose reports each as stopped too.
func alreadyStopped(obs *reconcile.Observed, plan *reconcile.Plan, services []string) []string {
	touched := map[string]bool{}
	for _, s := range plan.Steps {
		touched[s.Object] = true
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []string
	for _, c := range obs.Containers {
		svc := c.Labels[service.LabelService]
		if c.Labels[service.LabelOneoff] == service.OneoffTrue || (len(want) > 0 && !want[svc]) {
			continue
		}
		if c.State != service.StateRunning && c.State != service.StateRestarting && c.State != service.StatePaused && !touched[c.Name] {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}

// upScope is the services an up acts on: those named and their
// dependencies (only those named with --no-deps), all when none is named.
func upScope(p *project.Project, args []string, noDeps bool) map[string]bool {
	scope := map[string]bool{}
	if len(args) == 0 {
		for _, s := range p.Services {
			scope[s.Name] = true
		}
		return scope
	}
	var add func(name string)
	add = func(name string) {
		if scope[name] {
			return
		}
		scope[name] = true
		if s := p.Service(name); s != nil && !noDeps {
			for dep := range s.Config.DependsOn {
				add(dep)
			}
		}
	}
	for _, a := range args {
		add(a)
	}
	return scope
}

// runningUntouched lists, by name, the running containers of the services
// in scope that the plan leaves as they are: docker compose reports each
// as "Container p-web-1  Running" before it applies its plan. (A listing
// that fails reports none: it only drives these lines.)
func runningUntouched(ctx context.Context, b service.Backend, p *project.Project, plan *reconcile.Plan, scope map[string]bool) []string {
	touched := map[string]bool{}
	for _, s := range plan.Steps {
		if s.Op == reconcile.OpWait {
			continue
		}
		touched[s.Object], touched[s.Target], touched[s.NewName] = true, true, true
	}
	var svcs []string
	for name := range scope {
		if p.Service(name) != nil {
			svcs = append(svcs, name)
		}
	}
	if len(svcs) == 0 {
		return nil
	}
	cs, err := serviceContainers(ctx, b, p.Name, svcs, false)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range cs {
		if c.State == service.StateRunning && !touched[c.Name] && !touched[c.ID] {
			out = append(out, c.Name)
		}
	}
	return out
}
