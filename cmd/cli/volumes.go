package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile/listing"
	"github.com/berthdev/berth/service"
)

// volumeEntry is one volume in volumes --format json, with docker's keys.
type volumeEntry struct {
	Driver     string
	Labels     string
	Mountpoint string
	Name       string
	Scope      string
}

func newVolumesCmd(g *globals) *cobra.Command {
	var (
		format string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "volumes [OPTIONS] [SERVICE...]",
		Short: "List volumes",
		Long: `List the project's volumes (those berth or docker compose created for it),
or only those the named services mount.`,
		Example: `  berth volumes
  berth volumes -q db         # names, for scripts
  berth volumes --format json`,
		RunE: g.withSession(func(ctx context.Context, s *session, args []string) error {
			vs, err := listing.Volumes(ctx, s.b, s.name, s.p, args)
			if err != nil {
				return err
			}
			return printVolumes(g.stdio.Out, vs, quiet, format)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "table", "Format the output: table, json, or a Go template over the json keys ('{{.Name}} {{.Driver}}')")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	return cmd
}

// printVolumes prints the volumes' names (quiet) or a list in format.
func printVolumes(out io.Writer, vs []service.Volume, quiet bool, format string) error {
	if quiet {
		for _, v := range vs {
			fmt.Fprintln(out, v.Name)
		}
		return nil
	}
	entries := make([]volumeEntry, 0, len(vs))
	for _, v := range vs {
		labels := make([]string, 0, len(v.Labels))
		for k, val := range v.Labels {
			labels = append(labels, k+"="+val)
		}
		sort.Strings(labels)
		entries = append(entries, volumeEntry{Driver: v.Driver, Labels: strings.Join(labels, ","), Mountpoint: v.Mountpoint, Name: v.Name, Scope: "local"})
	}
	return writeList(out, format, entries, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%s\n", v.Driver, v.Name)
		}
	})
}
