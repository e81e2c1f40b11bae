package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/hosttar"
	"github.com/berthdev/berth/service"
)

// Backend is what the watch loop needs of a runtime: the service's
// containers, copying into them, exec (deletions and hooks) and restart.
type Backend interface {
	ListContainers(ctx context.Context, f service.Filter) ([]service.Container, error)
	CopyTo(ctx context.Context, id, dir string, tar io.Reader) error
	Exec(ctx context.Context, id string, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error)
	RestartContainer(ctx context.Context, id string, timeout *time.Duration) error
}

// Loop runs the watch: file events, debounced into batches, applied as
// the rules say. Failed actions are reported through Warn and the watch
// goes on, as docker compose's does.
type Loop struct {
	B       Backend
	Project string
	Rules   []*Rule
	// Rebuild builds the services' images and recreates their containers
	// (the rebuild action); nil refuses rebuilds.
	Rebuild func(ctx context.Context, services []string) error
	// Log prints a status line, Warn a warning.
	Log, Warn func(msg string)
	// Out and Err receive the output of sync+exec hooks.
	Out, Err io.Writer
	// Quiet ends a batch (DefaultQuiet when zero); Parallel bounds the
	// containers synced at once (16 when zero).
	Quiet    time.Duration
	Parallel int
	// Synced, when set, is called after each batch's syncs with the
	// number of files sent (tests and benchmarks).
	Synced func(files int)

	// synced are the host paths each rule has synced so far, sent again
	// to a container that replaces or joins the service's (a recreate
	// loses what was synced into the old one's writable layer).
	synced map[*Rule]map[string]bool
	// known are the containers that have what was synced.
	known map[string]bool
}

// Run syncs the rules with initial_sync, then watches until ctx is done.
func (l *Loop) Run(ctx context.Context) error {
	for _, r := range l.Rules {
		if r.InitialSync && r.Syncs() {
			var all []string
			_ = filepath.WalkDir(r.Path, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && r.Matches(p) {
					all = append(all, p)
				}
				return nil
			})
			if len(all) > 0 {
				l.sync(ctx, r, all)
			}
		}
	}
	var paths []string
	for _, r := range l.Rules {
		if !contains(paths, r.Path) {
			paths = append(paths, r.Path)
		}
	}
	quiet := l.Quiet
	if quiet == 0 {
		quiet = DefaultQuiet
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan string, 1024)
	batches := make(chan []string)
	werr := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		werr <- watchWith(ctx, paths, events, func() { close(ready) })
		cancel()
	}()
	go Debounce(ctx, events, quiet, batches)
	select {
	case <-ready:
		l.Log("Watch enabled")
	case err := <-werr:
		return err
	}
	starts := l.watchStarts(ctx)
	for done := false; !done; {
		select {
		case batch, ok := <-batches:
			if !ok {
				done = true
				break
			}
			l.Apply(ctx, batch)
		case ev := <-starts:
			l.resync(ctx, ev)
		}
	}
	select {
	case err := <-werr:
		return err
	default:
		return nil
	}
}

