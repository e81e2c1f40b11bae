package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/service"
)

// imageReport renders the events of pulls, builds and pushes on standard
// error: a status line per image operation, as the other commands report
// their steps (appended even on a terminal, because the build output
// scrolls between them), the size of each build context, and each
// service's pull output behind a "service  | " prefix; the build output,
// behind the same prefix, goes to standard output, as docker compose's. In a
// dry run it prints the plan of what would be done on standard output
// instead, as the other commands print theirs.
type imageReport struct {
	g   *globals
	pr  *progress
	mux *logMux
	// buildMux gets the builds' output: standard output, as docker compose
	buildMux *logMux
	dryRun   bool
	// quietPull and quietBuild drop the pull or build output (the status
	// lines stay); quiet drops everything but errors.
	quiet, quietPull, quietBuild bool
	// op is the operation whose output Output is asked for: the one that
	// starts on the service (reconcile asks just after the Working event).
	ops map[string]images.ImageOp
}

func newImageReport(g *globals, p *project.Project, quiet bool) *imageReport {
	pr := newProgress(g)
	if pr.mode == "tty" {
		pr.mode = "plain"
	}
	if quiet {
		pr.mode = "quiet"
	}
	var names []string
	for _, s := range p.Services {
		names = append(names, s.Name)
	}
	return &imageReport{
		g: g, pr: pr, quiet: quiet, dryRun: g.dryRun,
		mux:      newLogMuxOn(g, g.stdio.Err, names, false, false, false),
		buildMux: newLogMuxOn(g, g.stdio.Out, names, false, false, false),
		ops:      map[string]images.ImageOp{},
	}
}

// event renders one image event.
func (r *imageReport) event(e images.ImageEvent) {
	if e.Status == reconcile.StatusWorking {
		r.pr.mu.Lock()
		r.ops[e.Service] = e.Op
		r.pr.mu.Unlock()
	}
	if e.Skipped {
		r.pr.line("Service", e.Service, "Skipped - "+e.Reason, false)
		return
	}
	kind, id := "Image", e.Image
	working, done := "Pulling", "Pulled"
	switch e.Op {
	case images.ImageBuild:
		// docker compose: "Image p-app:latest Building", then "Built"
		working, done = "Building", "Built"
		if id == "" {
			kind, id = "Service", e.Service
		}
	case images.ImagePush:
		working, done = "Pushing", "Pushed"
	}
	switch e.Status {
	case reconcile.StatusWorking:
		if e.Op == images.ImageBuild {
			r.pr.text(fmt.Sprintf("Building %s: context %s", e.Service, units.HumanSize(float64(e.ContextSize))))
			r.pr.lineWith(kind, id, working, false, map[string]any{"context_bytes": e.ContextSize})
			return
		}
		r.pr.line(kind, id, working, false)
	case reconcile.StatusDone:
		r.pr.line(kind, id, done, false)
	case reconcile.StatusWarning:
		r.pr.line(kind, id, "Warning: "+e.Err.Error(), false)
	case reconcile.StatusFailed:
		r.pr.line(kind, id, "Error: "+e.Err.Error(), false)
	}
}

// plan prints the plan of a dry run.
func (r *imageReport) plan(p *reconcile.Plan) {
	if r.dryRun {
		fmt.Fprint(r.g.stdio.Out, p.String())
	}
}

// options are the image options of a command's run, reported by r.
func (r *imageReport) options(services []string) images.ImageOptions {
	return images.ImageOptions{
		Services: services,
		Parallel: r.g.parallelLimit(),
		DryRun:   r.dryRun,
		OnPlan:   r.plan,
		Progress: r.event,
		Output:   r.output,
	}
}

// output is where a service's build, pull or push output goes.
func (r *imageReport) output(svc string) io.Writer {
	r.pr.mu.Lock()
	op := r.ops[svc]
	r.pr.mu.Unlock()
	if r.quiet || r.dryRun || r.pr.mode == "json" || r.pr.mode == "quiet" ||
		(r.quietPull && op == images.ImagePull) || (r.quietBuild && op == images.ImageBuild) {
		return nil
	}
	if op == images.ImageBuild {
		return r.buildMux.writer(svc)
	}
	return r.mux.writer(svc)
}

