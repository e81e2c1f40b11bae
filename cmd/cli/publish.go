package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/reconcile/publish"
	"github.com/berthdev/berth/service/registry"
)

type publishOptions struct {
	resolveDigests bool
	ociVersion     string
	withEnv        bool
	yes            bool
	app            bool
	insecure       bool
}

func newPublishCmd(g *globals) *cobra.Command {
	var o publishOptions
	cmd := &cobra.Command{
		Use:   "publish [OPTIONS] REPOSITORY[:TAG]",
		Short: "Publish the compose files to a registry as an OCI artifact",
		Long: `Push the compose files (every profile) to a registry as an OCI artifact, as
docker compose publish does, so that "berth -f oci://REPOSITORY:TAG up" (or docker
compose's) runs it. env_file and extends paths are replaced by
hashes; --with-env adds the env files. The images the services build are pushed
first. Bind mounts, data that looks sensitive and env declarations are shown
and must be confirmed (on standard input, or with -y). Registries on the
loopback are reached over plain HTTP.`,
		Example: `  berth publish -y registry.example.com/team/app:1.0
  berth publish --with-env --resolve-image-digests 127.0.0.1:5000/app:dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPublish(cmd.Context(), g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.resolveDigests, "resolve-image-digests", false, "Pin image tags to digests (adds an image-digests.yaml override)")
	f.StringVar(&o.ociVersion, "oci-version", "", "OCI image/artifact specification version: 1.0 or 1.1 (default: 1.1, else 1.0 on a registry that refuses it)")
	f.BoolVar(&o.withEnv, "with-env", false, "Include the env files in the published artifact")
	f.BoolVarP(&o.yes, "yes", "y", false, `Assume "yes" as answer to all prompts`)
	f.BoolVar(&o.app, "app", false, "Also copy the services' images into the repository, with an index of them whose subject is the artifact (implies --resolve-image-digests)")
	f.BoolVar(&o.insecure, "insecure-registry", false, "Allow plain HTTP to the registry (for tests; registries on the loopback are reached so anyway)")
	_ = f.MarkHidden("insecure-registry")
	return cmd
}

func runPublish(ctx context.Context, g *globals, o publishOptions, repository string) error {
	opts := g.loadOptions(nil)
	opts.Profiles = []string{"*"}
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	pr := newProgress(g)
	confirm := g.confirm
	if o.yes {
		confirm = func(string) (bool, error) { return true, nil }
	}
	res, err := publish.Publish(ctx, p, repository, publish.Options{
		WithEnv:        o.withEnv,
		ResolveDigests: o.resolveDigests,
		App:            o.app,
		OCIVersion:     o.ociVersion,
		DryRun:         g.dryRun,
		Confirm:        confirm,
		Version:        project.Version,
		Registry:       registry.Client{Insecure: o.insecure},
		Resolve:        registry.Client{}.Digest,
		PushImages: func(ctx context.Context) error {
			pr.line("Artifact", repository, "Publishing", false)
			return g.pushBuiltImages(ctx, p)
		},
	})
	if errors.Is(err, publish.ErrCanceled) {
		return &ExitError{Code: 130, Msg: err.Error() + " (answer y, or pass -y)"}
	}
	if err != nil {
		pr.line("Artifact", repository, "Error: "+err.Error(), false)
		return err
	}
	if g.dryRun {
		for _, l := range res.Layers {
			name := l.Annotations[publish.AnnotationFile] + l.Annotations[publish.AnnotationEnvFile]
			fmt.Fprintf(g.stdio.Out, "publish %s: layer %s %s (%d bytes)\n", repository, l.MediaType, name, l.Size)
		}
		fmt.Fprintf(g.stdio.Out, "publish %s: manifest OCI %s\n", repository, res.OCIVersion)
		return nil
	}
	pr.line("Artifact", repository, "Published "+res.Manifest.Digest.String(), false)
	if o.app {
		pr.line("Index", repository, "Published "+res.Index.Digest.String(), false)
	}
	return nil
}

// pushBuiltImages pushes the images of the services that build one, as
// publish does first (failures are warnings, as docker compose's).
func (g *globals) pushBuiltImages(ctx context.Context, p *project.Project) error {
	built := false
	for _, s := range p.Services {
		built = built || (s.Config.Build != nil && s.Config.Image != "")
	}
	if !built {
		return nil
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	r := newImageReport(g, p, false)
	o := r.options(nil)
	o.IgnoreFailures = true
	return images.PushImages(ctx, b, p, o)
}

// confirm asks a yes/no question on standard error and reads the answer
// from standard input: y or yes accepts, anything else (or no input)
// declines.
func (g *globals) confirm(question string) (bool, error) {
	fmt.Fprintf(g.stdio.Err, "%s [y/N] ", question)
	if g.stdio.In == nil {
		fmt.Fprintln(g.stdio.Err)
		return false, nil
	}
	// One byte at a time: the next question reads the next line.
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := g.stdio.In.Read(b)
		if n == 1 && b[0] != '\n' {
			line = append(line, b[0])
			continue
		}
		if n == 1 || err != nil {
			break
		}
	}
	if len(line) == 0 {
		fmt.Fprintln(g.stdio.Err)
	}
	switch strings.ToLower(strings.TrimSpace(string(line))) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