// watchStarts lists the containers of the services with sync rules as
// known, then sends the start events of their containers (when the
// backend has events; else nothing).
func (l *Loop) watchStarts(ctx context.Context) <-chan service.Event {
	out := make(chan service.Event, 64)
	es, ok := l.B.(service.EventSource)
	if !ok {
		return out
	}
	syncs := map[string]bool{}
	for _, r := range l.Rules {
		if r.Syncs() {
			syncs[r.Service] = true
		}
	}
	if len(syncs) == 0 {
		return out
	}
	if l.known == nil {
		l.known = map[string]bool{}
	}
	for svc := range syncs {
		cs, _ := l.containers(ctx, svc, false)
		for _, c := range cs {
			l.known[c.ID] = true
		}
	}
	evs, _ := es.Events(ctx, service.Filter{Labels: map[string]string{service.LabelProject: l.Project}})
	go func() {
		for ev := range evs {
			if ev.Action == "start" && syncs[ev.Labels[service.LabelService]] && ev.Labels[service.LabelOneoff] != service.OneoffTrue {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// resync sends what was synced so far to a container that started for
// the first time since the watch began (a recreate, a new replica).
func (l *Loop) resync(ctx context.Context, ev service.Event) {
	if l.known[ev.ContainerID] {
		return
	}
	l.known[ev.ContainerID] = true
	c := service.Container{ID: ev.ContainerID, Name: ev.ContainerName, State: service.StateRunning}
	for _, r := range l.Rules {
		if r.Service != ev.Labels[service.LabelService] || !r.Syncs() || len(l.synced[r]) == 0 {
			continue
		}
		paths := make([]string, 0, len(l.synced[r]))
		for p := range l.synced[r] {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		l.Log(fmt.Sprintf("Re-syncing %d files into the new container %s", len(paths), ev.ContainerName))
		l.syncTo(ctx, r, paths, []service.Container{c})
	}
}

// record notes what a sync sent (present) or deleted (gone).
func (l *Loop) record(r *Rule, p string, present bool) {
	if l.synced == nil {
		l.synced = map[*Rule]map[string]bool{}
	}
	if l.synced[r] == nil {
		l.synced[r] = map[string]bool{}
	}
	if present {
		l.synced[r][p] = true
		return
	}
	for q := range l.synced[r] {
		if _, ok := under(p, q); ok {
			delete(l.synced[r], q)
		}
	}
}

// Apply carries out what a batch of changed paths asks for: rebuilds
// first (one build for all the services concerned), then, for the other
// services, syncs, restarts and hooks, rule by rule.
func (l *Loop) Apply(ctx context.Context, batch []string) {
	matched := map[*Rule][]string{}
	var rebuild []string
	for _, r := range l.Rules {
		for _, p := range batch {
			if r.Matches(p) {
				matched[r] = append(matched[r], p)
			}
		}
		if len(matched[r]) > 0 && r.Action == types.WatchActionRebuild && !contains(rebuild, r.Service) {
			rebuild = append(rebuild, r.Service)
		}
	}
	if len(rebuild) > 0 {
		sort.Strings(rebuild)
		switch {
		case l.Rebuild == nil:
			l.Warn(fmt.Sprintf("not rebuilding %s: rebuilds are off (--no-build)", strings.Join(rebuild, ", ")))
		default:
			l.Log(fmt.Sprintf("Rebuilding service(s) %q after changes were detected...", rebuild))
			if err := l.Rebuild(ctx, rebuild); err != nil {
				l.Warn(fmt.Sprintf("rebuild of %s: %v", strings.Join(rebuild, ", "), err))
			} else {
				l.Log(fmt.Sprintf("service(s) %q successfully built", rebuild))
			}
		}
	}
	restarted := map[string]bool{}
	files := 0
	for _, r := range l.Rules {
		paths := matched[r]
		if len(paths) == 0 || r.Action == types.WatchActionRebuild || contains(rebuild, r.Service) {
			continue
		}
		if r.Syncs() {
			files += l.sync(ctx, r, paths)
		}
		switch r.Action {
		case types.WatchActionRestart, types.WatchActionSyncRestart:
			if !restarted[r.Service] {
				restarted[r.Service] = true
				l.restart(ctx, r.Service)
			}
		case types.WatchActionSyncExec:
			l.exec(ctx, r)
		}
	}
	if l.Synced != nil {
		l.Synced(files)
	}
}

// containers returns the service's containers (one-offs left out); only
// the running ones with running.
func (l *Loop) containers(ctx context.Context, svc string, running bool) ([]service.Container, error) {
	cs, err := l.B.ListContainers(ctx, service.Filter{All: !running, Labels: map[string]string{service.LabelProject: l.Project, service.LabelService: svc}})
	if err != nil {
		return nil, fmt.Errorf("list the containers of %s: %w", svc, err)
	}
	out := cs[:0]
	for _, c := range cs {
		if c.Labels[service.LabelOneoff] != service.OneoffTrue && (!running || c.State == service.StateRunning) {
			out = append(out, c)
		}
	}
	return out, nil
}

// sync copies the changed paths of a rule into every container of its
// service (deleting those gone from the host) and returns how many files
// it sent.
func (l *Loop) sync(ctx context.Context, r *Rule, paths []string) int {
	return l.syncTo(ctx, r, paths, nil)
}

// syncTo is sync into the given containers (nil: the service's).
func (l *Loop) syncTo(ctx context.Context, r *Rule, paths []string, to []service.Container) int {
	var deleted []string
	var buf bytes.Buffer
	skipped := false
	// Host files are sent with their uid and gid, as docker compose's
	// watch sends them; what vanishes meanwhile is left out.
	var top string // the path being walked
	tw, err := hosttar.NewWriter(&buf, hosttar.Options{
		KeepOwner: true,
		Lenient:   true,
		Filter: func(rel string, d fs.DirEntry) (hosttar.Decision, error) {
			if !r.Matches(filepath.Join(top, filepath.FromSlash(rel))) {
				return hosttar.Exclude, nil
			}
			return hosttar.Include, nil
		},
	})
	if err != nil {
		l.Warn(fmt.Sprintf("sync %s: %v", r.Service, err))
		return 0
	}
	for _, p := range paths {
		cpath := r.ContainerPath(p)
		if r.bound(cpath) {
			skipped = true
			continue
		}
		_, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			deleted = append(deleted, cpath)
			l.record(r, p, false)
			continue
		}
		l.record(r, p, true)
		if err != nil {
			l.Warn(fmt.Sprintf("sync %s: %v", p, err))
			continue
		}
		top = p
		if err := tw.AddTree(p, strings.TrimPrefix(cpath, "/")); err != nil {
			l.Warn(fmt.Sprintf("sync %s: %v", p, err))
		}
	}
	n := tw.Files()
	if err := tw.Close(); err != nil {
		l.Warn(fmt.Sprintf("sync %s: %v", r.Service, err))
		return 0
	}
	if skipped {
		l.Warn(fmt.Sprintf("service %s: paths under a bind mount are not synced (the container sees them already)", r.Service))
	}
	if n == 0 && len(deleted) == 0 {
		return 0
	}
	cs := to
	if cs == nil {
		var err error
		if cs, err = l.containers(ctx, r.Service, false); err != nil {
			l.Warn(err.Error())
			return 0
		}
		l.Log(fmt.Sprintf("Syncing service %q after %d changes were detected", r.Service, n+len(deleted)))
	}
	if l.known == nil {
		l.known = map[string]bool{}
	}
	for _, c := range cs {
		l.known[c.ID] = true
	}
	eg, ectx := errgroup.WithContext(ctx)
	limit := l.Parallel
	if limit <= 0 {
		limit = reconcile.DefaultParallel
	}
	eg.SetLimit(limit)
	data := buf.Bytes()
	var mu sync.Mutex
	for _, c := range cs {
		eg.Go(func() error {
			if len(deleted) > 0 && c.State == service.StateRunning {
				var out bytes.Buffer
				code, err := l.B.Exec(ectx, c.ID, service.ExecSpec{Cmd: append([]string{"rm", "-rf"}, deleted...)}, nil, &out, &out)
				if err != nil || code != 0 {
					mu.Lock()
					l.Warn(fmt.Sprintf("sync %s: delete %s: exit %d %v %s", c.Name, strings.Join(deleted, " "), code, err, strings.TrimSpace(out.String())))
					mu.Unlock()
				}
			}
			if n > 0 {
				if err := l.B.CopyTo(ectx, c.ID, "/", bytes.NewReader(data)); err != nil {
					mu.Lock()
					l.Warn(fmt.Sprintf("sync %s: %v", c.Name, err))
					mu.Unlock()
				}
			}
			return nil
		})
	}
	_ = eg.Wait()
	return n
}

// restart restarts the running containers of a service.
func (l *Loop) restart(ctx context.Context, svc string) {
	cs, err := l.containers(ctx, svc, true)
	if err != nil {
		l.Warn(err.Error())
		return
	}
	for _, c := range cs {
		if err := l.B.RestartContainer(ctx, c.ID, nil); err != nil {
			l.Warn(fmt.Sprintf("restart %s: %v", c.Name, err))
		}
	}
	l.Log(fmt.Sprintf("service(s) %q restarted", []string{svc}))
}

// exec runs a sync+exec rule's hook in the running containers of its
// service.
func (l *Loop) exec(ctx context.Context, r *Rule) {
	cs, err := l.containers(ctx, r.Service, true)
	if err != nil {
		l.Warn(err.Error())
		return
	}
	spec := service.ExecSpec{Cmd: r.Exec.Command, User: r.Exec.User, WorkingDir: r.Exec.WorkingDir, Privileged: r.Exec.Privileged}
	for k, v := range r.Exec.Environment {
		if v != nil {
			spec.Env = append(spec.Env, k+"="+*v)
		}
	}
	sort.Strings(spec.Env)
	for _, c := range cs {
		code, err := l.B.Exec(ctx, c.ID, spec, nil, l.Out, l.Err)
		switch {
		case err != nil:
			l.Warn(fmt.Sprintf("exec %s in %s: %v", strings.Join(spec.Cmd, " "), c.Name, err))
		case code != 0:
			l.Warn(fmt.Sprintf("exec %s in %s: exit code %d", strings.Join(spec.Cmd, " "), c.Name, code))
		}
	}
}
