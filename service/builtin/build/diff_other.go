//go:build !linux

package build

import (
	"context"
	"errors"
)

// diffUpper needs Linux: overlay upper directories exist only there.
func diffUpper(ctx context.Context, upper string, lw *layerWriter) error {
	return errors.New("reading an overlay upper directory needs Linux")
}
