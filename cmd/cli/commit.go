package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

func newCommitCmd(g *globals) *cobra.Command {
	var opts service.CommitOptions
	var index int
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] SERVICE [REPOSITORY[:TAG]]",
		Short: "Create a new image from a service container's changes",
		Long: `Make an image of a running container of the service (the lowest replica, or
--index): its filesystem changes on top of its image, with its command,
environment and labels, as docker commit does. On the built-in runtime the
image goes to its image store; volumes and bind mounts are not part of it.`,
		Example: `  berth commit web                 # an untagged image of web's container
  berth commit web app:snapshot    # tagged
  berth commit -c 'CMD ["sh"]' -m "debug state" web app:debug`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				opts.Reference = args[1]
			}
			return runCommit(cmd.Context(), g, args[0], index, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&index, "index", 0, "Index of the container if the service has several replicas (default: the lowest)")
	f.BoolVarP(&opts.Pause, "pause", "p", true, "Pause the container during the commit")
	f.StringVarP(&opts.Comment, "message", "m", "", "Commit message")
	f.StringVarP(&opts.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	f.StringArrayVarP(&opts.Changes, "change", "c", nil, "Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR)")
	return cmd
}

// runCommit commits the service's container through a plan: --dry-run
// prints it, else Apply runs it and the progress says the image's ID.
func runCommit(ctx context.Context, g *globals, svc string, index int, opts service.CommitOptions) error {
	s, err := g.session(ctx, []string{svc})
	if err != nil {
		return err
	}
	defer s.close()
	c, err := runningReplica(ctx, s, svc, index)
	if err != nil {
		return err
	}
	plan, err := reconcile.Commit(c, opts)
	if err != nil {
		return err
	}
	if g.dryRun {
		printPlan(g, plan)
		return nil
	}
	pr := newProgress(g)
	return reconcile.Apply(ctx, s.b, plan, reconcile.ApplyOptions{Project: s.name, Parallel: g.parallelLimit(), Journal: g.journal,
		Progress: func(e reconcile.Event) {
			// docker compose's words: "Committing", "Committed as <ID>"
			switch e.Status {
			case reconcile.StatusWorking:
				pr.line("Container", e.Step.Object, "Committing", false)
			case reconcile.StatusDone:
				pr.line("Container", e.Step.Object, "Committed as "+e.Step.Made, false)
			case reconcile.StatusFailed:
				pr.line("Container", e.Step.Object, "Error: "+e.Err.Error(), false)
			}
		}})
}

func newExportCmd(g *globals) *cobra.Command {
	var output string
	var index int
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] SERVICE",
		Short: "Export a service container's filesystem as a tar archive",
		Long: `Write the filesystem of a running container of the service (the lowest
replica, or --index) as a tar archive, to standard output or, with -o, to a
file (written whole or not at all), as docker export does: its image with its
changes, without volumes and bind mounts. Standard output must not be a
terminal.`,
		Example: `  berth export web > web.tar
  berth export -o web.tar --index 2 web`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd.Context(), g, args[0], index, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.Flags().IntVar(&index, "index", 0, "Index of the container if the service has several replicas (default: the lowest)")
	return cmd
}

// runExport exports the service's container to output ("": standard
// output, which must not be a terminal). A dry run writes nothing and
// says what it would write.
func runExport(ctx context.Context, g *globals, svc string, index int, output string) error {
	s, err := g.session(ctx, []string{svc})
	if err != nil {
		return err
	}
	defer s.close()
	c, err := runningReplica(ctx, s, svc, index)
	if err != nil {
		return err
	}
	if output == "" {
		if f, ok := g.stdio.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return errors.New("output option is required when exporting to terminal")
		}
	}
	if g.dryRun {
		to := output
		if to == "" {
			to = "standard output"
		}
		fmt.Fprintf(g.stdio.Out, "export container %s to %s\n", c.Name, to)
		return nil
	}
	pr := newProgress(g)
	pr.line("Container", c.Name, "Exporting", false)
	if output == "" {
		err = reconcile.Export(ctx, s.b, c, g.stdio.Out)
	} else {
		err = reconcile.ExportFile(ctx, s.b, c, output)
	}
	if err != nil {
		return err
	}
	pr.line("Container", c.Name, "Exported", false)
	return nil
}
