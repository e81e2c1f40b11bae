package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// ImageBuilderClassic is the value of service.LabelImageBuilder on the
// images berth builds: the engine's classic builder, as docker compose
// labels the images it builds without BuildKit.
const ImageBuilderClassic = "classic"

// ImageOp is what is done to an image.
type ImageOp int

// The image operations.
const (
	ImagePull ImageOp = iota + 1
	ImageBuild
	ImagePush
)

// String names the operation ("pull").
func (o ImageOp) String() string {
	switch o {
	case ImagePull:
		return "pull"
	case ImageBuild:
		return "build"
	case ImagePush:
		return "push"
	}
	return fmt.Sprintf("imageop(%d)", int(o))
}

// ImageEvent reports the progress of one image operation.
type ImageEvent struct {
	// Op is the operation.
	Op ImageOp
	// Service is the service the image is for (the first by name when
	// several share it).
	Service string
	// Image is the image reference.
	Image string
	// Status is StatusWorking when the operation starts, then StatusDone,
	// StatusWarning (it failed, and that is not an error: a pull of an
	// image that is built next, an ignored failure) or StatusFailed. An
	// operation skipped has only a StatusDone event, with Skipped set; one
	// not run because of a dry run has none (it is a step of the plan
	// ImageOptions.OnPlan gets).
	Status reconcile.Status
	// Reason says why the operation is needed ("not present", "--build",
	// "pull_policy: always") or, with Skipped, why it is not.
	Reason string
	// Skipped is set when the operation is not needed.
	Skipped bool
	// ContextSize is the size in bytes of the build context sent, on a
	// build's StatusWorking event.
	ContextSize int64
	// Err is the failure (StatusFailed) or the reason of a warning.
	Err error
}

// ImageOptions steer EnsureImages, Build, PullImages and PushImages; each
// says which fields it reads.
type ImageOptions struct {
	// Services restricts the work to these services; empty means every
	// service of the project (which the loader has already restricted to
	// the services named on the command line and their dependencies).
	Services []string
	// Pull overrides every service's pull_policy: "always", "missing",
	// "never" or "build" (up --pull); "" or "policy" keeps them. For
	// PullImages (pull --policy), "missing" or "always".
	Pull string
	// Build builds every service that has a build section (up --build).
	Build bool
	// NoBuild never builds (up --no-build): a missing image of a service
	// that would have been built is an error.
	NoBuild bool
	// BuildArgs are added to (and override) every build's args (build
	// --build-arg). A nil value is taken from the project's environment,
	// and left out when that does not have it either.
	BuildArgs map[string]*string
	// NoCache builds without the builder's cache; PullBase pulls the base
	// images first (build --no-cache, build --pull).
	NoCache, PullBase bool
	// BuildFlags are the build command's builder flags (see buildflags.go).
	BuildFlags BuildFlags
	// IgnoreBuildable skips services that have a build section (pull
	// --ignore-buildable).
	IgnoreBuildable bool
	// IgnoreFailures turns failed pulls or pushes into warnings (pull
	// --ignore-pull-failures, push --ignore-push-failures).
	IgnoreFailures bool
	// Parallel bounds the pulls, builds and pushes run at once
	// (DefaultParallel when <= 0).
	Parallel int
	// DryRun plans what would be pulled, built or pushed (the plan goes
	// to OnPlan), and does nothing.
	DryRun bool
	// OnPlan, if set, is called with each plan of pulls, builds or pushes
	// before it is applied (instead, with DryRun): --dry-run prints it.
	OnPlan func(*reconcile.Plan)
	// Progress, if set, is called as operations start and end. It must not
	// block.
	Progress func(ImageEvent)
	// Output, if set, gives the writer a service's build, pull or push
	// output is written to, line by line; nil discards it. When the writer
	// is an io.Closer, it is closed once the operation ends.
	Output func(service string) io.Writer
}

func (o *ImageOptions) progress(e ImageEvent) {
	if o.Progress != nil {
		o.Progress(e)
	}
}