// imageFlags are the image flags of up, create and run.
type imageFlags struct {
	build, noBuild        bool
	pull                  string
	quietPull, quietBuild bool
}

// ensureImages pulls and builds what the services need before their
// containers are created, as up does, and returns the image IDs by
// service. services restricts it (up --no-deps); empty means all.
func (g *globals) ensureImages(ctx context.Context, b service.Backend, p *project.Project, f imageFlags, services []string) (map[string]string, error) {
	if f.build && f.noBuild {
		return nil, fmt.Errorf("--build and --no-build are incompatible")
	}
	if !images.ValidPullOption(f.pull) {
		return nil, fmt.Errorf("invalid --pull option %q: use always, missing, never or policy", f.pull)
	}
	r := newImageReport(g, p, false)
	r.quietPull, r.quietBuild = f.quietPull, f.quietBuild
	opts := r.options(services)
	opts.Pull, opts.Build, opts.NoBuild = f.pull, f.build, f.noBuild
	return images.EnsureImages(ctx, b, p, opts)
}

// parseBuildArgs turns --build-arg KEY=VALUE (or KEY, taken from the
// project's environment) flags into a map.
func parseBuildArgs(flags []string) map[string]*string {
	out := map[string]*string{}
	for _, a := range flags {
		k, v, ok := strings.Cut(a, "=")
		if ok {
			out[k] = &v
		} else {
			out[k] = nil
		}
	}
	return out
}

// buildOptions are the flags of berth build.
type buildOptions struct {
	buildArgs                   []string
	noCache, pull, quiet, print bool
	withDeps, push              bool
	flags                       images.BuildFlags
	memory                      string
}

func newBuildCmd(g *globals) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		Long: `Build the images of the services that have a build section (all of them, or
those named), whether or not they exist, with the engine's classic builder.
Each image is tagged with the service's image (else project-service) and its
build.tags, and labelled with the project and service as docker compose does.

The build context is the build.context directory, less what its .dockerignore
(or a <Dockerfile>.dockerignore beside the Dockerfile) excludes, with the
docker CLI's pattern rules. Builds run in parallel (at most --parallel), a
service after those its build.additional_contexts name (service:NAME); the
output of each is shown behind a "service | " prefix, with the size of the
context sent.

"up" builds what is missing by itself, and "up --build" rebuilds.`,
		Example: `  berth build                       # every service that has a build section
  berth build --no-cache web        # web, from scratch
  berth build --build-arg VERSION=2 # a build argument for every build
  berth build --print               # the builds as JSON, without building`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "Set a build argument (KEY=VALUE, or KEY to take it from the environment)")
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use the builder's cache")
	f.BoolVar(&o.pull, "pull", false, "Always try to pull newer versions of the base images")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Print nothing but errors")
	f.BoolVar(&o.withDeps, "with-dependencies", false, "Also build the services the named ones depend on")
	f.BoolVar(&o.push, "push", false, "Push the images built (services with an image: and a build section) once all are built")
	f.StringVarP(&o.memory, "memory", "m", "", "Memory limit of the build's RUN steps (e.g. 512m)")
	f.StringVar(&o.flags.Builder, "builder", "", `Builder to use: only "default" (the container runtime's own builder)`)
	f.StringVar(&o.flags.SSH, "ssh", "", "SSH agent or keys to forward: refused (needs BuildKit; berth's builders cannot)")
	f.StringVar(&o.flags.Provenance, "provenance", "", "Provenance attestation: only false (berth's builders make none)")
	f.StringVar(&o.flags.SBOM, "sbom", "", "SBOM attestation: only false (berth's builders make none)")
	f.BoolVar(&o.flags.Check, "check", false, "Check the build configuration: refused (BuildKit's Dockerfile linter; berth has no build checks)")
	f.BoolVar(&o.print, "print", false, "Print the builds as JSON (a bake-like file: context, dockerfile, args, tags, labels per service) and build nothing")
	return cmd
}

