// Command berth runs multi-container applications from compose files, as a
// drop-in for docker compose. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthdev/berth/cmd/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
