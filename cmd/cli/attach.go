package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/supervise"
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

// runAttach connects the terminal to the service's running container
// (supervise.Attach).
func runAttach(ctx context.Context, g *globals, o attachOptions, svc string) error {
	s, err := g.session(ctx, []string{svc})
	if err != nil {
		return err
	}
	defer s.close()
	_, ok := s.b.(service.Attacher)
	_, ok2 := s.b.(service.Waiter)
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
	code, err := supervise.Attach(ctx, s.b, target, supervise.AttachOptions{
		Stdin: stdin, Stdout: g.stdio.Out, Stderr: g.stdio.Err,
		SigProxy: o.sigProxy, Interrupts: g.interrupts,
		Apply: reconcile.ApplyOptions{Project: s.name, Journal: g.journal},
	})
	return exitStatus(code, err)
}
