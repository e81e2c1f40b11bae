package cli

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/service"
)

func newLogsCmd(g *globals) *cobra.Command {
	var (
		follow, timestamps, noColor, noPrefix bool
		tail, since, until                    string
		index                                 int
		output                                string
	)
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		Long:  "Print the services' output, each line behind its container's name. With -f, keep following, including containers started or restarted meanwhile, until Ctrl+C.",
		Example: `  berth logs -f web
  berth logs -n 20 --since 10m`,
		RunE: g.withSession(func(ctx context.Context, s *session, args []string) error {
			if output != "" {
				return writeLogsOutput(ctx, g, s, args, output, service.LogOptions{Tail: tail, Since: since, Until: until, Timestamps: timestamps}, follow || index > 0)
			}
			logger, ok := s.b.(service.Logger)
			if !ok {
				return fmt.Errorf("this backend cannot read logs: %w", service.ErrUnsupported)
			}
			all, err := s.b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: s.name}, All: true})
			if err != nil {
				return err
			}
			cs := selectContainers(all, args, nil)
			if index > 0 {
				var keep []service.Container
				for _, c := range cs {
					if c.Labels[service.LabelContainerNumber] == fmt.Sprint(index) {
						keep = append(keep, c)
					}
				}
				cs = keep
			}
			var names []string
			for _, c := range cs {
				names = append(names, displayName(c))
			}
			mux := newLogMux(g, names, noColor, noPrefix, timestamps)
			opts := service.LogOptions{Follow: follow, Tail: tail, Since: since, Until: until, Timestamps: timestamps}
			var wg sync.WaitGroup
			// followed holds the containers being followed; pending, the
			// options to follow one again once its current stream ends (it
			// restarted meanwhile).
			// The engine does not always end a follow stream when its
			// container restarts (dockerd 20.10 keeps it open, silent): a
			// restart cancels the stream and follows again.
			followed := map[string]context.CancelFunc{}
			pending := map[string]*service.LogOptions{}
			var mu sync.Mutex
			start := func(c service.Container, o service.LogOptions) {
				mu.Lock()
				if cancel, ok := followed[c.ID]; ok {
					pending[c.ID] = &o
					cancel()
					mu.Unlock()
					return
				}
				fctx, cancel := context.WithCancel(ctx)
				followed[c.ID] = cancel
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						_ = mux.follow(fctx, logger, c, o)
						mu.Lock()
						next := pending[c.ID]
						delete(pending, c.ID)
						if next == nil || ctx.Err() != nil {
							followed[c.ID]()
							delete(followed, c.ID)
							mu.Unlock()
							return
						}
						fctx, cancel = context.WithCancel(ctx)
						followed[c.ID] = cancel
						mu.Unlock()
						o = *next
					}
				}()
			}
			// events from before the streams start: a restart while the
			// event stream connects is not missed
			since := time.Now()
			for _, c := range cs {
				start(c, opts)
			}
			if follow {
				followNew(ctx, s, args, since, func(c service.Container) {
					o := opts
					o.Tail, o.Since = "all", "0"
					if c.StartedAt.Unix() > 0 {
						o.Since = fmt.Sprint(c.StartedAt.Unix())
					}
					start(c, o)
				})
			}
			wg.Wait()
			// with -f, keep going while a container of the selection runs:
			// followNew picks up those that start or restart
			for follow && ctx.Err() == nil {
				running, err := serviceContainers(ctx, s.b, s.name, args, false)
				if err == nil && len(running) == 0 {
					// a restart stops a container before it starts it
					// again: give it a moment
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
					running, err = serviceContainers(ctx, s.b, s.name, args, false)
				}
				if err != nil || len(running) == 0 {
					break
				}
				for _, c := range running {
					o := opts
					o.Tail = "0"
					start(c, o)
				}
				wg.Wait()
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	f.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	f.StringVar(&since, "since", "", "Show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
	f.StringVar(&until, "until", "", "Show logs before a timestamp or relative")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	f.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&noPrefix, "no-log-prefix", false, "Don't print a prefix in logs")
	f.IntVar(&index, "index", 0, "Index of the container if the service has several replicas")
	f.StringVar(&output, "output", "", "Write each service's logs to DIR/<service>.log (plain text, for CI artifacts) instead of printing them")
	return cmd
}

// followNew calls fn for every container of the project (of the services,
// when named) that starts from since on (from the moment it is called when
// the backend keeps no event history), until ctx is done. Without an event
// stream it returns at once.
func followNew(ctx context.Context, s *session, services []string, since time.Time, fn func(service.Container)) {
	es, ok := s.b.(service.EventSource)
	if !ok {
		return
	}
	want := map[string]bool{}
	for _, svc := range services {
		want[svc] = true
	}
	f := service.Filter{Labels: map[string]string{service.LabelProject: s.name}}
	var evs <-chan service.Event
	var errs <-chan error
	if eh, ok := s.b.(service.EventHistory); ok {
		evs, errs = eh.EventsBetween(ctx, f, since, time.Time{})
	} else {
		evs, errs = es.Events(ctx, f)
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
				if c, err := s.b.InspectContainer(ctx, ev.ContainerID); err == nil {
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
