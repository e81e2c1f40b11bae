package reconcile

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/service"
)

// DefaultParallel bounds the backend calls Apply makes at once when
// ApplyOptions.Parallel is not set.
const DefaultParallel = 32

// Limit is the bound a fan-out uses given COMPOSE_PARALLEL_LIMIT's value:
// that number when it is one above 0, else DefaultParallel. Every fan-out
// of berth (plan steps, image pulls and builds, observation, stats, cp,
// top, watch) uses this one bound.
func Limit(env string) int {
	if n, err := strconv.Atoi(strings.TrimSpace(env)); err == nil && n > 0 {
		return n
	}
	return DefaultParallel
}

// Status is where a step is in its run.
type Status int

// Step statuses reported to ApplyOptions.Progress.
const (
	StatusWorking Status = iota + 1
	StatusDone
	StatusWarning
	StatusFailed
)

// Event reports the progress of one step.
type Event struct {
	Step   *Step
	Status Status
	// Err is the failure (StatusFailed) or the reason of a warning.
	Err error
	// Text is what a provider reports while it works (StatusWorking).
	Text string
}

// ApplyOptions steer Apply.
type ApplyOptions struct {
	// Project is the project name; it filters the event stream waits use.
	Project string
	// Parallel bounds concurrent backend calls (DefaultParallel when <= 0).
	Parallel int
	// StopTimeout is the grace period of stop steps (nil: each container's).
	StopTimeout *time.Duration
	// Progress, if set, is called as steps start and end. It must not block.
	Progress func(Event)
	// Journal, if set, is called as a step's backend call starts, and the
	// function it returns as the call returns, with true when the call was
	// cut short by cancellation (the runtime may still carry it out): for
	// the project lock's record of calls under way. It must not block.
	Journal func(*Step) (done func(abandoned bool))
	// Providers runs the run-provider steps; a plan with such steps fails
	// without it.
	Providers ProviderRunner
	// KeepGoing runs every step that does not depend on a failed one, and
	// returns all the failures, joined (pulls and pushes report every
	// failed image at once); by default the first failure cancels the
	// steps not yet started.
	KeepGoing bool
}

