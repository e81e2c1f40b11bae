package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile/listing"
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

// psOptions are ps's flags.
type psOptions struct {
	all, quiet, services bool
	noTrunc, orphans     bool
	format               string
	status, filter       []string
}

func newPsCmd(g *globals) *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		Long:  "List the project's containers: running ones, or all with -a.",
		Example: `  berth ps -a
  berth ps --format json
  berth ps -q web          # IDs, for scripts`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers, stopped ones too")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display IDs")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output (IDs, commands, mount names)")
	f.BoolVar(&o.services, "services", false, "Display services")
	f.BoolVar(&o.orphans, "orphans", true, "Include orphaned containers (of services the compose files do not declare); --orphans=false hides them")
	f.StringVar(&o.format, "format", "table", "Format the output: table, json, or a Go template over the json keys ('{{.Service}} {{.State}}')")
	f.StringArrayVar(&o.status, "status", nil, "Filter by status: created, restarting, running, removing, paused, exited, dead")
	f.StringArrayVar(&o.filter, "filter", nil, "Filter by property (status=STATE)")
	return cmd
}

// runPs is ps: listing.Containers, printed as the flags say.
func runPs(ctx context.Context, g *globals, o psOptions, args []string) error {
	lo := listing.ContainersOptions{All: o.all, States: o.status}
	for _, f := range o.filter {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "status" {
			return fmt.Errorf("invalid --filter %q: only status=STATE is supported", f)
		}
		lo.States = append(lo.States, v)
	}
	p, name, err := g.projectOrName(ctx, nil)
	if err != nil {
		return err
	}
	lo.Project, lo.Services = name, args
	if p != nil {
		for _, s := range args {
			if p.Service(s) == nil {
				return fmt.Errorf("no such service: %s", s)
			}
		}
		if len(args) == 0 && !o.orphans {
			// only the services the files declare (and enable)
			for _, s := range p.Services {
				lo.Services = append(lo.Services, s.Name)
			}
		}
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	cs, err := listing.Containers(ctx, b, lo)
	if err != nil {
		return err
	}
	return printPs(g.stdio.Out, o, cs)
}

// printPs prints the containers as ps's flags say: service names, IDs, or
// a list in --format.
func printPs(out io.Writer, o psOptions, cs []service.Container) error {
	switch {
	case o.services:
		seen := map[string]bool{}
		for _, c := range cs {
			s := c.Labels[service.LabelService]
			if !seen[s] {
				seen[s] = true
				fmt.Fprintln(out, s)
			}
		}
		return nil
	case o.quiet:
		for _, c := range cs {
			fmt.Fprintln(out, c.ID)
		}
		return nil
	}
	entries := make([]psEntry, 0, len(cs))
	for _, c := range cs {
		entries = append(entries, toPsEntry(c, !o.noTrunc, time.Now()))
	}
	return writeList(out, o.format, entries, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Image, e.Command, e.Service, e.RunningFor, e.Status, e.Ports)
		}
	})
}

// selectContainers keeps the containers of the services (all when none)
// in one of the states (any when none), sorted by name (listing.Select).
func selectContainers(cs []service.Container, services, states []string) []service.Container {
	return listing.Select(cs, services, states)
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
