package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/berthdev/berth/service"
)

// exitStatus is the error a command returns for a container's exit code
// (nil for 0), or err.
func exitStatus(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// interrupts listens to the user's next Ctrl+C (SIGINT, SIGTERM) until stop
// is called: supervise's Interrupts.
func (g *globals) interrupts() (sigs <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// terminal is berth's standard streams as supervise.Terminal: raw mode
// and size where they are terminals, nothing otherwise.
type terminal struct{ g *globals }

func (t terminal) MakeRaw() func() { return rawTerminal(t.g) }

func (t terminal) Size() (service.TerminalSize, <-chan service.TerminalSize, func()) {
	return followTerminalSize(t.g)
}
