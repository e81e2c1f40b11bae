package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile/logs"
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
			lo := service.LogOptions{Follow: follow, Tail: tail, Since: since, Until: until, Timestamps: timestamps}
			if output != "" {
				lo.Follow = false
				return writeLogsOutput(ctx, g, s, args, output, lo, follow || index > 0)
			}
			return runLogs(ctx, g, s, logs.Options{Project: s.name, Services: args, Index: index, Log: lo}, noColor, noPrefix)
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

// runLogs prints the output of the containers o selects, each line
// behind its container's name (see package logs).
func runLogs(ctx context.Context, g *globals, s *session, o logs.Options, noColor, noPrefix bool) error {
	cs, err := logs.Containers(ctx, s.b, o)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, displayName(c))
	}
	mux := newLogMux(g, names, noColor, noPrefix, o.Log.Timestamps)
	return logs.Follow(ctx, s.b, cs, o, func(c service.Container) io.WriteCloser { return mux.writer(displayName(c)) })
}
