//go:build !linux

package seccomp

import "errors"

// Install is Linux only.
func Install(p *Program) error {
	if p == nil {
		return nil
	}
	return errors.New("seccomp: only on Linux")
}
