package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// RunOptions steer run's one-off container once its dependencies are up.
type RunOptions struct {
	// OneOff is the container: reconcile.OneOffSpec's options.
	OneOff reconcile.OneOffOptions
	// Detach starts the container and returns, printing its ID on Stdout.
	Detach bool
	// Remove removes the container (and its anonymous volumes) once it
	// exits, or when it could not be started.
	Remove bool
	// DryRun prints the plan with PrintPlan and changes nothing.
	DryRun    bool
	PrintPlan func(*reconcile.Plan)
	// Apply are the options of the creation's plan (progress, journal,
	// parallel); Created is called once it is applied, failed or not (the
	// project lock may go: the container is made).
	Apply   reconcile.ApplyOptions
	Created func()
	// Stdin (read when the container keeps it open), Stdout and Stderr are
	// the container's streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal is the user's terminal, for a container with a TTY (nil:
	// none).
	Terminal Terminal
}

// Run runs a one-off container of svc as docker compose's run does: it is
// created (a plan), then either started and left running (Detach), or
// attached to, started and waited for. It returns the container's exit
// code (130 when the wait was cancelled). With Remove the container is
// removed once done; every change is a plan applied by reconcile.Apply.
func Run(ctx context.Context, b service.Backend, p *project.Project, svc *project.Service, o RunOptions) (int, error) {
	spec, files, err := reconcile.OneOffSpec(ctx, b, p, svc, o.OneOff)
	if err != nil {
		return 0, err
	}
	plan := reconcile.OneOff(spec, files, o.Detach)
	if o.DryRun {
		if o.PrintPlan != nil {
			o.PrintPlan(plan)
		}
		return 0, nil
	}
	aopts := o.Apply
	aopts.Project = p.Name
	err = reconcile.Apply(ctx, b, plan, aopts)
	if o.Created != nil {
		o.Created()
	}
	r := &oneOff{b: b, project: p.Name, name: spec.Name, service: svc.Name, files: files, o: o}
	if err != nil {
		if o.Detach {
			r.cleanup(ctx)
		}
		return 0, err
	}
	if o.Detach {
		c, err := b.InspectContainer(ctx, spec.Name)
		if err != nil {
			return 0, fmt.Errorf("inspect container %s: %w", spec.Name, err)
		}
		fmt.Fprintln(o.Stdout, c.ID) // the ID, as docker compose
		return 0, nil
	}
	return r.attached(ctx, spec)
}

// oneOff is a one-off container made, that an attached run starts and
// waits for.
type oneOff struct {
	b                      service.Backend
	project, name, service string
	files                  []reconcile.File
	o                      RunOptions
}

// cleanup removes the container with --rm.
func (r *oneOff) cleanup(ctx context.Context) {
	if r.o.Remove {
		_ = reconcile.Apply(context.WithoutCancel(ctx), r.b, reconcile.RemoveOneOff(r.name, r.service), reconcile.ApplyOptions{Project: r.project})
	}
}

// attached attaches to the container, starts it, follows the terminal's
// size and waits for the container to exit.
func (r *oneOff) attached(ctx context.Context, spec service.ContainerSpec) (int, error) {
	att, ok := r.b.(service.Attacher)
	waiter, ok2 := r.b.(service.Waiter)
	if !ok || !ok2 {
		r.cleanup(ctx)
		return 0, fmt.Errorf("attached run: %w (use -d)", service.ErrUnsupported)
	}
	stdin := r.o.Stdin
	if !spec.OpenStdin {
		stdin = nil
	}
	term := terminalOr(r.o.Terminal)
	if spec.Tty {
		restore := term.MakeRaw()
		defer restore()
	}
	wait, err := att.Attach(ctx, r.name, stdin, r.o.Stdout, r.o.Stderr)
	if err != nil {
		r.cleanup(ctx)
		return 0, fmt.Errorf("attach to %s: %w", r.name, err)
	}
	if err := reconcile.Apply(ctx, r.b, reconcile.StartOneOff(r.name, r.service, r.files), reconcile.ApplyOptions{Project: r.project}); err != nil {
		r.cleanup(ctx)
		return 0, err
	}
	if rs, ok := r.b.(service.Resizer); ok && spec.Tty {
		stop := followSize(ctx, rs, r.name, term)
		defer stop()
	}
	code, err := waiter.WaitContainer(context.WithoutCancel(ctx), r.name)
	_ = wait()
	r.cleanup(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 130, nil
		}
		return 0, err
	}
	return code, nil
}

// followSize gives the container's terminal the size of the user's, now
// and as it changes (best effort), until stop is called.
func followSize(ctx context.Context, rs service.Resizer, id string, t Terminal) (stop func()) {
	size, resize, stop := t.Size()
	_ = rs.ResizeTTY(ctx, id, size)
	go func() {
		for sz := range resize {
			_ = rs.ResizeTTY(ctx, id, sz)
		}
	}()
	return stop
}
