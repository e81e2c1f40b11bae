package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/reconcile/dockercp"
	"github.com/berthdev/berth/service"
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

func runCp(ctx context.Context, g *globals, o cpOptions, srcArg, dstArg string) error {
	if srcArg == "" || dstArg == "" {
		return errors.New("the source and the destination must not be empty")
	}
	srcSvc, srcPath := dockercp.SplitArg(srcArg)
	dstSvc, dstPath := dockercp.SplitArg(dstArg)
	out := srcSvc != ""
	svc, cpath, carg := srcSvc, srcPath, srcArg
	switch {
	case srcSvc != "" && dstSvc != "":
		return errors.New("copying between services is not supported: copy out to a local path, then in")
	case srcSvc == "" && dstSvc == "":
		return fmt.Errorf("one of %q and %q must name a service: SERVICE:PATH", srcArg, dstArg)
	case !out:
		svc, cpath, carg = dstSvc, dstPath, dstArg
	}
	if cpath == "" {
		return fmt.Errorf("%q names no path in the container: SERVICE:PATH", carg)
	}
	if o.index < 0 {
		return fmt.Errorf("invalid --index %d: replicas are numbered from 1", o.index)
	}
	if out && o.all {
		return errors.New("--all applies to copying into a service; to copy out of another replica than the first, use --index")
	}
	cpath = dockercp.ContainerPath(cpath)

	s, err := g.session(ctx, []string{svc})
	if err != nil {
		return err
	}
	defer s.close()
	if !out && o.index == 0 {
		o.all = true // copying in goes to every replica, as with docker compose
	}
	targets, err := cpTargets(ctx, s, svc, o)
	if err != nil {
		return err
	}
	if out {
		cf, ok := s.b.(service.CopierFrom)
		if !ok {
			return fmt.Errorf("this backend cannot copy files out of containers: %w", service.ErrUnsupported)
		}
		c := targets[0]
		if g.dryRun {
			fmt.Fprintf(g.stdio.Out, "copy %s:%s to %s\n", c.Name, cpath, dstPath)
			return nil
		}
		pr := newProgress(g)
		pr.line("Container", c.Name, "Copying", false)
		skipped, err := dockercp.CopyOut(ctx, cf, c, cpath, dstPath, g.wd, g.stdio.Out, o.followLink)
		if err != nil {
			return err
		}
		if len(skipped) > 0 {
			pr.warn(fmt.Sprintf("not copied (devices and pipes are not created): %s", strings.Join(skipped, ", ")))
		}
		pr.line("Container", c.Name, "Copied", false)
		return nil
	}

	cp, ok := s.b.(service.Copier)
	cf, ok2 := s.b.(service.CopierFrom)
	if !ok || !ok2 {
		return fmt.Errorf("this backend cannot copy files into containers: %w", service.ErrUnsupported)
	}
	var src dockercp.Info
	var stdin []byte // standard input, read once when there are several targets
	if srcPath == "-" {
		if len(targets) > 1 && !g.dryRun {
			if stdin, err = io.ReadAll(g.stdio.In); err != nil {
				return fmt.Errorf("reading standard input: %w", err)
			}
		}
	} else if src, err = dockercp.LocalSource(dockercp.LocalPath(g.wd, srcPath), o.followLink); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("path %s not found", srcPath)
		}
		return err
	}
	if g.dryRun {
		for _, c := range targets {
			fmt.Fprintf(g.stdio.Out, "copy %s to %s:%s\n", srcPath, c.Name, cpath)
		}
		return nil
	}
	pr := newProgress(g)
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(g.parallelLimit())
	for _, c := range targets {
		eg.Go(func() error {
			pr.line("Container", c.Name, "Copying", false)
			var in io.Reader
			switch {
			case srcPath != "-":
			case stdin != nil:
				in = bytes.NewReader(stdin)
			default:
				in = g.stdio.In
			}
			if err := dockercp.CopyIn(ectx, cp, cf, c, src, in, cpath, o.archive); err != nil {
				return err
			}
			pr.line("Container", c.Name, "Copied", false)
			return nil
		})
	}
	return eg.Wait()
}

// cpTargets returns the containers of svc, running or not, that cp copies
// from (the first) or to (dockercp.Targets).
func cpTargets(ctx context.Context, s *session, svc string, o cpOptions) ([]service.Container, error) {
	cs, err := serviceContainers(ctx, s.b, s.name, []string{svc}, true)
	if err != nil {
		return nil, err
	}
	return dockercp.Targets(cs, svc, o.index, o.all)
}