// runBuild is berth build: the builds (then the pushes, with --push) as
// plans applied by reconcile.Apply, or their JSON with --print.
func runBuild(ctx context.Context, g *globals, o buildOptions, args []string) error {
	if o.memory != "" {
		n, err := units.RAMInBytes(o.memory)
		if err != nil {
			return fmt.Errorf("invalid -m/--memory %q: %w", o.memory, err)
		}
		o.flags.Memory = n
	}
	if err := o.flags.Validate(); err != nil {
		return err
	}
	p, err := g.load(ctx, args)
	if err != nil {
		return err
	}
	services := args
	if o.withDeps {
		services = nil
	}
	opts := images.ImageOptions{Services: services, BuildArgs: parseBuildArgs(o.buildArgs), NoCache: o.noCache,
		PullBase: o.pull, BuildFlags: o.flags}
	if o.print {
		return printBuilds(g.stdio.Out, p, opts)
	}
	return g.withImages(ctx, p, o.quiet, true, func(b service.Backend, r *imageReport) error {
		ropts := r.options(services)
		ropts.BuildArgs, ropts.NoCache, ropts.PullBase, ropts.BuildFlags = opts.BuildArgs, o.noCache, o.pull, o.flags
		if _, err := images.Build(ctx, b, p, ropts); err != nil || !o.push {
			return err
		}
		return images.PushImages(ctx, b, p, ropts)
	})
}

// withImages runs fn with the backend (under the project's lock when
// lock is set) and a report of the image steps.
func (g *globals) withImages(ctx context.Context, p *project.Project, quiet, lock bool, fn func(service.Backend, *imageReport) error) error {
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	if lock {
		unlock, err := g.lockProject(ctx, b, p.Name)
		if err != nil {
			return err
		}
		defer unlock()
	}
	return fn(b, newImageReport(g, p, quiet))
}

