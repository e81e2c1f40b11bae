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

// psEntry is one container in ps --format json: docker compose's keys, in
// its (alphabetical) order and with its values — the short ID and the
// quoted, truncated command unless --no-trunc, docker's time and duration
// texts, labels, mounts and networks as comma-separated lists.
type psEntry struct {
	Command      string
	CreatedAt    string
	Engine       string
	ExitCode     int
	Health       string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Name         string
	Names        string
	Networks     string
	Ports        string
	Project      string
	Publishers   []publisher
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string
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
		noTrunc, orphans     bool
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
				if len(args) == 0 && !orphans {
					// only the services the files declare (and enable)
					for _, s := range p.Services {
						args = append(args, s.Name)
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
					entries = append(entries, toPsEntry(c, !noTrunc, time.Now()))
				}
				return writeList(out, format, entries, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
					for _, e := range entries {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Image, e.Command, e.Service, e.RunningFor, e.Status, e.Ports)
					}
				})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers, stopped ones too")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output (IDs, commands, mount names)")
	f.BoolVar(&services, "services", false, "Display services")
	f.BoolVar(&orphans, "orphans", true, "Include orphaned containers (of services the compose files do not declare); --orphans=false hides them")
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

// toPsEntry renders c as docker compose's ps does at now.
func toPsEntry(c service.Container, trunc bool, now time.Time) psEntry {
	id, command := c.ID, c.Command
	if trunc {
		if len(id) > 12 {
			id = id[:12]
		}
		command = ellipsis(command, 20)
	}
	labels := make([]string, 0, len(c.Labels))
	for k, v := range c.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	var mounts []string
	local := 0
	for _, m := range c.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		} else {
			local++ // berth's volumes are all the local driver's
		}
		if trunc {
			name = ellipsis(name, 15)
		}
		mounts = append(mounts, name)
	}
	networks := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		networks = append(networks, n)
	}
	sort.Strings(networks)
	e := psEntry{
		Command: strconv.Quote(command), ExitCode: c.ExitCode, Health: c.Health, ID: id, Image: c.Image,
		Labels: strings.Join(labels, ","), LocalVolumes: strconv.Itoa(local), Mounts: strings.Join(mounts, ","),
		Name: c.Name, Names: c.Name, Networks: strings.Join(networks, ","), Ports: ports(c.Ports),
		Project: c.Labels[service.LabelProject], Publishers: []publisher{}, Service: c.Labels[service.LabelService],
		Size: "0B", State: c.State, Status: c.Status,
	}
	if !c.Created.IsZero() {
		e.CreatedAt = time.Unix(c.Created.Unix(), 0).String()
		e.RunningFor = service.HumanDuration(now.Sub(c.Created)) + " ago"
	}
	for _, p := range c.Ports {
		e.Publishers = append(e.Publishers, publisher{URL: p.HostIP, TargetPort: p.ContainerPort, PublishedPort: p.HostPort, Protocol: p.Protocol})
	}
	return e
}

// ellipsis cuts s to n characters, the last one "…", as docker's
// formatter does.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func ports(ps []service.Port) string {
	var out []string
	for _, p := range ps {
		if p.HostPort == 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
			continue
		}
		ip := p.HostIP
		switch {
		case ip == "":
			ip = "0.0.0.0"
		case strings.Contains(ip, ":"):
			ip = "[" + ip + "]" // as docker: [::]:8080->80/tcp
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}
