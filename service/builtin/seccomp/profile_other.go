//go:build !linux

package seccomp

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var errLinuxOnly = errors.New("seccomp: only on Linux")

// Default is Linux only.
func Default([]string) (*specs.LinuxSeccomp, error) { return nil, errLinuxOnly }

// Load is Linux only.
func Load([]byte, []string) (*specs.LinuxSeccomp, error) { return nil, errLinuxOnly }
