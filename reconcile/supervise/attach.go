package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// AttachOptions steer Attach.
type AttachOptions struct {
	// Stdin (nil: none), Stdout and Stderr are connected to the
	// container's streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// SigProxy passes the user's Ctrl+C (ctx done) to the container as
	// SIGINT, a plan step; without it, Ctrl+C detaches.
	SigProxy bool
	// Interrupts, when set, starts listening to the user's interrupts once
	// Ctrl+C was passed on: the next one detaches (exit code 130).
	Interrupts func() (<-chan os.Signal, func())
	// Apply are the options of the SIGINT plan.
	Apply reconcile.ApplyOptions
}

// Attach connects the streams to the running container c until it stops,
// and returns its exit code. The streams outlive ctx: when ctx is done
// (Ctrl+C), the signal is passed on (SigProxy) and Attach goes on until
// the container stops or the next interrupt, or it detaches at once.
func Attach(ctx context.Context, b service.Backend, c service.Container, o AttachOptions) (int, error) {
	att, ok := b.(service.Attacher)
	waiter, ok2 := b.(service.Waiter)
	if !ok || !ok2 {
		return 0, fmt.Errorf("this backend cannot attach: %w", service.ErrUnsupported)
	}
	streams, stopStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStreams()
	wait, err := att.Attach(streams, c.ID, o.Stdin, o.Stdout, o.Stderr)
	if err != nil {
		return 0, fmt.Errorf("attach to %s: %w", c.Name, err)
	}
	exited := make(chan exitResult, 1)
	go func() {
		code, err := waiter.WaitContainer(streams, c.ID)
		exited <- exitResult{code, err}
	}()
	// ended is attach's result once the container has stopped (or cannot
	// be waited for: removed meanwhile).
	ended := func(e exitResult) (int, error) {
		_ = wait()
		if e.err != nil {
			return 0, fmt.Errorf("wait for %s: %w", c.Name, e.err)
		}
		return e.code, nil
	}
	select {
	case e := <-exited:
		return ended(e)
	case <-ctx.Done():
	}
	if !o.SigProxy {
		return 0, nil // detached
	}
	if err := interrupt(ctx, b, c, o.Apply); err != nil {
		return 0, err
	}
	// The container may ignore the signal: a second Ctrl+C detaches.
	var again <-chan os.Signal
	if o.Interrupts != nil {
		sigs, stop := o.Interrupts()
		defer stop()
		again = sigs
	}
	select {
	case e := <-exited:
		return ended(e)
	case <-again:
		return 130, nil
	}
}

// exitResult is what WaitContainer returned.
type exitResult struct {
	code int
	err  error
}

// interrupt passes Ctrl+C to c: a plan of one SIGINT step. A container
// that stopped meanwhile is no failure.
func interrupt(ctx context.Context, b service.Backend, c service.Container, opts reconcile.ApplyOptions) error {
	if _, ok := b.(service.Signaller); !ok {
		return nil
	}
	err := reconcile.Apply(context.WithoutCancel(ctx), b, reconcile.Signal([]service.Container{c}, reconcile.OpKillContainer, "SIGINT"), opts)
	if err != nil && !errors.Is(err, service.ErrConflict) {
		return fmt.Errorf("pass Ctrl+C to %s: %w", c.Name, err)
	}
	return nil
}

// ExecOptions steer Exec.
type ExecOptions struct {
	// Spec is the command; with Spec.Tty and without Spec.Detach, the
	// user's terminal is put in raw mode and its size followed.
	Spec service.ExecSpec
	// Stdin (nil: none), Stdout and Stderr are the command's streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal is the user's terminal (nil: none).
	Terminal Terminal
}

// Exec runs a command in the running container c and returns its exit
// code (0 when detached).
func Exec(ctx context.Context, b service.Backend, c service.Container, o ExecOptions) (int, error) {
	ex, ok := b.(service.Execer)
	if !ok {
		return 0, fmt.Errorf("this backend cannot exec: %w", service.ErrUnsupported)
	}
	spec := o.Spec
	stdin := o.Stdin
	if spec.Detach {
		stdin = nil
	}
	if spec.Tty && !spec.Detach {
		term := terminalOr(o.Terminal)
		restore := term.MakeRaw()
		defer restore()
		var stop func()
		spec.Size, spec.Resize, stop = term.Size()
		defer stop()
	}
	return ex.Exec(ctx, c.ID, spec, stdin, o.Stdout, o.Stderr)
}
