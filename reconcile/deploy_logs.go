package reconcile

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/service"
)

// DeployLogsOptions select what DeployLogs reads.
type DeployLogsOptions struct {
	// Services are the compose services whose logs are read; empty: all
	// the project's deployed services.
	Services []string
	// Log are the options of each service's log stream (Follow, Tail...).
	Log service.LogOptions
}

// DeployLogs writes the logs of the project's services deployed on the
// swarm manager behind b (berth deploy logs), every replica's, through the
// service logs API: the lines of service s go to the writers out(s)
// returns (s is the compose service name), which are closed when its
// stream ends. The streams are read at once (with Follow, until ctx is
// done). A named service that is not deployed is an error, before any
// stream is read.
func DeployLogs(ctx context.Context, b service.Backend, namespace string, opts DeployLogsOptions, out func(service string) (stdout, stderr io.WriteCloser)) error {
	sw, err := swarmOf(b)
	if err != nil {
		return err
	}
	lg, ok := b.(service.SwarmLogger)
	if !ok {
		return fmt.Errorf("deploy logs: %w: this backend cannot read swarm service logs", service.ErrUnsupported)
	}
	observed, err := sw.SwarmState(ctx, namespace)
	if err != nil {
		return err
	}
	deployed := map[string]string{} // compose service → swarm service ID
	for _, s := range observed.Services {
		deployed[strings.TrimPrefix(s.Name, namespace+"_")] = s.ID
	}
	names := opts.Services
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(deployed))
	}
	for _, n := range names {
		if _, ok := deployed[n]; !ok {
			return fmt.Errorf("service %s is not deployed in stack %s (berth deploy ps lists what is)", n, namespace)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range names {
		stdout, stderr := out(n)
		g.Go(func() error {
			err := lg.SwarmLogs(gctx, deployed[n], false, opts.Log, stdout, stderr)
			stdout.Close()
			stderr.Close()
			if err != nil {
				return fmt.Errorf("service %s: %w", n, err)
			}
			return nil
		})
	}
	return g.Wait()
}
