package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/service"
)

// psEntry is one container in ps --format json, with docker compose's keys.
type psEntry struct {
	ID         string
	Name       string
	Image      string
	Command    string
	Project    string
	Service    string
	CreatedAt  string
	State      string
	Status     string
	Health     string
	ExitCode   int
	Publishers []publisher
}

type publisher struct {
	URL           string
	TargetPort    uint16
	PublishedPort uint16
	Protocol      string
}

func newPsCmd(g *globals) *cobra.Command {
	var (
		all, quiet, services bool
		format               string
		status, filter       []string
	)
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		Long:  "List the project's containers: running ones, or all with -a.",
		Example: `  berth ps -a
  berth ps --format json
  berth ps -q web          # IDs, for scripts`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			for _, f := range filter {
				k, v, ok := strings.Cut(f, "=")
				if !ok || k != "status" {
					return fmt.Errorf("invalid --filter %q: only status=STATE is supported", f)
				}
				status = append(status, v)
			}
			if len(status) > 0 {
				all = true
			}
			p, name, err := g.projectOrName(ctx, nil)
			if err != nil {
				return err
			}
			if p != nil {
				for _, s := range args {
					if p.Service(s) == nil {
						return fmt.Errorf("no such service: %s", s)
					}
				}
			}
			b, closeBackend, err := g.backend(ctx)
			if err != nil {
				return err
			}
			defer closeBackend()
			cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: name}, All: all})
			if err != nil {
				return fmt.Errorf("list containers of project %s: %w", name, err)
			}
			if !all {
				// one-off (run) containers only with -a, as docker compose
				var kept []service.Container
				for _, c := range cs {
					if c.Labels[service.LabelOneoff] != service.OneoffTrue {
						kept = append(kept, c)
					}
				}
				cs = kept
			}
			cs = selectContainers(cs, args, status)
			out := cmd.OutOrStdout()
			switch {
			case services:
				seen := map[string]bool{}
				for _, c := range cs {
					s := c.Labels[service.LabelService]
					if !seen[s] {
						seen[s] = true
						fmt.Fprintln(out, s)
					}
				}
			case quiet:
				for _, c := range cs {
					fmt.Fprintln(out, c.ID)
				}
			default:
				entries := make([]psEntry, 0, len(cs))
				for _, c := range cs {
					entries = append(entries, toPsEntry(c))
				}
				return writeList(out, format, entries, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
					for _, c := range cs {
						fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", c.Name, c.Image, truncate(c.Command, 20), c.Labels[service.LabelService], ago(c.Created), c.Status, ports(c.Ports))
					}
				})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers, stopped ones too")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	f.BoolVar(&services, "services", false, "Display services")
	f.StringVar(&format, "format", "table", "Format the output: table, json, or a Go template over the json keys ('{{.Service}} {{.State}}')")
	f.StringArrayVar(&status, "status", nil, "Filter by status: created, restarting, running, removing, paused, exited, dead")
	f.StringArrayVar(&filter, "filter", nil, "Filter by property (status=STATE)")
	return cmd
}

// selectContainers keeps the containers of the services (all when none)
// in one of the states (any when none), sorted by name; one-offs are kept.
func selectContainers(cs []service.Container, services, states []string) []service.Container {
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	st := map[string]bool{}
	for _, s := range states {
		st[s] = true
	}
	var out []service.Container
	for _, c := range cs {
		if len(want) > 0 && !want[c.Labels[service.LabelService]] {
			continue
		}
		if len(st) > 0 && !st[c.State] {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func toPsEntry(c service.Container) psEntry {
	e := psEntry{
		ID: c.ID, Name: c.Name, Image: c.Image, Command: c.Command,
		Project: c.Labels[service.LabelProject], Service: c.Labels[service.LabelService],
		CreatedAt: c.Created.UTC().Format(time.RFC3339), State: c.State, Status: c.Status,
		Health: c.Health, ExitCode: c.ExitCode, Publishers: []publisher{},
	}
	for _, p := range c.Ports {
		e.Publishers = append(e.Publishers, publisher{URL: p.HostIP, TargetPort: p.ContainerPort, PublishedPort: p.HostPort, Protocol: p.Protocol})
	}
	return e
}

func ports(ps []service.Port) string {
	var out []string
	for _, p := range ps {
		if p.HostPort == 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
			continue
		}
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// ago renders a time as docker does ("5 seconds ago").
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " seconds ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " minutes ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " hours ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}
