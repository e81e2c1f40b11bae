package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
)

func newEndpointsCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "endpoints [OPTIONS] [SERVICE...]",
		Short: "Print where the services' published ports are reached from this host",
		Long: `Print every published port of the project's running containers (of the
services named, or all) as a test process on this host reaches it: a port
published on every address is given as 127.0.0.1.

--format env (the default) prints shell-ready lines for the first replica of
each service, upper-cased with - and . as _, a protocol other than tcp after
the port:
  WEB_80_HOST=127.0.0.1
  WEB_80_PORT=32768
  WEB_80=127.0.0.1:32768
and, for a service with several replicas, WEB_2_80... for each one.
--format json prints {"version": 1, "project": ..., "endpoints": [{"service",
"replica", "container", "target", "protocol", "host", "port"}...]}.`,
		Example: `  eval "$(berth endpoints)"; curl "http://$WEB_80/"
  berth endpoints db --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "env" && format != "json" {
				return fmt.Errorf("unsupported format %q: use env or json", format)
			}
			ctx := cmd.Context()
			s, err := g.session(ctx, args)
			if err != nil {
				return err
			}
			defer s.close()
			eps, err := reconcile.Endpoints(ctx, s.b, s.name, args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(reconcile.NewEndpointsDocument(s.name, eps))
			}
			for _, kv := range reconcile.EndpointEnv(eps) {
				fmt.Fprintln(out, kv)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "env", "Output format: env or json")
	return cmd
}
