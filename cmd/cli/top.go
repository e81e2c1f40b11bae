package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/service"
)

func newTopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "Display the running processes",
		Long: `List the processes of the project's running containers (all services', or
those named), one-off containers included: for each container, in name order,
its name on a line, then its processes as ps -ef prints them on the engine's
host (so the PIDs are the host's), then an empty line.`,
		Example: `  berth top
  berth top web worker`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTop(cmd.Context(), g, args)
		},
	}
}

func runTop(ctx context.Context, g *globals, services []string) error {
	s, err := g.session(ctx, services)
	if err != nil {
		return err
	}
	defer s.close()
	tp, ok := s.b.(service.Toper)
	if !ok {
		return fmt.Errorf("this backend cannot list processes: %w", service.ErrUnsupported)
	}
	all, err := s.b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: s.name}})
	if err != nil {
		return fmt.Errorf("list containers of project %s: %w", s.name, err)
	}
	cs := selectContainers(all, services, nil)

	type table struct {
		titles []string
		procs  [][]string
	}
	tables := make([]*table, len(cs))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(g.parallelLimit())
	for i, c := range cs {
		eg.Go(func() error {
			titles, procs, err := tp.Top(ectx, c.ID, nil)
			switch {
			case errors.Is(err, service.ErrNotFound), errors.Is(err, service.ErrConflict):
				return nil // stopped or removed since listed
			case err != nil:
				return err
			}
			tables[i] = &table{titles, procs}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for i, c := range cs {
		if t := tables[i]; t != nil {
			if err := printTop(g.stdio.Out, c.Name, t.titles, t.procs); err != nil {
				return err
			}
		}
	}
	return nil
}

// printTop writes the processes of one container as docker compose top
// does: the container's name, the table, and an empty line.
func printTop(w io.Writer, name string, titles []string, procs [][]string) error {
	if _, err := fmt.Fprintln(w, name); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 5, 1, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(titles, "\t"))
	for _, p := range procs {
		for _, field := range p {
			fmt.Fprint(tw, field, "\t")
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}
