package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// imageEntry is a line of images --format json, with docker compose
// v5's keys.
type imageEntry struct {
	ID            string     `json:"ID"`
	ContainerName string     `json:"ContainerName"`
	Repository    string     `json:"Repository"`
	Tag           string     `json:"Tag"`
	Platform      string     `json:"Platform"`
	Size          int64      `json:"Size"`
	Created       *time.Time `json:"Created,omitempty"`
	LastTagTime   time.Time  `json:"LastTagTime,omitzero"`
}

func newImagesCmd(g *globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		Long: `List the image of each container of the project (all of them, or those of
the services named), as docker compose v5 does: repository, tag, platform, ID,
size and age. A container whose image is gone is listed with what it knows of
it.`,
		RunE: g.withSession(func(ctx context.Context, s *session, args []string) error {
			all, err := s.b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: s.name}, All: true})
			if err != nil {
				return err
			}
			sums, err := reconcile.ImageSummaries(ctx, s.b, selectContainers(all, args, nil), g.parallelLimit())
			if err != nil {
				return err
			}
			return printImages(g, sums, format, quiet, time.Now())
		}),
	}
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table, json, or a Go template ('{{.Repository}}:{{.Tag}}')")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	return cmd
}

// printImages prints the summaries as docker compose images does: IDs
// (without "sha256:", once each), a JSON array, or its table.
func printImages(g *globals, sums []reconcile.ImageSummary, format string, quiet bool, now time.Time) error {
	out := g.stdio.Out
	switch {
	case quiet:
		var ids []string
		for _, s := range sums {
			if id := strings.TrimPrefix(s.ID, "sha256:"); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			fmt.Fprintln(out, id)
		}
		return nil
	}
	list := make([]imageEntry, 0, len(sums))
	for _, s := range sums {
		e := imageEntry{ID: s.ID, ContainerName: s.Container, Repository: s.Repository, Tag: s.Tag,
			Platform: s.Platform(), Size: s.Size, LastTagTime: s.LastTagTime}
		if !s.Created.IsZero() {
			e.Created = &s.Created
		}
		list = append(list, e)
	}
	// docker compose's table: columns at least 20 wide, 3 apart
	return writeListStyled(out, format, list, listStyle{minWidth: 20, jsonArray: true}, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED")
		for _, s := range sums {
			repo, tag := s.Repository, s.Tag
			if repo == "" {
				repo = "<none>"
			}
			if tag == "" {
				tag = "<none>"
			}
			created := "N/A"
			if !s.Created.IsZero() {
				created = units.HumanDuration(now.Sub(s.Created)) + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Container, repo, tag, s.Platform(), shortImageID(s.ID),
				units.HumanSizeWithPrecision(float64(s.Size), 3), created)
		}
	})
}
