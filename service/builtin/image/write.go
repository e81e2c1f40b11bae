package image

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Write stores img, built locally (by service/builtin/build, say): its
// layers, config and manifest, as Pull and Load do, and records refs as
// references to it, normalised with Normalize ("app" is recorded as
// "docker.io/library/app:latest"). With no refs the image is recorded under
// its ID, so that it survives GC. A reference already naming another image
// is moved; writing the same image again is safe.
//
// Layers whose blob is already stored are not read; the others are read
// with Compressed and verified against their digest and size. Digest
// references are refused: a reference made here names a tag.
func (s *Store) Write(ctx context.Context, img v1.Image, refs []string) (Image, error) {
	keys := make([]string, 0, len(refs))
	for _, r := range refs {
		norm, err := Normalize(r)
		if err != nil {
			return Image{}, fmt.Errorf("image store: write: %w", err)
		}
		if strings.Contains(norm, "@") {
			return Image{}, fmt.Errorf("image store: write: reference %q: cannot name an image with a digest reference", r)
		}
		keys = append(keys, norm)
	}
	unlock, err := s.writeLock()
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	stored, err := s.record(ctx, img, keys)
	if err != nil {
		return Image{}, fmt.Errorf("image store: write: %w", err)
	}
	return stored, nil
}
