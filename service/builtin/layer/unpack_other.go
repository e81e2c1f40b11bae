//go:build !linux

package layer

import (
	"context"
	"errors"
	"io"
)

// Unpack reads an uncompressed tar stream from r and applies it to root.
// It is only implemented on Linux.
func Unpack(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	return Stats{}, errors.New("layer: unpacking is only supported on Linux")
}
