package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/service"
)

// newImageCmd is `berth image`: the built-in runtime's image store, for
// hosts with no engine (with an engine, use docker's own image commands).
func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the built-in runtime's images (load, ls, rm)",
		Long: "Manage the images of the built-in runtime (--backend builtin), kept under BERTH_ROOT.\n" +
			"With a Docker engine, use docker load / docker images / docker rmi instead.",
	}
	cmd.AddCommand(newImageLoadCmd(g), newImageLsCmd(g), newImageRmCmd(g))
	return cmd
}

func newImageLoadCmd(g *globals) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from a docker save or OCI-layout tarball",
		Long: "Load images from a tarball made by `docker save` or an OCI image layout tar (gzip-compressed or not),\n" +
			"read from FILE or standard input, into the built-in runtime's store.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.builtin()
			if err != nil {
				return err
			}
			var r io.Reader = g.stdio.In
			if input != "" && input != "-" {
				if !filepath.IsAbs(input) {
					input = filepath.Join(g.wd, input) // relative to -C/the working directory
				}
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("load: %w", err)
				}
				defer f.Close()
				r = f
			}
			refs, err := b.LoadImages(cmd.Context(), r)
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			for _, ref := range refs {
				if quiet {
					fmt.Fprintln(g.stdio.Out, ref)
				} else if strings.HasPrefix(ref, "sha256:") {
					fmt.Fprintln(g.stdio.Out, "Loaded image ID: "+ref)
				} else {
					fmt.Fprintln(g.stdio.Out, "Loaded image: "+ref)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from this tar file instead of standard input")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Print only the loaded references")
	return cmd
}

func newImageLsCmd(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the built-in runtime's images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.builtin()
			if err != nil {
				return err
			}
			imgs, err := b.Images().List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdio.Out, 0, 0, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(tw, "REPOSITORY:TAG\tIMAGE ID\tSIZE")
			}
			for _, img := range imgs {
				id := strings.TrimPrefix(img.ID, "sha256:")[:12]
				if quiet {
					fmt.Fprintln(tw, id)
					continue
				}
				var size int64
				for _, l := range img.Layers {
					size += l.Size
				}
				refs := img.Refs
				if len(refs) == 0 {
					refs = []string{"<none>"}
				}
				for _, ref := range refs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.TrimPrefix(strings.TrimPrefix(ref, "docker.io/"), "library/"), id, humanSize(size))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Print only image IDs")
	return cmd
}

func newImageRmCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm IMAGE...",
		Aliases: []string{"remove"},
		Short:   "Remove images from the built-in runtime's store",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan := images.RemovePlan(args, force)
			if g.dryRun {
				printPlan(g, plan)
				return nil
			}
			b, err := g.builtin()
			if err != nil {
				return err
			}
			if err := removeImages(cmd.Context(), g, b, plan); err != nil {
				return err
			}
			_, err = b.PruneLayers()
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Remove even if a container uses it")
	return cmd
}

// removeImages applies the plan of image rm, one image after the other
// (as docker rmi, the first failure stops it), saying "Untagged: REF" for
// each image removed.
func removeImages(ctx context.Context, g *globals, b service.Backend, plan *reconcile.Plan) error {
	return reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{Parallel: 1, Progress: func(e reconcile.Event) {
		if e.Status == reconcile.StatusDone {
			fmt.Fprintln(g.stdio.Out, "Untagged: "+e.Step.Object)
		}
	}})
}

// humanSize prints a byte count as docker does (decimal units).
func humanSize(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if f < 1000 {
			return fmt.Sprintf("%.3g%s", f, u)
		}
		f /= 1000
	}
	return fmt.Sprintf("%.3gTB", f)
}
