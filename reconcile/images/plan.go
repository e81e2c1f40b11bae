package images

import (
	"context"
	"fmt"
	"sync"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// Image pulls, builds and pushes are plan steps (reconcile.OpPullImage,
// OpBuildImage, OpPushImage) applied by reconcile.Apply, as every other
// change: --dry-run prints them as the other plans, and they share its one
// concurrency bound. The steps' work is an action of this package.

// transferAction pulls or pushes one image.
type transferAction struct {
	op   ImageOp
	svc  *project.Service
	ref  string
	opts *ImageOptions
	// pulled, when set, records the image pulled (EnsureImages).
	pulled *presentImages
}

func (a *transferAction) String() string { return a.ref }

// Run pulls or pushes the image, writing its output to the service's
// writer.
func (a *transferAction) Run(ctx context.Context, b service.Backend) error {
	tr, ok := b.(service.ImageTransfer)
	if !ok {
		return fmt.Errorf("service %s: %s image %s: this backend cannot %s images: %w", a.svc.Name, a.op, a.ref, a.op, service.ErrUnsupported)
	}
	w, done := a.opts.output(a.svc.Name)
	var err error
	if a.op == ImagePush {
		err = tr.PushImage(ctx, a.ref, w)
	} else {
		err = tr.PullImage(ctx, a.ref, a.svc.Config.Platform, w)
	}
	done()
	if err != nil {
		return fmt.Errorf("service %s: %w", a.svc.Name, err)
	}
	if a.pulled == nil {
		return nil
	}
	img, err := b.InspectImage(ctx, a.ref)
	if err != nil {
		return fmt.Errorf("service %s: inspect image %s after pulling it: %w", a.svc.Name, a.ref, err)
	}
	a.pulled.set(a.ref, img)
	return nil
}

// buildAction builds one service's image.
type buildAction struct {
	p      *project.Project
	svc    *project.Service
	target BuildTarget
	reason string
	opts   *ImageOptions
	// id is the image built, once Run is done.
	id string
}

func (a *buildAction) String() string { return a.svc.Image }

// Run sends the service's context to the builder; its StatusWorking event
// carries the context's size.
func (a *buildAction) Run(ctx context.Context, b service.Backend) error {
	bld, ok := b.(service.Builder)
	if !ok {
		return fmt.Errorf("service %s: build image %s: this backend cannot build images: %w", a.svc.Name, a.svc.Image, service.ErrUnsupported)
	}
	id, err := buildOne(ctx, bld, a.p, a.svc, a.target, a.reason, *a.opts)
	if err != nil {
		return err
	}
	a.id = id
	return nil
}

// presentImages are the local images by reference, as pulls add to them.
type presentImages struct {
	mu   sync.Mutex
	imgs map[string]service.Image
}

func (p *presentImages) set(ref string, img service.Image) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.imgs[ref] = img
}

// transferStep adds the step of a pull or push to plan; optional makes its
// failure a warning.
func transferStep(plan *reconcile.Plan, a *transferAction, reason string, optional bool, deps ...*reconcile.Step) *reconcile.Step {
	op := reconcile.OpPullImage
	if a.op == ImagePush {
		op = reconcile.OpPushImage
	}
	return plan.Add(&reconcile.Step{Op: op, Object: a.ref, Target: a.ref, Service: a.svc.Name, Cause: reason,
		Optional: optional || a.opts.IgnoreFailures, Action: a}, deps...)
}

// apply hands the plan to opts.OnPlan and, unless a dry run, applies it
// with the one bound, reporting its steps as image events. keepGoing runs
// every step that can run and returns every failure (pulls and pushes);
// else the first failure stops the others (builds).
func (o *ImageOptions) apply(ctx context.Context, b service.Backend, plan *reconcile.Plan, keepGoing bool) error {
	if plan.Empty() {
		return nil
	}
	if o.OnPlan != nil {
		o.OnPlan(plan)
	}
	if o.DryRun {
		return nil
	}
	if err := supported(b, plan); err != nil {
		return err
	}
	return reconcile.Apply(ctx, b, plan, reconcile.ApplyOptions{
		Parallel:  o.parallel(),
		KeepGoing: keepGoing,
		Progress:  o.stepEvent,
	})
}

// supported refuses, before anything is done, a plan whose first image
// step the backend cannot carry out, naming its service.
func supported(b service.Backend, plan *reconcile.Plan) error {
	for _, s := range plan.Steps {
		var ok bool
		switch s.Op {
		case reconcile.OpPullImage, reconcile.OpPushImage:
			_, ok = b.(service.ImageTransfer)
		case reconcile.OpBuildImage:
			_, ok = b.(service.Builder)
		default:
			continue
		}
		if !ok {
			return s.Action.Run(context.Background(), b) // names the service, wraps ErrUnsupported
		}
	}
	return nil
}

// stepEvent turns the event of a step into an image event. A build's
// StatusWorking event is its action's, which knows the context's size.
func (o *ImageOptions) stepEvent(e reconcile.Event) {
	op := ImagePull
	switch e.Step.Op {
	case reconcile.OpBuildImage:
		if e.Status == reconcile.StatusWorking {
			return
		}
		op = ImageBuild
	case reconcile.OpPushImage:
		op = ImagePush
	}
	o.progress(ImageEvent{Op: op, Service: e.Step.Service, Image: e.Step.Object, Status: e.Status, Reason: e.Step.Cause, Err: e.Err})
}

// RemovePlan plans image rm: a remove-image step per reference, in the
// order given, with force (-f) removing an image a container uses. An
// image that does not exist fails its step.
func RemovePlan(refs []string, force bool) *reconcile.Plan {
	plan := &reconcile.Plan{}
	var prev *reconcile.Step
	for _, ref := range refs {
		prev = plan.Add(&reconcile.Step{Op: reconcile.OpRemoveImage, Object: ref, Target: ref, Force: force}, prev)
	}
	return plan
}
