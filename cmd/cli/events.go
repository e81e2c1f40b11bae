package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
)

func newEventsCmd(g *globals) *cobra.Command {
	var asJSON bool
	var since, until string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS] [SERVICE...]",
		Short: "Receive real time events from containers",
		Long: `Stream the events of the project's containers (those of the services named,
or all), one line each, as docker compose does; with --json, one JSON object
each (time, type, service, id, action, attributes).

--since replays the past events the runtime still keeps, from that time on;
--until ends the stream at that time. Both take a duration back from now
("10m"), a date and time ("2006-01-02T15:04:05", in the local zone unless
given one) or Unix seconds. The engine keeps its last 256 events; the
built-in runtime keeps its event log (the last 8 to 16 MiB of events), so
--since finds what it still holds.`,
		Example: `  berth events --json
  berth events --since 10m --until 1m web   # web's events of the last ten minutes, then exit`,
		RunE: g.withSession(func(ctx context.Context, s *session, args []string) error {
			now := time.Now()
			opts := reconcile.EventsOptions{Services: args}
			var err error
			if opts.Since, err = reconcile.ParseTimestamp(since, now); err != nil {
				return err
			}
			if opts.Until, err = reconcile.ParseTimestamp(until, now); err != nil {
				return err
			}
			out := g.stdio.Out
			return reconcile.Events(ctx, s.b, s.name, opts, func(e reconcile.ProjectEvent) error {
				if !asJSON {
					_, err := fmt.Fprintln(out, e)
					return err
				}
				b, err := json.Marshal(eventEntry{Action: e.Action, Attributes: e.Attributes, ID: e.Container,
					Service: e.Service, Time: e.Time, Type: "container"})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", b)
				return err
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "Output events as a stream of JSON objects")
	cmd.Flags().StringVar(&since, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "Stream events until this timestamp")
	return cmd
}

// eventEntry is a line of events --json: docker compose's keys, in the
// order docker compose writes them (a map's, sorted).
type eventEntry struct {
	Action     string            `json:"action"`
	Attributes map[string]string `json:"attributes"`
	ID         string            `json:"id"`
	Service    string            `json:"service"`
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
}
