package cli

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile/listing"
	"github.com/berthdev/berth/service"
)

func newPortCmd(g *globals) *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			private, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("invalid port %q", args[1])
			}
			s, err := g.session(ctx, args[:1])
			if err != nil {
				return err
			}
			defer s.close()
			c, err := runningReplica(ctx, s, args[0], index)
			if err != nil {
				return err
			}
			for _, p := range c.Ports {
				if int(p.ContainerPort) == private && p.Protocol == protocol && p.HostPort != 0 {
					ip := p.HostIP
					if ip == "" {
						ip = "0.0.0.0"
					}
					fmt.Fprintf(g.stdio.Out, "%s:%d\n", ip, p.HostPort)
					return nil
				}
			}
			return fmt.Errorf("no port %d/%s published for service %s", private, protocol, args[0])
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 0, "Index of the container if the service has several replicas (default: the lowest)")
	return cmd
}

func newWaitCmd(g *globals) *cobra.Command {
	var downProject bool
	cmd := &cobra.Command{
		Use:   "wait SERVICE [SERVICE...]",
		Short: "Block until the containers of the services stop, and print their exit codes",
		Long:  "Wait for every container of the services to stop. The exit code is the last one seen; with --down-project the project is taken down afterwards.",
		Args:  cobra.MinimumNArgs(1),
		RunE: g.withSession(func(ctx context.Context, s *session, args []string) error {
			w, ok := s.b.(service.Waiter)
			if !ok {
				return fmt.Errorf("this backend cannot wait for containers: %w", service.ErrUnsupported)
			}
			cs, err := serviceContainers(ctx, s.b, s.name, args, true)
			if err != nil {
				return err
			}
			last := 0
			for _, c := range cs {
				code, err := w.WaitContainer(ctx, c.ID)
				if err != nil {
					return &ExitError{Code: 42, Msg: err.Error()}
				}
				fmt.Fprintln(g.stdio.Out, code)
				last = code
			}
			if downProject {
				unlock, err := g.lockProject(ctx, s.b, s.name)
				if err != nil {
					return err
				}
				defer unlock()
				if err := runDown(ctx, g, s.b, s.p, s.name, downOptions{timeout: -1}); err != nil {
					return err
				}
			}
			if last != 0 {
				return &ExitError{Code: last}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&downProject, "down-project", false, "Take the project down when the containers stop")
	return cmd
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newLsCmd(g *globals) *cobra.Command {
	var all, quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Example: `  berth ls -a
  berth ls --filter name=^shop   # projects whose name matches a regular expression`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := listing.ProjectsOptions{All: all}
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok || k != "name" {
					return fmt.Errorf("invalid --filter %q: only name=REGEXP is supported", f)
				}
				re, err := regexp.Compile(v)
				if err != nil {
					return fmt.Errorf("invalid --filter %q: %w", f, err)
				}
				o.Names = append(o.Names, re)
			}
			return runLs(cmd.Context(), g, o, quiet, format)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all stopped projects too")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Filter the projects: name=REGEXP (a match anywhere in the name, as docker compose)")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table, json, or a Go template ('{{.Name}} {{.Status}}')")
	return cmd
}

// runLs is ls: listing.Projects, printed as the flags say.
func runLs(ctx context.Context, g *globals, o listing.ProjectsOptions, quiet bool, format string) error {
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	list, err := listing.Projects(ctx, b, o)
	if err != nil {
		return err
	}
	out := g.stdio.Out
	if quiet {
		for _, p := range list {
			fmt.Fprintln(out, p.Name)
		}
		return nil
	}
	// docker compose's ls: a table with columns at least 20 wide, JSON as
	// one array ("[]" for none)
	return writeListStyled(out, format, list, listStyle{minWidth: 20, jsonArray: true}, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, p.ConfigFiles)
		}
	})
}

func newCreateCmd(g *globals) *cobra.Command {
	up := newUpCmd(g)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SERVICE...]",
		Short: "Create containers for the services without starting them",
		RunE: func(cmd *cobra.Command, args []string) error {
			o := upOptions{noStart: true, timeout: -1, pull: "policy"}
			f := cmd.Flags()
			o.forceRecreate, _ = f.GetBool("force-recreate")
			o.noRecreate, _ = f.GetBool("no-recreate")
			o.removeOrphans, _ = f.GetBool("remove-orphans")
			o.scale, _ = f.GetStringArray("scale")
			o.yes, _ = f.GetBool("yes")
			o.build, _ = f.GetBool("build")
			o.noBuild, _ = f.GetBool("no-build")
			o.pull, _ = f.GetString("pull")
			o.quietPull, _ = f.GetBool("quiet-pull")
			o.quietBuild, _ = f.GetBool("quiet-build")
			return runUp(cmd.Context(), g, o, args)
		},
	}
	for _, name := range []string{"force-recreate", "no-recreate", "remove-orphans", "scale", "yes", "build", "no-build", "pull", "quiet-pull", "quiet-build"} {
		cmd.Flags().AddFlag(up.Flags().Lookup(name))
	}
	return cmd
}

func newScaleCmd(g *globals) *cobra.Command {
	var noDeps bool
	cmd := &cobra.Command{
		Use:   "scale [SERVICE=REPLICAS...]",
		Short: "Scale services",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var services []string
			for _, a := range args {
				name, _, _ := strings.Cut(a, "=")
				services = append(services, name)
			}
			o := upOptions{detach: true, timeout: -1, pull: "policy", scale: args, noDeps: noDeps}
			return runUp(cmd.Context(), g, o, services)
		},
	}
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't start linked services")
	return cmd
}