// printBuilds prints what would be built, as a JSON document shaped like
// the bake file docker compose build --print gives.
func printBuilds(w io.Writer, p *project.Project, opts images.ImageOptions) error {
	targets, err := images.BuildTargets(p, opts)
	if err != nil {
		return err
	}
	type target struct {
		Context          string            `json:"context"`
		Dockerfile       string            `json:"dockerfile,omitempty"`
		DockerfileInline string            `json:"dockerfile-inline,omitempty"`
		Args             map[string]string `json:"args,omitempty"`
		Labels           map[string]string `json:"labels,omitempty"`
		Tags             []string          `json:"tags"`
		Target           string            `json:"target,omitempty"`
		Network          string            `json:"network,omitempty"`
		Platforms        []string          `json:"platforms,omitempty"`
		CacheFrom        []string          `json:"cache-from,omitempty"`
		ExtraHosts       []string          `json:"extra-hosts,omitempty"`
		ShmSize          int64             `json:"shm-size,omitempty"`
		NoCache          bool              `json:"no-cache,omitempty"`
		Pull             bool              `json:"pull,omitempty"`
		After            []string          `json:"x-berth-after,omitempty"`
	}
	doc := struct {
		Group  map[string]map[string][]string `json:"group"`
		Target map[string]target              `json:"target"`
	}{Group: map[string]map[string][]string{"default": {"targets": {}}}, Target: map[string]target{}}
	for _, t := range targets {
		args := map[string]string{}
		for k, v := range t.Spec.Args {
			if v != nil {
				args[k] = *v
			}
		}
		var platforms []string
		if t.Spec.Platform != "" {
			platforms = []string{t.Spec.Platform}
		}
		doc.Group["default"]["targets"] = append(doc.Group["default"]["targets"], t.Service)
		doc.Target[t.Service] = target{
			Context: t.Context, Dockerfile: t.Dockerfile, DockerfileInline: t.DockerfileInline,
			Args: args, Labels: t.Spec.Labels, Tags: t.Spec.Tags, Target: t.Spec.Target,
			Network: t.Spec.Network, Platforms: platforms, CacheFrom: t.Spec.CacheFrom,
			ExtraHosts: t.Spec.ExtraHosts, ShmSize: t.Spec.ShmSize, NoCache: t.Spec.NoCache,
			Pull: t.Spec.Pull, After: t.After,
		}
	}
	sort.Strings(doc.Group["default"]["targets"])
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// pullOptions are the flags of berth pull.
type pullOptions struct {
	ignoreFailures, ignoreBuildable, includeDeps, quiet bool
	policy                                              string
}

func newPullCmd(g *globals) *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		Long: `Pull the images of the services (all of them, or those named) from their
registries, with the credentials of ~/.docker/config.json. Services without an
image key (they are built), or whose pull_policy is never or build, are
skipped; with pull_policy missing (or --policy missing), so are images already
present, unless their tag is latest. An image several services use is pulled
once, in parallel with the others (at most --parallel).

A failed pull names the service and the image, and fails the command, unless
the service can be built instead (then it is a warning) or with
--ignore-pull-failures.`,
		Example: `  berth pull                        # every image
  berth pull --policy missing db    # db's image, unless present
  berth pull --ignore-buildable     # only images that cannot be built`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreFailures, "ignore-pull-failures", false, "Pull what can be pulled, and only warn about the images that cannot")
	f.BoolVar(&o.ignoreBuildable, "ignore-buildable", false, "Skip the images that can be built")
	f.BoolVar(&o.includeDeps, "include-deps", false, "Also pull the images of the services the named ones depend on")
	f.StringVar(&o.policy, "policy", "", `Apply this pull policy to every service: "missing" or "always" (default: each service's pull_policy)`)
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Pull without printing progress information")
	return cmd
}

// runPull is berth pull: the pulls as a plan applied by reconcile.Apply.
func runPull(ctx context.Context, g *globals, o pullOptions, args []string) error {
	p, err := g.load(ctx, args)
	if err != nil {
		return err
	}
	services := args
	if o.includeDeps {
		services = nil
	}
	return g.withImages(ctx, p, o.quiet, true, func(b service.Backend, r *imageReport) error {
		opts := r.options(services)
		opts.Pull, opts.IgnoreBuildable, opts.IgnoreFailures = o.policy, o.ignoreBuildable, o.ignoreFailures
		return images.PullImages(ctx, b, p, opts)
	})
}

// pushOptions are the flags of berth push.
type pushOptions struct {
	ignoreFailures, includeDeps, quiet bool
}

func newPushCmd(g *globals) *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] [SERVICE...]",
		Short: "Push service images",
		Long: `Push the images of the services (all of them, or those named) to their
registries, with the credentials of ~/.docker/config.json: each service that
has both an image key and a build section, under its image and its
build.tags. Other services are skipped. Pushes run in parallel (at most
--parallel); a failed push names the service and the image, and fails the
command unless --ignore-push-failures.`,
		Example: `  berth build && berth push         # publish what the project builds
  berth push web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreFailures, "ignore-push-failures", false, "Push what can be pushed, and only warn about the images that cannot")
	f.BoolVar(&o.includeDeps, "include-deps", false, "Also push the images of the services the named ones depend on")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Push without printing progress information")
	return cmd
}

// runPush is berth push: the pushes as a plan applied by reconcile.Apply.
func runPush(ctx context.Context, g *globals, o pushOptions, args []string) error {
	p, err := g.load(ctx, args)
	if err != nil {
		return err
	}
	services := args
	if o.includeDeps {
		services = nil
	}
	return g.withImages(ctx, p, o.quiet, false, func(b service.Backend, r *imageReport) error {
		opts := r.options(services)
		opts.IgnoreFailures = o.ignoreFailures
		return images.PushImages(ctx, b, p, opts)
	})
}
