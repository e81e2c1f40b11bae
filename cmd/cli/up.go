package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/gc"
	"github.com/berthdev/berth/reconcile/images"
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
	return cmd
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
	if o.exitCodeFrom != "" {
		o.abortOnExit = true
	}
	detachFlag := o.detach // docker compose's tty view reads -d itself, not --wait
	if o.wait {
		o.detach = true
	}
	if o.detach && (o.abortOnExit || o.abortOnFailure) {
		return errors.New("--abort-on-container-exit and --abort-on-container-failure cannot be combined with --detach")
	}
	if o.forceRecreate && o.noRecreate {
		return errors.New("--force-recreate and --no-recreate are incompatible")
	}
	if o.build && o.noBuild {
		return errors.New("--build and --no-build are incompatible")
	}
	if !images.ValidPullOption(o.pull) {
		return fmt.Errorf("invalid --pull option %q: use always, missing, never or policy", o.pull)
	}
	scale, err := parseScale(o.scale)
	if err != nil {
		return err
	}
	p, err := g.load(ctx, args)
	if err != nil {
		return err
	}
	if o.ephemeralPorts {
		if _, err := p.EphemeralPorts(); err != nil {
			return err
		}
	}
	var rules []*watch.Rule
	if o.watch {
		if rules, err = watch.Rules(p, args); err != nil {
			return err
		}
	}
	for name := range scale {
		if p.Service(name) == nil {
			return fmt.Errorf("--scale: no such service: %s", name)
		}
	}
	if o.exitCodeFrom != "" && p.Service(o.exitCodeFrom) == nil {
		return fmt.Errorf("--exit-code-from: no such service: %s", o.exitCodeFrom)
	}
	if o.ttl < 0 {
		return fmt.Errorf("--ttl %v: want a positive duration", o.ttl)
	}
	if o.ttl > 0 {
		owner := os.Getppid()
		if o.ttlOwnedByBerth {
			owner = os.Getpid()
		}
		gc.SetLifetime(p, time.Now().Add(o.ttl), gc.Owner(owner))
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

	started := time.Now()
	removeOrphans := o.removeOrphans || truthy(g.getenv("COMPOSE_REMOVE_ORPHANS"))
	opts := reconcile.Options{
		Services:           args,
		NoDeps:             o.noDeps,
		ForceRecreate:      o.forceRecreate,
		NoRecreate:         o.noRecreate,
		AlwaysRecreateDeps: o.alwaysDep,
		RenewAnonVolumes:   o.renewAnon,
		RemoveOrphans:      removeOrphans,
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
	unlock()
	if err != nil || g.dryRun || o.noStart {
		return err
	}
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
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: projectName}, All: all})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", projectName, err)
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []service.Container
	for _, c := range cs {
		if c.Labels[service.LabelOneoff] == service.OneoffTrue {
			continue
		}
		if len(want) > 0 && !want[c.Labels[service.LabelService]] {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
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
// stops (with the abort flags), or Ctrl+C: then it stops them.
func attachUp(ctx context.Context, g *globals, b service.Backend, p *project.Project, args []string, o upOptions, since time.Time) error {
	logger, _ := b.(service.Logger)
	waiter, _ := b.(service.Waiter)
	if logger == nil || waiter == nil {
		return fmt.Errorf("attached up: %w (use -d)", service.ErrUnsupported)
	}
	cs, err := serviceContainers(ctx, b, p.Name, nil, true)
	if err != nil {
		return err
	}
	attach := map[string]bool{}
	for _, s := range p.Services {
		attach[s.Name] = s.Config.Attach == nil || *s.Config.Attach
	}
	only := o.attach
	if len(only) == 0 && len(args) > 0 && !o.attachDeps {
		only = args // up web: web's output, not its dependencies', as compose
	}
	if len(only) > 0 {
		for k := range attach {
			attach[k] = false
		}
		for _, s := range only {
			attach[s] = true
		}
	}
	for _, s := range o.noAttach {
		attach[s] = false
	}
	if o.exitCodeFrom != "" {
		attach[o.exitCodeFrom] = true // its exit is awaited
	}
	var shown []service.Container
	var names []string
	for _, c := range cs {
		if attach[c.Labels[service.LabelService]] {
			shown = append(shown, c)
			names = append(names, displayName(c))
		}
	}
	mux := newLogMux(g, names, o.noColor, o.noLogPrefix, o.timestamps)
	mux.errW = g.stdio.Err // the containers' standard error, as docker compose
	fmt.Fprintln(g.stdio.Out, "Attaching to "+strings.Join(names, ", "))

	// A second context, not cancelled by the first Ctrl+C, so that the
	// output of stopping containers is still shown.
	logCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLogs()
	type exit struct {
		c    service.Container
		code int
	}
	exits := make(chan exit, len(shown))
	var wg sync.WaitGroup
	for _, c := range shown {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := service.LogOptions{Follow: true, Since: strconv.FormatInt(since.Unix(), 10)}
			for {
				last, _ := mux.followTracked(logCtx, logger, c, opts)
				if !last.IsZero() {
					// go on right after the last line shown: the runs a
					// restart policy makes, however quick, none twice
					next := last.Add(time.Nanosecond)
					opts.Since = fmt.Sprintf("%d.%09d", next.Unix(), next.Nanosecond())
				}
				code, err := waiter.WaitContainer(logCtx, c.ID)
				if err != nil {
					return
				}
				// a restart policy may bring it back: keep following
				time.Sleep(200 * time.Millisecond)
				ic, err := b.InspectContainer(logCtx, c.ID)
				if err == nil && (ic.State == service.StateRunning || ic.State == service.StateRestarting) {
					mux.status(displayName(c), fmt.Sprintf("exited with code %d (restarting)", code))
					continue
				}
				if err == nil {
					code = ic.ExitCode // the last run's
				}
				// the last run's output, if it started and ended meanwhile
				opts.Follow = false
				_, _ = mux.followTracked(logCtx, logger, c, opts)
				mux.status(displayName(c), fmt.Sprintf("exited with code %d", code))
				exits <- exit{c, code}
				return
			}
		}()
	}

	exitCode := 0
	remaining := len(shown)
	aborted := false
	var abortReason string
loop:
	for remaining > 0 {
		select {
		case e := <-exits:
			remaining--
			if o.exitCodeFrom != "" && e.c.Labels[service.LabelService] == o.exitCodeFrom {
				exitCode = e.code
			} else if o.exitCodeFrom == "" && (o.abortOnExit || (o.abortOnFailure && e.code != 0)) {
				exitCode = e.code
			}
			if svc := p.Service(e.c.Labels[service.LabelService]); o.exitCodeFrom != "" && e.code == 0 && svc != nil &&
				svc.Name != o.exitCodeFrom && reconcile.OneShot(svc.Config) {
				continue // a one-shot (a migration...) that is done: the run goes on
			}
			if o.abortOnExit || (o.abortOnFailure && e.code != 0) {
				aborted = true
				abortReason = "Aborting on container exit..."
				break loop
			}
		case <-ctx.Done():
			aborted = true
			abortReason = "Gracefully stopping... (press Ctrl+C again to force)"
			exitCode = 130
			break loop
		}
	}
	if aborted {
		fmt.Fprintln(g.stdio.Err, abortReason)
		stopCtx, cancelStop := context.WithCancel(context.WithoutCancel(ctx))
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			select {
			case <-sigs:
				fmt.Fprintln(g.stdio.Err, "Killing...")
				cancelStop()
				if k, ok := b.(service.Signaller); ok {
					for _, c := range cs {
						_ = k.KillContainer(context.WithoutCancel(ctx), c.ID, "SIGKILL")
					}
				}
			case <-stopCtx.Done():
			}
		}()
		// Every container this up started: the named services and their
		// dependencies ("stops all containers", as compose says).
		var started []string
		for _, s := range p.Services {
			started = append(started, s.Name)
		}
		err := stopServices(stopCtx, g, b, p, p.Name, started, stopTimeout(o.timeout))
		cancelStop()
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(g.stdio.Err, err)
		}
		if o.exitCodeFrom != "" && exitCode != 130 {
			// wait for the service whose code is wanted
			for _, c := range cs {
				if c.Labels[service.LabelService] == o.exitCodeFrom {
					if ic, err := b.InspectContainer(context.WithoutCancel(ctx), c.ID); err == nil {
						exitCode = ic.ExitCode
					}
				}
			}
		}
	}
	stopLogs()
	wg.Wait()
	if exitCode != 0 {
		return &ExitError{Code: exitCode}
	}
	return nil
}

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
