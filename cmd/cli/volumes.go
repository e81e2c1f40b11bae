package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

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
			vs, err := s.b.ListVolumes(ctx, service.Filter{Labels: map[string]string{service.LabelProject: s.name}})
			if err != nil {
				return fmt.Errorf("list volumes of project %s: %w", s.name, err)
			}
			if len(args) > 0 && s.p != nil {
				used := map[string]bool{}
				for _, name := range args {
					svc := s.p.Service(name)
					if svc == nil {
						continue
					}
					for _, m := range svc.Config.Volumes {
						if m.Type != types.VolumeTypeVolume || m.Source == "" {
							continue
						}
						for _, v := range s.p.Volumes {
							if v.Key == m.Source {
								used[v.Name] = true
							}
						}
					}
				}
				var kept []service.Volume
				for _, v := range vs {
					if used[v.Name] {
						kept = append(kept, v)
					}
				}
				vs = kept
			}
			sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
			out := g.stdio.Out
			entry := func(v service.Volume) volumeEntry {
				var labels []string
				for k, val := range v.Labels {
					labels = append(labels, k+"="+val)
				}
				sort.Strings(labels)
				return volumeEntry{Driver: v.Driver, Labels: strings.Join(labels, ","), Mountpoint: v.Mountpoint, Name: v.Name, Scope: "local"}
			}
			if quiet {
				for _, v := range vs {
					fmt.Fprintln(out, v.Name)
				}
				return nil
			}
			entries := make([]volumeEntry, 0, len(vs))
			for _, v := range vs {
				entries = append(entries, entry(v))
			}
			return writeList(out, format, entries, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
				for _, v := range vs {
					fmt.Fprintf(tw, "%s\t%s\n", v.Driver, v.Name)
				}
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "table", "Format the output: table, json, or a Go template over the json keys ('{{.Name}} {{.Driver}}')")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	return cmd
}
