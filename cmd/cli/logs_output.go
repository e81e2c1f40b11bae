package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// writeLogsOutput is logs --output DIR: reconcile.WriteLogFiles, then the
// files written, one a line.
func writeLogsOutput(ctx context.Context, g *globals, s *session, services []string, dir string, lo service.LogOptions, conflicting bool) error {
	if conflicting {
		return errors.New("--output cannot be combined with --follow or --index")
	}
	files, err := reconcile.WriteLogFiles(ctx, s.b, s.name, dir, reconcile.LogFilesOptions{Services: services, Log: lo, Parallel: g.parallelLimit()})
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintf(g.stdio.Err, "no containers found for project %q: no log file written\n", s.name)
	}
	for _, f := range files {
		fmt.Fprintln(g.stdio.Out, f)
	}
	return nil
}
