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
	os.Exit(run(os.Args, cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// run is the whole program with the arguments (the program's name first)
// and streams given, and returns the exit code. The built-in runtime
// re-executes this binary as a container's shim, init and reaper: those run
// before anything else. Otherwise it is the command line, cancelled by
// SIGINT or SIGTERM.
func run(args []string, stdio cli.Stdio) int {
	if code, ok := builtin.Dispatch(args); ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Run(ctx, args[1:], stdio)
}
