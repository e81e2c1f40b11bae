package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/berthdev/berth/service"
)

// statsEntry is one container in stats --format json, with docker's keys.
type statsEntry struct {
	BlockIO   string
	CPUPerc   string
	Container string
	ID        string
	MemPerc   string
	MemUsage  string
	Name      string
	NetIO     string
	PIDs      string
}

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
}

// statsInterval is the time between two samples.
const statsInterval = time.Second

func newStatsCmd(g *globals) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [SERVICE...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		Long: `Show the CPU, memory, network, block I/O and process figures of the
services' running containers (all with -a), refreshed every second until
Ctrl+C, or once with --no-stream. CPU % is the share of one CPU used since
the previous sample (over 100% when several CPUs work).`,
		Example: `  berth stats --no-stream
  berth stats --no-stream --format json web`,
		RunE: g.withSession(func(ctx context.Context, s *session, args []string) error {
			return runStats(ctx, g, s, o, args)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	f.StringVar(&o.format, "format", "table", "Format the output: table, json, or a Go template over the json keys ('{{.Name}} {{.CPUPerc}}')")
	return cmd
}

func runStats(ctx context.Context, g *globals, s *session, o statsOptions, services []string) error {
	sr, ok := s.b.(service.StatsReader)
	if !ok {
		return fmt.Errorf("this backend has no stats: %w", service.ErrUnsupported)
	}
	clear := false
	if f, ok := g.stdio.Out.(*os.File); ok && !o.noStream && term.IsTerminal(int(f.Fd())) {
		clear = true
	}
	prev := map[string]service.Stats{}
	for first := true; ; first = false {
		cs, err := serviceContainers(ctx, s.b, s.name, services, o.all)
		if err != nil {
			return err
		}
		samples, err := sampleStats(ctx, sr, cs, g.parallelLimit())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if first {
			// CPU % needs two samples.
			for i, c := range cs {
				prev[c.ID] = samples[i]
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(statsInterval / 2):
			}
			continue
		}
		entries := make([]statsEntry, 0, len(cs))
		for i, c := range cs {
			entries = append(entries, statsRow(c, prev[c.ID], samples[i], o.noTrunc))
			prev[c.ID] = samples[i]
		}
		if clear {
			fmt.Fprint(g.stdio.Out, "\033[2J\033[H")
		}
		err = writeStats(g.stdio.Out, o.format, entries)
		if err != nil || o.noStream {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
	}
}

// sampleStats reads one sample of each container's figures, at most
// limit at a time.
func sampleStats(ctx context.Context, sr service.StatsReader, cs []service.Container, limit int) ([]service.Stats, error) {
	samples := make([]service.Stats, len(cs))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(limit)
	for i, c := range cs {
		eg.Go(func() error {
			st, err := sr.Stats(ectx, c.ID)
			if err != nil {
				return fmt.Errorf("stats of %s: %w", c.Name, err)
			}
			samples[i] = st // each goroutine its own index
			return nil
		})
	}
	return samples, eg.Wait()
}

// writeStats prints the rows as docker stats does, in format.
func writeStats(w io.Writer, format string, entries []statsEntry) error {
	return writeList(w, format, entries, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Name, e.CPUPerc, e.MemUsage, e.MemPerc, e.NetIO, e.BlockIO, e.PIDs)
		}
	})
}

// statsRow renders a container's figures as docker stats does.
func statsRow(c service.Container, prev, cur service.Stats, noTrunc bool) statsEntry {
	id := c.ID
	if !noTrunc && len(id) > 12 {
		id = id[:12]
	}
	cpu := 0.0
	if dt := cur.Read.Sub(prev.Read); dt > 0 && cur.CPU >= prev.CPU && prev.CPU > 0 {
		cpu = float64(cur.CPU-prev.CPU) / float64(dt.Nanoseconds()) * 100
	}
	mem := 0.0
	if cur.MemoryLimit > 0 {
		mem = float64(cur.Memory) / float64(cur.MemoryLimit) * 100
	}
	human := func(n uint64) string { return units.HumanSizeWithPrecision(float64(n), 3) }
	return statsEntry{
		Container: id, ID: id, Name: c.Name,
		CPUPerc:  fmt.Sprintf("%.2f%%", cpu),
		MemUsage: units.BytesSize(float64(cur.Memory)) + " / " + units.BytesSize(float64(cur.MemoryLimit)),
		MemPerc:  fmt.Sprintf("%.2f%%", mem),
		NetIO:    human(cur.NetRx) + " / " + human(cur.NetTx),
		BlockIO:  human(cur.BlockRead) + " / " + human(cur.BlockWrite),
		PIDs:     strconv.FormatUint(cur.Pids, 10),
	}
}