// Apply runs the plan's steps in dependency order, independent steps in
// parallel, at most opts.Parallel backend calls at a time. The first failure
// cancels what has not started and is returned; steps already done stay
// done, and the next Diff plans from there. Optional steps (a network still
// in use at down, an optional dependency) end in a warning instead.
func Apply(ctx context.Context, b service.Backend, plan *Plan, opts ApplyOptions) error {
	if plan.Empty() {
		return nil
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(Event) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var w *waiter
	for _, s := range plan.Steps {
		if s.Op == OpWait {
			w = newWaiter(ctx, b, opts.Project)
			break
		}
	}

	done := make(map[*Step]chan struct{}, len(plan.Steps))
	for _, s := range plan.Steps {
		done[s] = make(chan struct{})
	}
	sem := make(chan struct{}, parallel)
	made := &madeNetworks{ids: map[*Step]string{}}
	failed := &failures{steps: map[*Step]bool{}}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range plan.Steps {
		g.Go(func() error {
			for _, d := range s.Deps {
				select {
				case <-done[d]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			if failed.any(s.Deps) {
				failed.add(s, nil) // a step after a failed one is not run
				close(done[s])
				return nil
			}
			progress(Event{Step: s, Status: StatusWorking})
			var err error
			if s.Op == OpWait {
				err = w.wait(gctx, s.Target, s.Condition)
			} else {
				select {
				case sem <- struct{}{}:
				case <-gctx.Done():
					return gctx.Err()
				}
				var done func(bool)
				if opts.Journal != nil {
					done = opts.Journal(s)
				}
				if s.Op == OpRunProvider {
					err = runProvider(gctx, s, opts, progress)
				} else if s.Op == OpRunHook {
					err = runHookContainer(gctx, b, s)
				} else {
					err = run(gctx, b, s, opts, made)
				}
				if done != nil {
					done(err != nil && gctx.Err() != nil)
				}
				<-sem
			}
			switch {
			case err == nil:
				progress(Event{Step: s, Status: StatusDone})
			case s.Optional && gctx.Err() == nil:
				progress(Event{Step: s, Status: StatusWarning, Err: err})
			case opts.KeepGoing && gctx.Err() == nil:
				progress(Event{Step: s, Status: StatusFailed, Err: err})
				failed.add(s, err)
			default:
				if gctx.Err() == nil {
					progress(Event{Step: s, Status: StatusFailed, Err: err})
				}
				return err
			}
			close(done[s])
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = failed.join()
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		if cerr := context.Cause(ctx); cerr != nil {
			return cerr
		}
	}
	return err
}

// failures are the steps that failed under ApplyOptions.KeepGoing, and
// their errors.
type failures struct {
	mu    sync.Mutex
	steps map[*Step]bool
	errs  []error
}

func (f *failures) add(s *Step, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps[s] = true
	if err != nil {
		f.errs = append(f.errs, err)
	}
}

func (f *failures) any(steps []*Step) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(steps, func(s *Step) bool { return f.steps[s] })
}

// join returns the failures sorted by their text, joined; nil if none.
func (f *failures) join() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	slices.SortFunc(f.errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(f.errs...)
}

// madeNetworks holds the IDs of the networks create steps made, so that
// the connect steps after them address the network by ID.
type madeNetworks struct {
	mu  sync.Mutex
	ids map[*Step]string
}

func (m *madeNetworks) set(s *Step, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[s] = id
}

// network is what a connect or disconnect step names its network by: the
// ID the plan knows, else the ID a create step it depends on got, else the
// name.
func (m *madeNetworks) network(s *Step) string {
	if s.NetworkID != "" {
		return s.NetworkID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range s.Deps {
		if id := m.ids[d]; id != "" && d.Object == s.Network {
			return id
		}
	}
	return s.Network
}

// endpoints returns eps (a copy when it changes anything) with the IDs of
// the networks that create steps s depends on made.
func (m *madeNetworks) endpoints(s *Step, eps []service.Endpoint) []service.Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, cloned := eps, false
	for i, ep := range eps {
		if ep.NetworkID != "" {
			continue
		}
		for _, d := range s.Deps {
			if id := m.ids[d]; id != "" && d.Op == OpCreateNetwork && d.Object == ep.Network {
				if !cloned {
					out, cloned = slices.Clone(eps), true
				}
				out[i].NetworkID = id
			}
		}
	}
	return out
}

// run makes the backend call of one step.
func run(ctx context.Context, b service.Backend, s *Step, opts ApplyOptions, made *madeNetworks) error {
	switch s.Op {
	case OpCreateNetwork:
		id, err := b.CreateNetwork(ctx, *s.NetworkSpec)
		if errors.Is(err, service.ErrConflict) {
			// made meanwhile by another run for this project: go on with it
			id = ours(ctx, b, s.NetworkSpec)
			if id != "" {
				err = nil
			}
		}
		if err == nil {
			made.set(s, id)
		}
		return err
	case OpRemoveNetwork:
		err := b.RemoveNetwork(ctx, s.Target)
		if errors.Is(err, service.ErrNotFound) {
			return nil
		}
		if errors.Is(err, service.ErrConflict) {
			return fmt.Errorf("network %s: resource is still in use", s.Object)
		}
		return err
	case OpConnectNetwork:
		return b.ConnectNetwork(ctx, made.network(s), s.Target, s.Endpoint)
	case OpDisconnectNetwork:
		err := b.DisconnectNetwork(ctx, made.network(s), s.Target, true)
		if errors.Is(err, service.ErrNotFound) {
			return nil
		}
		return err
	case OpCreateVolume:
		_, err := b.CreateVolume(ctx, *s.VolumeSpec)
		return err
	case OpRemoveVolume:
		err := b.RemoveVolume(ctx, s.Target, true)
		if errors.Is(err, service.ErrNotFound) {
			return nil
		}
		return err
	case OpCreateContainer:
		spec := *s.Container
		spec.Networks = made.endpoints(s, spec.Networks)
		_, err := b.CreateContainer(ctx, spec)
		return err
	case OpStopContainer:
		if err := runHooks(ctx, b, s, "pre_stop"); err != nil {
			return err
		}
		err := b.StopContainer(ctx, s.Target, opts.StopTimeout)
		if errors.Is(err, service.ErrNotFound) {
			return nil
		}
		return err
	case OpRemoveContainer:
		err := b.RemoveContainer(ctx, s.Target, service.RemoveOptions{Force: true, Volumes: s.RemoveVolumes})
		if errors.Is(err, service.ErrNotFound) {
			return nil
		}
		return err
	case OpRenameContainer:
		return b.RenameContainer(ctx, s.Target, s.NewName)
	case OpRemoveImage:
		rm, ok := b.(service.ImageRemover)
		if !ok {
			return fmt.Errorf("image %s: this backend cannot remove images: %w", s.Object, service.ErrUnsupported)
		}
		err := rm.RemoveImage(ctx, s.Target, s.Force)
		if errors.Is(err, service.ErrNotFound) && s.Optional {
			return nil
		}
		if errors.Is(err, service.ErrConflict) {
			return fmt.Errorf("image %s: resource is still in use", s.Object)
		}
		return err
	case OpKillContainer, OpPauseContainer, OpUnpauseContainer:
		sig, ok := b.(service.Signaller)
		if !ok {
			return fmt.Errorf("container %s: this backend cannot signal containers: %w", s.Object, service.ErrUnsupported)
		}
		switch s.Op {
		case OpKillContainer:
			return sig.KillContainer(ctx, s.Target, s.Signal)
		case OpPauseContainer:
			return sig.PauseContainer(ctx, s.Target)
		}
		return sig.UnpauseContainer(ctx, s.Target)
	case OpCommitContainer:
		cm, ok := b.(service.Committer)
		if !ok {
			return fmt.Errorf("container %s: this backend cannot commit containers: %w", s.Object, service.ErrUnsupported)
		}
		var opts service.CommitOptions
		if s.Commit != nil {
			opts = *s.Commit
		}
		id, err := cm.CommitContainer(ctx, s.Target, opts)
		if err != nil {
			return fmt.Errorf("commit container %s: %w", s.Object, err)
		}
		s.Made = id
		return nil
	case OpStartContainer:
		if len(s.Files) > 0 {
			if err := inject(ctx, b, s.Target, s.Files); err != nil {
				return err
			}
		}
		if err := b.StartContainer(ctx, s.Target); err != nil {
			return err
		}
		return runHooks(ctx, b, s, "post_start")
	case OpPullImage, OpBuildImage, OpPushImage, OpCopyTo, OpCopyFrom:
		if s.Action == nil {
			return fmt.Errorf("step %s: no action to carry it out", s)
		}
		return s.Action.Run(ctx, b)
	case OpCreateSwarmService, OpUpdateSwarmService, OpRemoveSwarmService, OpWaitSwarmService,
		OpCreateSwarmNetwork, OpRemoveSwarmNetwork, OpCreateSwarmSecret, OpRemoveSwarmSecret,
		OpCreateSwarmConfig, OpRemoveSwarmConfig:
		return runSwarm(ctx, b, s, func(w error) {
			if opts.Progress != nil {
				opts.Progress(Event{Step: s, Status: StatusWarning, Err: w})
			}
		})
	}
	return fmt.Errorf("step %s: unknown operation", s)
}

// ours returns the ID of the network of spec's name, which a create found
// taken, when it carries spec's project label (another run for the same
// project made it meanwhile, and the plan can go on with it), else "".
// Among several, the oldest, as the engine backend's creators settle.
func ours(ctx context.Context, b service.Backend, spec *service.NetworkSpec) string {
	proj := spec.Labels[service.LabelProject]
	if proj == "" {
		return ""
	}
	nets, err := b.ListNetworks(ctx, service.Filter{Labels: map[string]string{service.LabelProject: proj}})
	if err != nil {
		return ""
	}
	var same []service.Network
	for _, n := range nets {
		if n.Name == spec.Name {
			same = append(same, n)
		}
	}
	if len(same) == 0 {
		return ""
	}
	keep, _ := KeepNetwork(same)
	return keep.ID
}

// runHooks runs a step's hooks in its container, in order; a hook that
// fails (or exits non-zero) fails the step, as with docker compose.
func runHooks(ctx context.Context, b service.Backend, s *Step, kind string) error {
	if len(s.Hooks) == 0 {
		return nil
	}
	ex, ok := b.(service.Execer)
	if !ok {
		return fmt.Errorf("container %s: %s hooks: %w", s.Object, kind, service.ErrUnsupported)
	}
	for _, h := range s.Hooks {
		var out bytes.Buffer
		code, err := ex.Exec(ctx, s.Target, h, nil, &out, &out)
		if err != nil {
			return fmt.Errorf("container %s: %s hook %v: %w", s.Object, kind, h.Cmd, err)
		}
		if code != 0 {
			// docker compose's words first ("web hook exited with status
			// 3"), then which hook, where, and what it printed
			detail := fmt.Sprintf("%s %v in container %s", kind, h.Cmd, s.Object)
			if o := strings.TrimSpace(out.String()); o != "" {
				detail += ": " + o
			}
			return fmt.Errorf("%s hook exited with status %d (%s)", s.Service, code, detail)
		}
	}
	return nil
}

// inject copies secrets and configs into a container before it starts.
func inject(ctx context.Context, b service.Backend, container string, files []File) error {
	cp, ok := b.(service.Copier)
	if !ok {
		return fmt.Errorf("container %s: secrets and configs from environment or content: %w", container, service.ErrUnsupported)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/" && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
		}
	}
	for dir := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir[1:] + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: f.Mode, Size: int64(len(f.Content)), Uid: f.UID, Gid: f.GID, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return cp.CopyTo(ctx, container, "/", &buf)
}

// waiter waits for containers to reach a condition, woken by the backend's
// event stream when it has one, with a slow re-check as a safety net.
type waiter struct {
	b        service.Backend
	events   bool
	mu       sync.Mutex
	watchers map[string][]chan struct{}
}

// recheck is how often a wait inspects the container again without an
// event (safety net), and pollInterval how often without an event stream.
const (
	recheck      = 2 * time.Second
	pollInterval = 200 * time.Millisecond
)

func newWaiter(ctx context.Context, b service.Backend, projectName string) *waiter {
	w := &waiter{b: b, watchers: map[string][]chan struct{}{}}
	es, ok := b.(service.EventSource)
	if !ok {
		return w
	}
	w.events = true
	f := service.Filter{}
	if projectName != "" {
		f.Labels = map[string]string{service.LabelProject: projectName}
	}
	evs, errs := es.Events(ctx, f)
	go func() {
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					return
				}
				w.notify(ev.ContainerName)
				w.notify(ev.ContainerID)
			case <-errs:
				w.mu.Lock()
				w.events = false
				w.mu.Unlock()
				return
			}
		}
	}()
	return w
}

