//go:build !linux

package proc

import (
	"fmt"
	"os"

	"github.com/berthdev/berth/service"
)

var errLinuxOnly = fmt.Errorf("the built-in runtime runs on Linux only: %w", service.ErrUnsupported)

// InitMain is the container's init; Linux only.
func InitMain() int { return 1 }

// ExecMain is the exec helper; Linux only.
func ExecMain() int { return 1 }

// ReaperMain is the reaping PID 1 of init: true; Linux only.
func ReaperMain([]string) int { return 1 }

// OpenPty opens a terminal pair; Linux only.
func OpenPty() (*os.File, *os.File, error) { return nil, nil, errLinuxOnly }

// PtyReader reads a terminal's master side.
type PtyReader struct{ File *os.File }

// Read reads from the terminal.
func (p PtyReader) Read(b []byte) (int, error) { return p.File.Read(b) }

// Close closes the terminal.
func (p PtyReader) Close() error { return p.File.Close() }

// SetWinsize sets a terminal's size; Linux only.
func SetWinsize(*os.File, service.TerminalSize) {}
