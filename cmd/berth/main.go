// Command berth runs multi-container applications from compose files, as a
// drop-in for docker compose. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthdev/berth/cmd/cli"
	"github.com/berthdev/berth/service/builtin"
)

func main() {
	// The built-in runtime re-executes this binary as a container's shim,
	// init and reaper: those run before anything else.
	if code, ok := builtin.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
