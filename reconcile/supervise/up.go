package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// Output shows the output of the containers an attached up follows.
type Output interface {
	// Follow writes what l gives of c with opts (Timestamps set: each line
	// starts with its time) and returns the time of the last line shown,
	// zero when none was.
	Follow(ctx context.Context, l service.Logger, c service.Container, opts service.LogOptions) (time.Time, error)
	// Status prints a line about c ("exited with code 0").
	Status(c service.Container, msg string)
}

// UpOptions steer an attached up: which containers' output is shown and
// when it ends.
type UpOptions struct {
	// Services are the services named on the command line (none: all).
	Services []string
	// Attach shows only these services' output; NoAttach hides theirs.
	// Without Attach, an up of named services shows theirs only, unless
	// AttachDependencies.
	Attach, NoAttach   []string
	AttachDependencies bool
	// AbortOnExit stops every container once one stops; AbortOnFailure
	// once one exits with a code other than 0.
	AbortOnExit, AbortOnFailure bool
	// ExitCodeFrom is the service whose exit code Up returns (it implies
	// AbortOnExit; a one-shot service that completes does not abort).
	ExitCodeFrom string
	// Since is when the up started: the output shown starts there.
	Since time.Time
	// Output is called once with the containers whose output is shown,
	// before any is; it returns where that output goes.
	Output func(shown []service.Container) Output
	// Stop stops the services' containers when the up ends early (nil: a
	// reconcile.Stop plan applied with Apply).
	Stop func(ctx context.Context, services []string) error
	// Apply are the options of the plans Up applies itself.
	Apply reconcile.ApplyOptions
	// Notices gets what Up says about the end ("Aborting on container
	// exit...") and a failed stop (nil: discarded).
	Notices io.Writer
	// Interrupts, when set, starts listening to the user's interrupts
	// (Ctrl+C) once a stop began: the next one kills the containers. It
	// returns the channel and what stops listening.
	Interrupts func() (<-chan os.Signal, func())
	// RestartGrace is how long a container that exited is given to be
	// restarted by its restart policy before it counts as stopped (0:
	// 200ms).
	RestartGrace time.Duration
}

// exit is a followed container that stopped for good, with its code.
type exit struct {
	c    service.Container
	code int
}

// Up shows the output of the project's service containers until they all
// stop, one of them stops (with the abort options), or ctx is done (the
// user's Ctrl+C): then it stops them. It returns the exit code of the up:
// ExitCodeFrom's, the code of the container that aborted it, 130 when ctx
// ended it, else 0.
func Up(ctx context.Context, b service.Backend, p *project.Project, o UpOptions) (int, error) {
	logger, _ := b.(service.Logger)
	waiter, _ := b.(service.Waiter)
	if logger == nil || waiter == nil {
		return 0, fmt.Errorf("attached up: %w (use -d)", service.ErrUnsupported)
	}
	if o.Output == nil {
		return 0, errors.New("attached up: no output given")
	}
	if o.ExitCodeFrom != "" {
		o.AbortOnExit = true
	}
	cs, err := ServiceContainers(ctx, b, p.Name, nil, true)
	if err != nil {
		return 0, err
	}
	shown := Shown(p, cs, o)
	f := &follower{b: b, logger: logger, waiter: waiter, out: o.Output(shown), since: o.Since, grace: o.RestartGrace}
	if f.grace <= 0 {
		f.grace = 200 * time.Millisecond
	}
	// A second context, not cancelled by the first Ctrl+C, so that the
	// output of stopping containers is still shown.
	logCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLogs()
	exits := make(chan exit, len(shown))
	var wg sync.WaitGroup
	for _, c := range shown {
		wg.Go(func() { f.follow(logCtx, c, exits) })
	}
	code, reason := awaitEnd(ctx, p, o, exits, len(shown))
	if reason != "" {
		code = abort(ctx, b, p, cs, o, code, reason)
	}
	stopLogs()
	wg.Wait()
	return code, nil
}

// Shown picks, among cs, the containers whose output an attached up shows.
func Shown(p *project.Project, cs []service.Container, o UpOptions) []service.Container {
	attach := map[string]bool{}
	for _, s := range p.Services {
		attach[s.Name] = s.Config.Attach == nil || *s.Config.Attach
	}
	only := o.Attach
	if len(only) == 0 && len(o.Services) > 0 && !o.AttachDependencies {
		only = o.Services // up web: web's output, not its dependencies', as compose
	}
	if len(only) > 0 {
		for k := range attach {
			attach[k] = false
		}
		for _, s := range only {
			attach[s] = true
		}
	}
	for _, s := range o.NoAttach {
		attach[s] = false
	}
	if o.ExitCodeFrom != "" {
		attach[o.ExitCodeFrom] = true // its exit is awaited
	}
	var shown []service.Container
	for _, c := range cs {
		if attach[c.Labels[service.LabelService]] {
			shown = append(shown, c)
		}
	}
	return shown
}

// follower follows the output of an attached up's containers.
type follower struct {
	b      service.Backend
	logger service.Logger
	waiter service.Waiter
	out    Output
	since  time.Time
	grace  time.Duration
}

