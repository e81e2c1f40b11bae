package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/service"
)

type attachOptions struct {
	index             int
	noStdin, sigProxy bool
}

func newAttachCmd(g *globals) *cobra.Command {
	var o attachOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] SERVICE",
		Short: "Attach local standard input, output, and error streams to a service's running container",
		Long: `Connect to the output of a running container of the service (replica 1, or
--index) and, when the container keeps stdin open (stdin_open: true), send
it this terminal's input. The output shown starts now. Ctrl+C is passed to
the container (unless --sig-proxy=false); when the container stops, attach
returns with its exit code.`,
		Example: `  berth attach web
  berth attach --index 2 --no-stdin worker`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttach(cmd.Context(), g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.index, "index", 0, "Index of the container if the service has several replicas (default: the lowest)")
	f.BoolVar(&o.noStdin, "no-stdin", false, "Do not attach standard input")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Pass the signals received (Ctrl+C) to the container")
	f.String("detach-keys", "", "Accepted for docker compose compatibility; Ctrl+C detaches when --sig-proxy=false")
	return cmd
}

func runAttach(ctx context.Context, g *globals, o attachOptions, svc string) error {
	s, err := g.session(ctx, []string{svc})
	if err != nil {
		return err
	}
	defer s.close()
	att, ok := s.b.(service.Attacher)
	waiter, ok2 := s.b.(service.Waiter)
	if !ok || !ok2 {
		return fmt.Errorf("this backend cannot attach: %w", service.ErrUnsupported)
	}
	target, err := runningReplica(ctx, s, svc, o.index)
	if err != nil {
		return err
	}
	var stdin io.Reader = g.stdio.In
	if o.noStdin {
		stdin = nil
	}
	// The streams outlive ctx: Ctrl+C is passed on, and attach ends with
	// the container.
	streams, stopStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStreams()
	wait, err := att.Attach(streams, target.ID, stdin, g.stdio.Out, g.stdio.Err)
	if err != nil {
		return fmt.Errorf("attach to %s: %w", target.Name, err)
	}
	type exit struct {
		code int
		err  error
	}
	exited := make(chan exit, 1)
	go func() {
		code, err := waiter.WaitContainer(streams, target.ID)
		exited <- exit{code, err}
	}()
	// ended returns attach's result once the container has stopped (or
	// cannot be waited for: removed meanwhile).
	ended := func(e exit) error {
		_ = wait()
		switch {
		case e.err != nil:
			return fmt.Errorf("wait for %s: %w", target.Name, e.err)
		case e.code != 0:
			return &ExitError{Code: e.code}
		}
		return nil
	}
	select {
	case e := <-exited:
		return ended(e)
	case <-ctx.Done():
	}
	if !o.sigProxy {
		return nil // detached
	}
	if sig, ok := s.b.(service.Signaller); ok {
		if err := sig.KillContainer(context.WithoutCancel(ctx), target.ID, "SIGINT"); err != nil && !errors.Is(err, service.ErrConflict) {
			return fmt.Errorf("pass Ctrl+C to %s: %w", target.Name, err)
		}
	}
	// The container may ignore the signal: a second Ctrl+C detaches.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	select {
	case e := <-exited:
		return ended(e)
	case <-again:
		return &ExitError{Code: 130}
	}
}
