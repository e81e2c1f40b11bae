//go:build !linux

package builtin

import (
	"fmt"

	"github.com/berthdev/berth/service"
)

func supportedOS() error { return fmt.Errorf("it runs on Linux only: %w", service.ErrUnsupported) }
