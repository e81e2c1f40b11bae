//go:build !linux

package archive

import (
	"context"
	"errors"
	"io"
)

var errUnsupported = errors.New("only supported on Linux")

func archive(ctx context.Context, root, p string) (io.ReadCloser, error) {
	return nil, errUnsupported
}

func extract(ctx context.Context, root, dir string, r io.Reader) error {
	return errUnsupported
}