// follow shows c's output until it stops for good (a restart policy may
// bring it back: its runs are shown, each once), then sends its exit.
func (f *follower) follow(ctx context.Context, c service.Container, exits chan<- exit) {
	opts := service.LogOptions{Follow: true, Since: strconv.FormatInt(f.since.Unix(), 10), Stdout: true, Stderr: true, Timestamps: true}
	for {
		last, _ := f.out.Follow(ctx, f.logger, c, opts)
		if !last.IsZero() {
			// go on right after the last line shown: the runs a restart
			// policy makes, however quick, none twice
			next := last.Add(time.Nanosecond)
			opts.Since = fmt.Sprintf("%d.%09d", next.Unix(), next.Nanosecond())
		}
		code, err := f.waiter.WaitContainer(ctx, c.ID)
		if err != nil {
			return
		}
		select {
		case <-time.After(f.grace):
		case <-ctx.Done():
		}
		ic, err := f.b.InspectContainer(ctx, c.ID)
		if err == nil && (ic.State == service.StateRunning || ic.State == service.StateRestarting) {
			f.out.Status(c, fmt.Sprintf("exited with code %d (restarting)", code))
			continue
		}
		if err == nil {
			code = ic.ExitCode // the last run's
		}
		// the last run's output, if it started and ended meanwhile
		opts.Follow = false
		_, _ = f.out.Follow(ctx, f.logger, c, opts)
		f.out.Status(c, fmt.Sprintf("exited with code %d", code))
		exits <- exit{c, code}
		return
	}
}

// The reasons an attached up ends early, as docker compose words them.
const (
	reasonExit      = "Aborting on container exit..."
	reasonInterrupt = "Gracefully stopping... (press Ctrl+C again to force)"
)

// awaitEnd waits until the n containers followed have stopped, one stop
// aborts the up, or ctx is done. It returns the exit code so far and why
// the up ends early ("" when it does not).
func awaitEnd(ctx context.Context, p *project.Project, o UpOptions, exits <-chan exit, n int) (int, string) {
	code := 0
	for ; n > 0; n-- {
		var e exit
		select {
		case e = <-exits:
		case <-ctx.Done():
			return 130, reasonInterrupt
		}
		svc := p.Service(e.c.Labels[service.LabelService])
		aborts := o.AbortOnExit || (o.AbortOnFailure && e.code != 0)
		if o.ExitCodeFrom != "" && e.c.Labels[service.LabelService] == o.ExitCodeFrom {
			code = e.code
		} else if o.ExitCodeFrom == "" && aborts {
			code = e.code
		}
		if o.ExitCodeFrom != "" && e.code == 0 && svc != nil && svc.Name != o.ExitCodeFrom && reconcile.OneShot(svc.Config) {
			continue // a one-shot (a migration...) that is done: the run goes on
		}
		if aborts {
			return code, reasonExit
		}
	}
	return code, ""
}

// abort stops every container of the project ("stops all containers", as
// compose says), or kills them on the next interrupt, and returns the exit
// code of the up: ExitCodeFrom's container's once stopped, else code.
func abort(ctx context.Context, b service.Backend, p *project.Project, cs []service.Container, o UpOptions, code int, reason string) int {
	notices := o.Notices
	if notices == nil {
		notices = io.Discard
	}
	fmt.Fprintln(notices, reason)
	stopCtx, cancelStop := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStop()
	killed := killOnInterrupt(stopCtx, cancelStop, b, cs, o, notices)
	var services []string
	for _, s := range p.Services {
		services = append(services, s.Name)
	}
	stop := o.Stop
	if stop == nil {
		stop = func(ctx context.Context, services []string) error { return stopPlan(ctx, b, p, services, o.Apply) }
	}
	err := stop(stopCtx, services)
	cancelStop()
	<-killed
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(notices, err)
	}
	if o.ExitCodeFrom != "" && code != 130 {
		// the code of the service whose code is wanted, now stopped
		for _, c := range cs {
			if c.Labels[service.LabelService] != o.ExitCodeFrom {
				continue
			}
			if ic, err := b.InspectContainer(context.WithoutCancel(ctx), c.ID); err == nil {
				code = ic.ExitCode
			}
		}
	}
	return code
}

// killOnInterrupt kills cs (a plan of SIGKILL steps) and cancels the stop
// when an interrupt comes before ctx is done. The channel it returns is
// closed once it is done.
func killOnInterrupt(ctx context.Context, cancelStop func(), b service.Backend, cs []service.Container, o UpOptions, notices io.Writer) <-chan struct{} {
	done := make(chan struct{})
	if o.Interrupts == nil {
		close(done)
		return done
	}
	sigs, stopListening := o.Interrupts()
	go func() {
		defer close(done)
		defer stopListening()
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(notices, "Killing...")
		cancelStop()
		plan := reconcile.Signal(cs, reconcile.OpKillContainer, "SIGKILL")
		for _, s := range plan.Steps {
			s.Optional = true // one that stopped meanwhile is no failure
		}
		aopts := o.Apply
		aopts.Progress = nil
		_ = reconcile.Apply(context.WithoutCancel(ctx), b, plan, aopts)
	}()
	return done
}

// stopPlan stops the containers of services with a reconcile.Stop plan.
func stopPlan(ctx context.Context, b service.Backend, p *project.Project, services []string, opts reconcile.ApplyOptions) error {
	obs, err := reconcile.Observe(ctx, b, p.Name, nil)
	if err != nil {
		return err
	}
	opts.Project = p.Name
	return reconcile.Apply(ctx, b, reconcile.Stop(p, obs, services), opts)
}
