// Package logs reads the output of a project's containers as docker compose
// logs does: the containers of the services named (one replica with
// Index), every stream printed through a Sink, and with Follow the streams
// kept open — also of containers that start or restart meanwhile — until
// no container of the selection runs or the context ends.
package logs

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/berthdev/berth/service"
)

// Options select the containers and what of their output is read.
type Options struct {
	// Project is the project's name; Services restricts the containers to
	// those services (none: all of them, one-offs included).
	Project  string
	Services []string
	// Index keeps only the replica with this number (0: all).
	Index int
	// Log is what each stream reads; Log.Follow keeps following.
	Log service.LogOptions
}

// Sink gives the writer a container's output goes to (standard output and
// error alike); Follow closes it when the stream ends.
type Sink func(c service.Container) io.WriteCloser

// Containers lists the containers whose output o selects (stopped ones
// too), sorted by name.
func Containers(ctx context.Context, b service.Backend, o Options) ([]service.Container, error) {
	all, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: o.Project}, All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", o.Project, err)
	}
	want := map[string]bool{}
	for _, s := range o.Services {
		want[s] = true
	}
	var out []service.Container
	for _, c := range all {
		if len(want) > 0 && !want[c.Labels[service.LabelService]] {
			continue
		}
		if o.Index > 0 && c.Labels[service.LabelContainerNumber] != strconv.Itoa(o.Index) {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Follow prints the output of cs through sink, one stream per container
// at a time. Without o.Log.Follow it returns when every stream has ended.
// With it, it also follows the containers of the selection that start
// later (from the event stream, when the backend has one) and goes on while
// one of them runs; it returns nil when ctx ends. It needs a
// service.Logger.
func Follow(ctx context.Context, b service.Backend, cs []service.Container, o Options, sink Sink) error {
	l, ok := b.(service.Logger)
	if !ok {
		return fmt.Errorf("this backend cannot read logs: %w", service.ErrUnsupported)
	}
	f := &follower{ctx: ctx, l: l, sink: sink, followed: map[string]context.CancelFunc{}, pending: map[string]*service.LogOptions{}}
	// events from before the streams start: a restart while the event
	// stream connects is not missed
	since := time.Now()
	for _, c := range cs {
		f.start(c, o.Log)
	}
	if !o.Log.Follow {
		f.wg.Wait()
		return nil
	}
	started(ctx, b, o, since, func(c service.Container) {
		lo := o.Log
		lo.Tail, lo.Since = "all", "0"
		if c.StartedAt.Unix() > 0 {
			lo.Since = strconv.FormatInt(c.StartedAt.Unix(), 10)
		}
		f.start(c, lo)
	})
	f.wg.Wait()
	// keep going while a container of the selection runs: started picks up
	// those that start or restart
	for ctx.Err() == nil {
		running := runningAfterPause(ctx, b, o)
		if len(running) == 0 {
			break
		}
		for _, c := range running {
			lo := o.Log
			lo.Tail = "0"
			f.start(c, lo)
		}
		f.wg.Wait()
	}
	return nil
}

// runningAfterPause lists the running containers of the selection; when
// there are none it looks again a second later (a restart stops a
// container before it starts it again). Nil on an error.
func runningAfterPause(ctx context.Context, b service.Backend, o Options) []service.Container {
	running, err := runningOf(ctx, b, o)
	if err == nil && len(running) == 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		running, err = runningOf(ctx, b, o)
	}
	if err != nil {
		return nil
	}
	return running
}

// runningOf lists the running service containers (one-offs aside) of the
// selection.
func runningOf(ctx context.Context, b service.Backend, o Options) ([]service.Container, error) {
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: o.Project}})
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, s := range o.Services {
		want[s] = true
	}
	var out []service.Container
	for _, c := range cs {
		if c.Labels[service.LabelOneoff] == service.OneoffTrue || (len(want) > 0 && !want[c.Labels[service.LabelService]]) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// follower runs one stream per container. The engine does not always end
// a follow stream when its container restarts (dockerd 20.10 keeps it
// open, silent): a restart cancels the stream and follows again.
type follower struct {
	ctx  context.Context
	l    service.Logger
	sink Sink
	wg   sync.WaitGroup

	mu sync.Mutex
	// followed holds the containers being followed; pending, the options
	// to follow one again once its current stream ends (it restarted
	// meanwhile).
	followed map[string]context.CancelFunc
	pending  map[string]*service.LogOptions
}

// start follows c with o, or, when c is followed already, ends that
// stream and follows it again with o.
func (f *follower) start(c service.Container, o service.LogOptions) {
	f.mu.Lock()
	if cancel, ok := f.followed[c.ID]; ok {
		f.pending[c.ID] = &o
		cancel()
		f.mu.Unlock()
		return
	}
	sctx, cancel := context.WithCancel(f.ctx)
	f.followed[c.ID] = cancel
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			f.stream(sctx, c, o)
			f.mu.Lock()
			next := f.pending[c.ID]
			delete(f.pending, c.ID)
			if next == nil || f.ctx.Err() != nil {
				f.followed[c.ID]()
				delete(f.followed, c.ID)
				f.mu.Unlock()
				return
			}
			sctx, cancel = context.WithCancel(f.ctx)
			f.followed[c.ID] = cancel
			f.mu.Unlock()
			o = *next
		}
	}()
}

// stream copies one log stream of c to the sink. Its error is dropped: the
// container may be gone, and the others go on.
func (f *follower) stream(ctx context.Context, c service.Container, o service.LogOptions) {
	w := f.sink(c)
	defer w.Close()
	o.Stdout, o.Stderr = true, true
	_ = f.l.Logs(ctx, c.ID, o, w, w)
}

// started calls fn for every container of the selection that starts from
// since on (from now when the backend keeps no event history), until ctx is
// done. Without an event stream it does nothing.
func started(ctx context.Context, b service.Backend, o Options, since time.Time, fn func(service.Container)) {
	es, ok := b.(service.EventSource)
	if !ok {
		return
	}
	want := map[string]bool{}
	for _, svc := range o.Services {
		want[svc] = true
	}
	filter := service.Filter{Labels: map[string]string{service.LabelProject: o.Project}}
	var evs <-chan service.Event
	var errs <-chan error
	if eh, ok := b.(service.EventHistory); ok {
		evs, errs = eh.EventsBetween(ctx, filter, since, time.Time{})
	} else {
		evs, errs = es.Events(ctx, filter)
	}
	go func() {
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					return
				}
				if ev.Action != "start" || (len(want) > 0 && !want[ev.Labels[service.LabelService]]) || (!ev.Time.IsZero() && ev.Time.Before(since)) {
					continue
				}
				if c, err := b.InspectContainer(ctx, ev.ContainerID); err == nil {
					fn(c)
				}
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}