// output returns the writer of one operation and what closes it.
func (o *ImageOptions) output(svc string) (io.Writer, func()) {
	if o.Output == nil {
		return io.Discard, func() {}
	}
	w := o.Output(svc)
	if w == nil {
		return io.Discard, func() {}
	}
	if c, ok := w.(io.Closer); ok {
		return w, func() { _ = c.Close() }
	}
	return w, func() {}
}

func (o *ImageOptions) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return reconcile.DefaultParallel
}

// selectServices returns the services named (all when none), sorted by
// name, or an error naming one that the project does not have.
func selectServices(p *project.Project, names []string) ([]*project.Service, error) {
	if len(names) == 0 {
		return p.Services, nil
	}
	var out []*project.Service
	for _, n := range names {
		s := p.Service(n)
		if s == nil {
			return nil, fmt.Errorf("no such service: %s", n)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ValidPullOption reports whether s is a value up --pull accepts.
func ValidPullOption(s string) bool {
	switch s {
	case "", "policy", types.PullPolicyAlways, types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyNever, types.PullPolicyBuild:
		return true
	}
	return false
}

// pullPolicy returns a service's pull policy once the options are applied
// (compose-go's: daily, weekly and every_<duration> are "refresh"), and the
// reason a pull or build it causes gives.
func pullPolicy(s *project.Service, opts ImageOptions) (policy, reason string, err error) {
	policy, _, err = s.Config.GetPullPolicy()
	if err != nil {
		return "", "", fmt.Errorf("service %s: %w", s.Name, err)
	}
	reason = "pull_policy: " + s.Config.PullPolicy
	if opts.Pull != "" && opts.Pull != "policy" {
		policy, reason = opts.Pull, "--pull "+opts.Pull
		if policy == types.PullPolicyIfNotPresent {
			policy = types.PullPolicyMissing
		}
	}
	if opts.Build && s.Config.Build != nil && !opts.NoBuild {
		policy, reason = types.PullPolicyBuild, "--build"
	}
	return policy, reason, nil
}

// inspectImages finds the local images refs name, at most limit at once
// (reconcile.DefaultParallel when <= 0); missing ones are not in the
// result.
func inspectImages(ctx context.Context, b service.Backend, refs []string, limit int) (map[string]service.Image, error) {
	if limit <= 0 {
		limit = reconcile.DefaultParallel
	}
	out := map[string]service.Image{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, ref := range refs {
		g.Go(func() error {
			img, err := b.InspectImage(gctx, ref)
			if errors.Is(err, service.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect image %s: %w", ref, err)
			}
			mu.Lock()
			out[ref] = img
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// imageRefs returns the distinct images of services, sorted.
func imageRefs(svcs []*project.Service) []string {
	var refs []string
	for _, s := range svcs {
		if !slices.Contains(refs, s.Image) {
			refs = append(refs, s.Image)
		}
	}
	sort.Strings(refs)
	return refs
}

// buildable reports whether the image ref is built by one of svcs, so that
// failing to pull it is no error.
func buildable(ref string, svcs []*project.Service, noBuild bool) bool {
	if noBuild {
		return false
	}
	for _, s := range svcs {
		if s.Image == ref && s.Config.Build != nil {
			return true
		}
	}
	return false
}

// pullJob is one image to pull (or push), for the first service (by name)
// that uses it.
type pullJob struct {
	s       *project.Service
	ref     string // the image, or the tag pushed
	reason  string
	refresh bool // a refresh policy: failing keeps the local image
}

// EnsureImages makes sure every service has its image, as docker compose
// does before it creates containers, and returns the image IDs by service
// (what Converge records in com.docker.compose.image, so that a service
// whose image changed is recreated).
//
// For each service (opts.Services, else all), by its pull_policy or what
// opts.Pull says instead:
//
//   - always: pull; never: never pull; missing (the default): pull when
//     not present; daily, weekly, every_<duration>: pull (the backends do
//     not report when an image was last pulled, so each run refreshes; a
//     failure keeps the local image, with a warning); build: build every
//     time. Only services with an image: key are pulled.
//   - A service with a build section whose image (image:, else
//     project-service) is missing after that is built; with opts.Build
//     (up --build) it is built whatever is present. A failed pull of an
//     image a service builds is only a warning. With opts.NoBuild nothing
//     is built, and a missing image is an error that says so.
//
// Pulls run in parallel, builds too, at most opts.Parallel at a time, a
// build waiting for the services its build.additional_contexts name
// (service:x). An image several services use is pulled or built once. A
// failed pull is reported with its service and image, every failed pull
// at once; a failed build stops the others. A backend without
// service.ImageTransfer or service.Builder gives an error wrapping
// service.ErrUnsupported that names the service.
//
// It reads opts.Services, Pull, Build, NoBuild, BuildArgs, NoCache,
// PullBase, Parallel, DryRun, OnPlan, Progress and Output. With DryRun
// nothing is pulled or built: OnPlan gets the one plan of the pulls and
// builds that would be, and the IDs are those of the images present.
func EnsureImages(ctx context.Context, b service.Backend, p *project.Project, opts ImageOptions) (map[string]string, error) {
	if !ValidPullOption(opts.Pull) {
		return nil, fmt.Errorf("invalid --pull option %q: use always, missing, never or policy", opts.Pull)
	}
	svcs, err := selectServices(p, opts.Services)
	if err != nil {
		return nil, err
	}
	policies := map[string]string{}
	reasons := map[string]string{}
	for _, s := range svcs {
		policies[s.Name], reasons[s.Name], err = pullPolicy(s, opts)
		if err != nil {
			return nil, err
		}
	}
	present, err := inspectImages(ctx, b, imageRefs(svcs), opts.parallel())
	if err != nil {
		return nil, err
	}

	pullPlan := planPulls(ensurePulls(svcs, policies, reasons, present), svcs, present, opts)
	if !opts.DryRun {
		if err := opts.apply(ctx, b, pullPlan, true); err != nil {
			return nil, err
		}
	}

	toBuild, buildReason := ensureBuilds(svcs, policies, reasons, present, opts.NoBuild)
	if opts.DryRun {
		buildPlan, _, err := planBuilds(p, toBuild, buildReason, opts)
		if err != nil {
			return nil, err
		}
		appendPlan(pullPlan, buildPlan)
		if opts.OnPlan != nil && !pullPlan.Empty() {
			opts.OnPlan(pullPlan)
		}
	}
	var built map[string]string
	if !opts.DryRun {
		if built, err = runBuilds(ctx, b, p, toBuild, buildReason, opts); err != nil {
			return nil, err
		}
	}
	for _, s := range toBuild {
		if id, ok := built[s.Name]; ok {
			present[s.Image] = service.Image{ID: id}
		}
	}

	return presentIDs(svcs, present, policies, opts)
}

// ensurePulls returns the pulls EnsureImages needs, by image, for the
// services' pull policies: always and refresh pull, never and build do
// not, missing pulls what is not present.
func ensurePulls(svcs []*project.Service, policies, reasons map[string]string, present map[string]service.Image) map[string]*pullJob {
	pulls := map[string]*pullJob{}
	for _, s := range svcs {
		if s.Config.Image == "" || pulls[s.Image] != nil {
			continue
		}
		_, have := present[s.Image]
		switch policies[s.Name] {
		case types.PullPolicyAlways:
			pulls[s.Image] = &pullJob{s: s, ref: s.Image, reason: reasons[s.Name]}
		case types.PullPolicyRefresh:
			pulls[s.Image] = &pullJob{s: s, ref: s.Image, reason: reasons[s.Name], refresh: have}
		case types.PullPolicyNever, types.PullPolicyBuild:
		default:
			if !have {
				pulls[s.Image] = &pullJob{s: s, ref: s.Image, reason: "not present"}
			}
		}
	}
	return pulls
}

// ensureBuilds returns the services EnsureImages builds (one per image),
// and why: a build policy, or an image not present.
func ensureBuilds(svcs []*project.Service, policies, reasons map[string]string, present map[string]service.Image, noBuild bool) ([]*project.Service, map[string]string) {
	var toBuild []*project.Service
	buildReason := map[string]string{}
	for _, s := range svcs {
		if s.Config.Build == nil || noBuild || slices.ContainsFunc(toBuild, func(o *project.Service) bool { return o.Image == s.Image }) {
			continue
		}
		if policies[s.Name] == types.PullPolicyBuild {
			toBuild = append(toBuild, s)
			buildReason[s.Name] = reasons[s.Name]
		} else if _, have := present[s.Image]; !have {
			toBuild = append(toBuild, s)
			buildReason[s.Name] = "not present"
		}
	}
	return toBuild, buildReason
}

// presentIDs returns the image IDs of the services, or an error naming
// every service whose image is still missing (none in a dry run).
func presentIDs(svcs []*project.Service, present map[string]service.Image, policies map[string]string, opts ImageOptions) (map[string]string, error) {
	ids := map[string]string{}
	var missing []string
	for _, s := range svcs {
		if img, ok := present[s.Image]; ok {
			ids[s.Name] = img.ID
			continue
		}
		if opts.DryRun {
			continue
		}
		switch {
		case s.Config.Build != nil && opts.NoBuild:
			missing = append(missing, fmt.Sprintf("service %s: image %s is not present, and --no-build forbids building it (berth build %s makes it)", s.Name, s.Image, s.Name))
		case policies[s.Name] == types.PullPolicyNever:
			missing = append(missing, fmt.Sprintf("service %s: image %s is not present, and the pull policy is never", s.Name, s.Image))
		default:
			missing = append(missing, fmt.Sprintf("service %s: image %s is not present", s.Name, s.Image))
		}
	}
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "\n"))
	}
	return ids, nil
}

// planPulls plans the pulls of EnsureImages, sorted by image; each pull
// records the image pulled in present. A failed pull of an image that is
// built, or of a refresh policy (the local image stays), is a warning.
func planPulls(pulls map[string]*pullJob, svcs []*project.Service, present map[string]service.Image, opts ImageOptions) *reconcile.Plan {
	plan := &reconcile.Plan{}
	pulled := &presentImages{imgs: present}
	for _, ref := range slices.Sorted(maps.Keys(pulls)) {
		j := pulls[ref]
		a := &transferAction{op: ImagePull, svc: j.s, ref: ref, opts: &opts, pulled: pulled}
		transferStep(plan, a, j.reason, j.refresh || buildable(ref, svcs, opts.NoBuild))
	}
	return plan
}

// appendPlan appends the steps of other to plan, numbered on, keeping
// their dependencies.
func appendPlan(plan, other *reconcile.Plan) {
	for _, s := range other.Steps {
		deps := s.Deps
		s.Deps = nil
		plan.Add(s, deps...)
	}
	plan.Warnings = append(plan.Warnings, other.Warnings...)
}

// BuildTarget is what building one service sends the builder: what
// build --print shows.
type BuildTarget struct {
	// Service is the service built.
	Service string
	// Context is the build context's directory (or URL).
	Context string
	// Dockerfile is the Dockerfile's path as the compose file gives it,
	// relative to Context; empty with DockerfileInline.
	Dockerfile string
	// DockerfileInline is the build's dockerfile_inline.
	DockerfileInline string
	// Spec is the build's spec, but for the Dockerfile's path in the
	// stream, which BuildContext decides.
	Spec service.BuildSpec
	// After are the services whose images are built first
	// (additional_contexts: service:x).
	After []string
	// Warnings name the build keys the classic builder ignores.
	Warnings []string
}

// BuildTargets returns the builds of the services named in opts.Services
// (all when none) that have a build section, sorted by service. It reads
// opts.Services, BuildArgs, NoCache and PullBase.
func BuildTargets(p *project.Project, opts ImageOptions) ([]BuildTarget, error) {
	svcs, err := selectServices(p, opts.Services)
	if err != nil {
		return nil, err
	}
	var out []BuildTarget
	for _, s := range svcs {
		if s.Config.Build == nil {
			continue
		}
		t, err := buildTarget(p, s, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// buildTarget works out the build of one service, as docker compose's
// classic build does: tags (the image, then build.tags), args (build.args
// with --build-arg over them), labels (build.labels, the project's and the
// builder's), and the rest of the build section. Keys the classic builder
// cannot honour make an error wrapping ErrUnsupported, or a warning when
// ignoring them only loses an optimisation or metadata.
func buildTarget(p *project.Project, s *project.Service, opts ImageOptions) (BuildTarget, error) {
	bc := s.Config.Build
	t := BuildTarget{Service: s.Name, DockerfileInline: bc.DockerfileInline}
	t.Context, t.Dockerfile = contextPaths(bc, p.WorkingDir)

	var unsupported []string
	if len(bc.SSH) > 0 {
		unsupported = append(unsupported, "ssh")
	}
	if len(bc.Secrets) > 0 {
		unsupported = append(unsupported, "secrets")
	}
	if bc.Privileged {
		unsupported = append(unsupported, "privileged")
	}
	if len(bc.Entitlements) > 0 {
		unsupported = append(unsupported, "entitlements")
	}
	if len(bc.Platforms) > 1 {
		unsupported = append(unsupported, "platforms (more than one)")
	}
	for _, name := range slices.Sorted(maps.Keys(bc.AdditionalContexts)) {
		v := bc.AdditionalContexts[name]
		if dep, ok := strings.CutPrefix(v, types.ServicePrefix); ok {
			if !slices.Contains(t.After, dep) {
				t.After = append(t.After, dep)
			}
			continue
		}
		unsupported = append(unsupported, "additional_contexts."+name)
	}
	if len(unsupported) > 0 {
		return t, fmt.Errorf("service %s: build.%s: the classic builder berth uses cannot do this (it needs BuildKit): %w", s.Name, strings.Join(unsupported, ", build."), service.ErrUnsupported)
	}
	for key, set := range map[string]bool{
		"cache_to": len(bc.CacheTo) > 0, "no_cache_filter": len(bc.NoCacheFilter) > 0,
		"provenance": bc.Provenance != "", "sbom": bc.SBOM != "", "ulimits": len(bc.Ulimits) > 0,
		"isolation": bc.Isolation != "",
	} {
		if set {
			t.Warnings = append(t.Warnings, fmt.Sprintf("service %s: build.%s is ignored by the classic builder", s.Name, key))
		}
	}
	sort.Strings(t.Warnings)

	tags := []string{s.Image}
	for _, tag := range bc.Tags {
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	args := map[string]*string{}
	for k, v := range bc.Args {
		if v != nil {
			args[k] = v
		}
	}
	for k, v := range opts.BuildArgs {
		if v == nil {
			env, ok := p.Model.Environment[k]
			if !ok {
				continue
			}
			v = &env
		}
		args[k] = v
	}
	labels := map[string]string{}
	for k, v := range bc.Labels {
		labels[k] = v
	}
	labels[service.LabelProject] = p.Name
	labels[service.LabelService] = s.Name
	labels[service.LabelVersion] = project.Version
	labels[service.LabelImageBuilder] = ImageBuilderClassic
	hosts := bc.ExtraHosts.AsList(":")
	sort.Strings(hosts)
	platform := s.Config.Platform
	if platform == "" && len(bc.Platforms) == 1 {
		platform = bc.Platforms[0]
	}
	t.Spec = service.BuildSpec{
		Tags:       tags,
		Dockerfile: t.Dockerfile,
		Args:       args,
		Target:     bc.Target,
		Labels:     labels,
		NoCache:    bc.NoCache || opts.NoCache,
		Pull:       bc.Pull || opts.PullBase,
		Network:    bc.Network,
		ShmSize:    int64(bc.ShmSize),
		Memory:     opts.BuildFlags.Memory,
		ExtraHosts: hosts,
		CacheFrom:  slices.Clone([]string(bc.CacheFrom)),
		Platform:   platform,
	}
	return t, nil
}

// Build builds the images of the services named in opts.Services (all
// when none) that have a build section, whatever is present, as build
// does, and returns their IDs by service. Builds run in parallel, at most
// opts.Parallel at a time, each after the builds of the services its
// additional_contexts name (service:x). The first failure stops the
// others. It reads opts.Services, BuildArgs, NoCache, PullBase, Parallel,
// DryRun, Progress and Output.
func Build(ctx context.Context, b service.Backend, p *project.Project, opts ImageOptions) (map[string]string, error) {
	if err := opts.BuildFlags.Validate(); err != nil {
		return nil, err
	}
	svcs, err := selectServices(p, opts.Services)
	if err != nil {
		return nil, err
	}
	var toBuild []*project.Service
	reasons := map[string]string{}
	for _, s := range svcs {
		if s.Config.Build != nil && !slices.ContainsFunc(toBuild, func(o *project.Service) bool { return o.Image == s.Image }) {
			toBuild = append(toBuild, s)
			reasons[s.Name] = "requested"
		}
	}
	return runBuilds(ctx, b, p, toBuild, reasons, opts)
}

// runBuilds builds svcs, each after the builds among them that its
// additional contexts name, and returns the IDs by service.
func runBuilds(ctx context.Context, b service.Backend, p *project.Project, svcs []*project.Service, reasons map[string]string, opts ImageOptions) (map[string]string, error) {
	plan, actions, err := planBuilds(p, svcs, reasons, opts)
	if err != nil || plan.Empty() {
		return map[string]string{}, err
	}
	if !opts.DryRun {
		for _, a := range actions {
			for _, w := range a.target.Warnings {
				opts.progress(ImageEvent{Op: ImageBuild, Service: a.svc.Name, Image: a.svc.Image, Status: reconcile.StatusWarning, Err: errors.New(w)})
			}
		}
	}
	if err := opts.apply(ctx, b, plan, false); err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, a := range actions {
		if a.id != "" {
			ids[a.svc.Name] = a.id
		}
	}
	return ids, nil
}

// planBuilds plans the builds of svcs, a build after those of the
// services among svcs its additional contexts name, and returns the plan
// and its actions (which hold the IDs built once it is applied).
func planBuilds(p *project.Project, svcs []*project.Service, reasons map[string]string, opts ImageOptions) (*reconcile.Plan, []*buildAction, error) {
	plan := &reconcile.Plan{}
	targets := map[string]BuildTarget{}
	for _, s := range svcs {
		t, err := buildTarget(p, s, opts)
		if err != nil {
			return nil, nil, err
		}
		// only the services built here are waited for
		t.After = slices.DeleteFunc(t.After, func(dep string) bool {
			return !slices.ContainsFunc(svcs, func(o *project.Service) bool { return o.Name == dep })
		})
		targets[s.Name] = t
	}
	if cycle := buildCycle(targets); cycle != "" {
		return nil, nil, fmt.Errorf("build.additional_contexts form a cycle: %s", cycle)
	}
	steps := map[string]*reconcile.Step{}
	var actions []*buildAction
	for len(steps) < len(svcs) { // a build after the builds it waits for
		for _, s := range svcs {
			t := targets[s.Name]
			if steps[s.Name] != nil || slices.ContainsFunc(t.After, func(d string) bool { return steps[d] == nil }) {
				continue
			}
			var deps []*reconcile.Step
			for _, d := range t.After {
				deps = append(deps, steps[d])
			}
			a := &buildAction{p: p, svc: s, target: t, reason: reasons[s.Name], opts: &opts}
			actions = append(actions, a)
			steps[s.Name] = plan.Add(&reconcile.Step{Op: reconcile.OpBuildImage, Object: s.Image, Target: s.Image,
				Service: s.Name, Cause: reasons[s.Name], Action: a}, deps...)
		}
	}
	return plan, actions, nil
}

// buildOne sends one service's context to the builder.
func buildOne(ctx context.Context, bld service.Builder, p *project.Project, s *project.Service, t BuildTarget, reason string, opts ImageOptions) (string, error) {
	rc, dockerfile, size, err := BuildContext(s.Config, p.WorkingDir)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	spec := t.Spec
	spec.Dockerfile = dockerfile
	opts.progress(ImageEvent{Op: ImageBuild, Service: s.Name, Image: s.Image, Status: reconcile.StatusWorking, Reason: reason, ContextSize: size})
	w, done := opts.output(s.Name)
	id, err := bld.BuildImage(ctx, spec, rc, w)
	done()
	if err != nil {
		return "", fmt.Errorf("service %s: %w", s.Name, err)
	}
	return id, nil
}

// buildCycle returns a cycle among the targets' After edges, as
// "a → b → a", or "" when there is none.
func buildCycle(targets map[string]BuildTarget) string {
	const (
		visiting = 1
		visited  = 2
	)
	state := map[string]int{}
	var path []string
	var visit func(string) string
	visit = func(n string) string {
		switch state[n] {
		case visiting:
			i := slices.Index(path, n)
			return strings.Join(append(slices.Clone(path[i:]), n), " → ")
		case visited:
			return ""
		}
		state[n] = visiting
		path = append(path, n)
		for _, dep := range targets[n].After {
			if c := visit(dep); c != "" {
				return c
			}
		}
		path = path[:len(path)-1]
		state[n] = visited
		return ""
	}
	for _, n := range slices.Sorted(maps.Keys(targets)) {
		if c := visit(n); c != "" {
			return c
		}
	}
	return ""
}

// latestOrUntagged reports whether ref names no tag, or the tag latest,
// which pull's missing policy pulls even when present (it moves).
func latestOrUntagged(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(last, ":")
	return i < 0 || last[i+1:] == "latest"
}

// PullImages pulls the images of the services named in opts.Services (all
// when none), as pull does: services without an image: key, or whose pull
// policy is never or build, are skipped; with policy missing (opts.Pull
// "missing" overrides every service's policy, "always" too), an image
// already present is skipped unless its tag is latest; with
// opts.IgnoreBuildable, services that have a build section are skipped. An
// image several services use is pulled once. A failed pull of an image a
// service builds is a warning; other failures are errors, all reported at
// once, or warnings with opts.IgnoreFailures. It reads opts.Services, Pull,
// IgnoreBuildable, IgnoreFailures, Parallel, DryRun, Progress and Output.
func PullImages(ctx context.Context, b service.Backend, p *project.Project, opts ImageOptions) error {
	switch opts.Pull {
	case "", types.PullPolicyMissing, types.PullPolicyAlways:
	default:
		return fmt.Errorf("invalid --policy %q: use missing or always", opts.Pull)
	}
	svcs, err := selectServices(p, opts.Services)
	if err != nil {
		return err
	}
	present, err := inspectImages(ctx, b, imageRefs(svcs), opts.parallel())
	if err != nil {
		return err
	}
	skip := func(s *project.Service, why string) {
		opts.progress(ImageEvent{Op: ImagePull, Service: s.Name, Image: s.Image, Status: reconcile.StatusDone, Skipped: true, Reason: why})
	}
	var jobs []*pullJob
	for _, s := range svcs {
		policy := s.Config.PullPolicy
		if opts.Pull != "" {
			policy = opts.Pull
		}
		_, have := present[s.Image]
		switch {
		case s.Config.Image == "":
			skip(s, "no image to pull (it is built)")
			continue
		case policy == types.PullPolicyNever || policy == types.PullPolicyBuild:
			skip(s, "pull policy "+policy)
			continue
		case (policy == types.PullPolicyMissing || policy == types.PullPolicyIfNotPresent) && have && !latestOrUntagged(s.Image):
			skip(s, "image is already present")
			continue
		case s.Config.Build != nil && opts.IgnoreBuildable:
			skip(s, "image can be built")
			continue
		}
		if i := slices.IndexFunc(jobs, func(j *pullJob) bool { return j.s.Image == s.Image }); i >= 0 {
			skip(s, "pulled for service "+jobs[i].s.Name)
			continue
		}
		jobs = append(jobs, &pullJob{s: s, ref: s.Image})
	}
	plan := &reconcile.Plan{}
	for _, j := range jobs {
		a := &transferAction{op: ImagePull, svc: j.s, ref: j.ref, opts: &opts}
		transferStep(plan, a, "requested", j.s.Config.Build != nil)
	}
	return opts.apply(ctx, b, plan, true)
}

// PushImages pushes the images of the services named in opts.Services (all
// when none), as push does: only services with both an image: key and a
// build section are pushed (the others are skipped), each under its image
// and its build.tags. Failures are errors, all reported at once, or
// warnings with opts.IgnoreFailures. It reads opts.Services,
// IgnoreFailures, Parallel, DryRun, Progress and Output.
func PushImages(ctx context.Context, b service.Backend, p *project.Project, opts ImageOptions) error {
	svcs, err := selectServices(p, opts.Services)
	if err != nil {
		return err
	}
	// Tags of one repository are pushed one after another: pushed at once,
	// the same blobs race in the registry (Debian's docker-registry answers
	// 500), and the later push finds them all there anyway.
	plan := &reconcile.Plan{}
	last := map[string]*reconcile.Step{} // by repository
	for _, s := range svcs {
		if s.Config.Build == nil || s.Config.Image == "" {
			opts.progress(ImageEvent{Op: ImagePush, Service: s.Name, Image: s.Image, Status: reconcile.StatusDone, Skipped: true, Reason: "only services with both image and build are pushed"})
			continue
		}
		for _, tag := range append([]string{s.Image}, s.Config.Build.Tags...) {
			if slices.ContainsFunc(plan.Steps, func(st *reconcile.Step) bool { return st.Object == tag }) {
				continue
			}
			a := &transferAction{op: ImagePush, svc: s, ref: tag, opts: &opts}
			last[repository(tag)] = transferStep(plan, a, "requested", false, last[repository(tag)])
		}
	}
	return opts.apply(ctx, b, plan, true)
}

// repository is a reference without its tag or digest.
func repository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// Values of down --rmi.
const (
	RemoveImagesLocal = "local"
	RemoveImagesAll   = "all"
)

// DownImages returns the images down --rmi removes, sorted, of those that
// are present: with "local", the images of services that have no image:
// key (project-service, which berth or docker compose built); with "all",
// every service's image and its build.tags. services restricts it to those
// services (all when none). p may be nil: the images are then those the
// project's containers were created from (obs), "local" keeping the
// project-service names.
func DownImages(ctx context.Context, b service.Backend, p *project.Project, obs *reconcile.Observed, mode string, services []string) ([]string, error) {
	switch mode {
	case RemoveImagesLocal, RemoveImagesAll:
	default:
		return nil, fmt.Errorf("invalid --rmi %q: use local or all", mode)
	}
	want := func(svc string) bool { return len(services) == 0 || slices.Contains(services, svc) }
	var refs []string
	add := func(ref string) {
		if ref != "" && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	if p != nil {
		for _, s := range p.Services {
			if !want(s.Name) {
				continue
			}
			if mode == RemoveImagesAll || s.Config.Image == "" {
				add(s.Image)
			}
			if mode == RemoveImagesAll && s.Config.Build != nil {
				for _, t := range s.Config.Build.Tags {
					add(t)
				}
			}
		}
	} else {
		for _, c := range obs.Containers {
			svc := c.Labels[service.LabelService]
			if !want(svc) || strings.HasPrefix(c.Image, "sha256:") {
				continue
			}
			if mode == RemoveImagesAll || c.Image == obs.Project+"-"+svc {
				add(c.Image)
			}
		}
	}
	sort.Strings(refs)
	there, err := inspectImages(ctx, b, refs, 0)
	if err != nil {
		return nil, err
	}
	refs = slices.DeleteFunc(refs, func(r string) bool { _, ok := there[r]; return !ok })
	return refs, nil
}
