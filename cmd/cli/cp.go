package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/dockercp"
)

// cpOptions are the flags of berth cp.
type cpOptions struct {
	index      int  // replica to copy from or to; 0: the first
	all        bool // copy into every replica
	archive    bool // keep the local files' uid and gid
	followLink bool // follow a symbolic link at the source
}

func newCpCmd(g *globals) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use: `cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-
  berth cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH`,
		Short: "Copy files/folders between a service container and the local filesystem",
		Long: `Copy a file or a directory out of a service's container, or into it, as
docker cp does. Container paths are taken from the container's root; the
container may be running or stopped.

Copying out reads from replica 1, or from the replica --index names. Copying
in writes to every container of the service (as docker compose does), or to
the one --index names.

A directory copied into an existing directory goes inside it, under its own
name; one copied to a path that does not exist is created there. A path
ending in "/." stands for the directory's contents. A DEST_PATH ending in "/"
must be an existing directory. A symbolic link at the end of SRC_PATH is
copied as a link, unless -L.

With "-" as DEST_PATH the tar stream of SRC_PATH is written on standard
output; with "-" as SRC_PATH a tar stream read on standard input is
extracted into DEST_PATH, which must be a directory.

Files copied into a container belong to root, or with -a to the owner the
files have here (uid and gid). Files copied out belong to the user who runs
berth.`,
		Example: `  berth cp ./config.json web:/etc/app/        # into replica 1's /etc/app
  berth cp ./certs/. web:/etc/ssl/certs        # a directory's contents, into every replica
  berth cp web:/var/log/app ./logs             # a directory out of replica 1
  berth cp --index 2 web:/tmp/dump.sql .
  berth cp web:/etc - | tar -tv                # a tar stream on standard output
  tar -c seed | berth cp - db:/docker-entrypoint-initdb.d`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCp(cmd.Context(), g, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.index, "index", 0, "Index of the container if the service has several replicas (default: replica 1)")
	f.BoolVar(&o.all, "all", false, "Copy into every container of the service (the default when copying in)")
	f.BoolVarP(&o.archive, "archive", "a", false, "Archive mode: keep the files' uid and gid when copying in")
	f.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow a symbolic link in SRC_PATH")
	cmd.MarkFlagsMutuallyExclusive("index", "all")
	return cmd
}

// runCp is berth cp: the copy as a plan (dockercp.Plan) applied by
// reconcile.Apply, or printed with --dry-run.
func runCp(ctx context.Context, g *globals, o cpOptions, srcArg, dstArg string) error {
	r, err := dockercp.ParseRequest(srcArg, dstArg, o.index, o.all)
	if err != nil {
		return err
	}
	r.Archive, r.FollowLink = o.archive, o.followLink
	s, err := g.session(ctx, []string{r.Service})
	if err != nil {
		return err
	}
	defer s.close()
	cs, err := serviceContainers(ctx, s.b, s.name, []string{r.Service}, true)
	if err != nil {
		return err
	}
	pr := newProgress(g)
	plan, err := dockercp.Plan(cs, r, dockercp.Host{WorkDir: g.wd, In: g.stdio.In, Out: g.stdio.Out, Warn: pr.warn})
	if err != nil {
		return err
	}
	if g.dryRun {
		printPlan(g, plan)
		return nil
	}
	return reconcile.Apply(ctx, s.b, plan, reconcile.ApplyOptions{Parallel: g.parallelLimit(), Progress: func(e reconcile.Event) {
		switch e.Status {
		case reconcile.StatusWorking:
			pr.line("Container", e.Step.Object, "Copying", false)
		case reconcile.StatusDone:
			pr.line("Container", e.Step.Object, "Copied", false)
		}
	}})
}