func (w *waiter) notify(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.watchers[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (w *waiter) watch(name string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.watchers[name] = append(w.watchers[name], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.watchers[name]
		for i, c := range list {
			if c == ch {
				w.watchers[name] = append(list[:i], list[i+1:]...)
				break
			}
		}
	}
}

// wait blocks until container name meets cond, failing as soon as it
// cannot any more (unhealthy, exited with an error, gone).
func (w *waiter) wait(ctx context.Context, name, cond string) error {
	ch, stop := w.watch(name)
	defer stop()
	for {
		c, err := w.b.InspectContainer(ctx, name)
		if err != nil {
			return fmt.Errorf("dependency failed to start: %w", err)
		}
		ok, err := Check(c, cond)
		if ok || err != nil {
			return err
		}
		w.mu.Lock()
		interval := pollInterval
		if w.events {
			interval = recheck
		}
		w.mu.Unlock()
		t := time.NewTimer(interval)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// Check reports whether c meets cond, or an error when it never will.
func Check(c service.Container, cond string) (bool, error) {
	// A container that stopped is reported as such before its health: the
	// engine marks a stopped container unhealthy, which says nothing of
	// why it stopped.
	exited := c.State == service.StateExited || c.State == service.StateDead
	switch cond {
	case CondHealthy:
		switch {
		case exited:
			return false, fmt.Errorf("dependency failed to start: container %s exited (%d)%s", c.Name, c.ExitCode, killedHint(c.ExitCode))
		case c.State == service.StateRestarting && c.Health == service.HealthUnhealthy:
			return false, fmt.Errorf("dependency failed to start: container %s exited (%d)%s and is restarting", c.Name, c.ExitCode, killedHint(c.ExitCode))
		case c.Health == service.HealthHealthy:
			return true, nil
		case c.Health == service.HealthUnhealthy:
			return false, fmt.Errorf("dependency failed to start: container %s is unhealthy", c.Name)
		case c.Health == "" && c.State == service.StateRunning:
			return false, fmt.Errorf("dependency failed to start: container %s has no healthcheck configured", c.Name)
		}
	case CondCompleted:
		if exited {
			if c.ExitCode == 0 {
				return true, nil
			}
			return false, fmt.Errorf("service %q didn't complete successfully: exit %d", c.Labels[service.LabelService], c.ExitCode)
		}
	case CondReady:
		if exited && c.ExitCode == 0 {
			return true, nil // a one-shot that is done
		}
		return Check(c, CondRunningOrHealthy)
	case CondRunningOrHealthy:
		switch {
		case exited:
			return false, fmt.Errorf("container %s exited (%d)%s", c.Name, c.ExitCode, killedHint(c.ExitCode))
		case c.State == service.StateRestarting && c.Health == service.HealthUnhealthy:
			return false, fmt.Errorf("container %s exited (%d)%s and is restarting", c.Name, c.ExitCode, killedHint(c.ExitCode))
		case c.Health == service.HealthUnhealthy:
			return false, fmt.Errorf("container %s is unhealthy", c.Name)
		case c.State == service.StateRunning && (c.Health == "" || c.Health == service.HealthHealthy):
			return true, nil
		}
	default:
		return false, fmt.Errorf("unknown wait condition %q", cond)
	}
	return false, nil
}

// killedHint names the signal of an exit code above 128 (137: ", killed
// by SIGKILL"), "" otherwise.
func killedHint(code int) string {
	names := map[int]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 15: "SIGTERM"}
	if code <= 128 || code > 128+64 {
		return ""
	}
	if n, ok := names[code-128]; ok {
		return ", killed by " + n
	}
	return fmt.Sprintf(", killed by signal %d", code-128)
}

// WaitReady waits until every container named meets its condition, as up
// --wait does: with events where the backend has them.
func WaitReady(ctx context.Context, b service.Backend, projectName string, conds map[string]string) error {
	w := newWaiter(ctx, b, projectName)
	g, gctx := errgroup.WithContext(ctx)
	for name, cond := range conds {
		g.Go(func() error { return w.wait(gctx, name, cond) })
	}
	return g.Wait()
}
