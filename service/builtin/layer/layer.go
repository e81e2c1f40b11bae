package layer

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
)

// Options controls how a layer is unpacked.
type Options struct {
	// AllowDevices creates block and character device nodes; when false
	// they are skipped and listed in Stats.Skipped.
	AllowDevices bool
	// IgnoreOwnership leaves files owned by the calling user instead of
	// applying the uid/gid of the tar headers (for rootless use and tests).
	IgnoreOwnership bool
	// Overlay unpacks the layer as an overlayfs lower dir: whiteouts become
	// 0/0 character devices and opaque dirs get trusted.overlay.opaque=y.
	// When false, whiteouts and opaque markers are applied to the content
	// already in the root (flattened mode).
	Overlay bool
}

// Stats counts what Unpack created.
type Stats struct {
	// Files is the number of regular files, FIFOs and device nodes
	// created.
	Files int64
	// Dirs is the number of directory entries applied.
	Dirs int64
	// Symlinks is the number of symbolic links created.
	Symlinks int64
	// Hardlinks is the number of hard links created.
	Hardlinks int64
	// Whiteouts is the number of whiteout and opaque-directory markers
	// applied.
	Whiteouts int64
	// Bytes is the number of bytes of regular file content written.
	Bytes int64
	// Skipped lists entries (or attributes) that were deliberately not
	// applied, each with the reason.
	Skipped []string
}

// ErrUnsafePath is wrapped by the errors Unpack returns for entries whose
// name or hardlink target would escape the root.
var ErrUnsafePath = errors.New("unsafe path in layer")

// UnpackCompressed is Unpack for a stream that may be gzip-compressed: it
// sniffs the gzip magic and decompresses, and passes any other stream to
// Unpack as an uncompressed tar. zstd layers are reported as unsupported.
func UnpackCompressed(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return Stats{}, fmt.Errorf("layer: read header: %w", err)
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Stats{}, fmt.Errorf("layer: gzip: %w", err)
		}
		defer zr.Close()
		return Unpack(ctx, root, zr, opts)
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		return Stats{}, errors.New("layer: zstd-compressed layers are not supported")
	}
	return Unpack(ctx, root, br, opts)
}
