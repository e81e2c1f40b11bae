package supervise

import "github.com/berthdev/berth/service"

// Terminal is the user's terminal, for a container or an exec with a TTY.
// Its methods do nothing where standard input or output is no terminal.
type Terminal interface {
	// MakeRaw puts standard input in raw mode (the container's TTY echoes
	// and edits lines itself) and returns what restores it.
	MakeRaw() (restore func())
	// Size returns the size of the terminal on standard output (zero when
	// there is none) and a channel of its later sizes, closed by stop.
	Size() (size service.TerminalSize, resize <-chan service.TerminalSize, stop func())
}

// noTerminal is the Terminal of streams that are not terminals.
type noTerminal struct{}

func (noTerminal) MakeRaw() func() { return func() {} }

func (noTerminal) Size() (service.TerminalSize, <-chan service.TerminalSize, func()) {
	return service.TerminalSize{}, nil, func() {}
}

// terminalOr is t, or noTerminal when t is nil.
func terminalOr(t Terminal) Terminal {
	if t == nil {
		return noTerminal{}
	}
	return t
}
