package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Push uploads the stored image ref to its registry (the blobs the
// registry lacks, then the manifest), with the credentials and transport
// rules of Pull. A progress line per blob, and docker's closing
// "<tag>: digest: <digest> size: <n>" line, go to progress when not nil.
// An image not in the store gives an error wrapping service.ErrNotFound.
func (s *Store) Push(ctx context.Context, ref string, progress io.Writer) error {
	img, err := s.Get(ref)
	if err != nil {
		return err
	}
	r, err := parse(ref)
	if err != nil {
		return err
	}
	si, err := s.stored(img)
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	vimg, err := partial.CompressedToImage(si)
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := int64(-1)
		for u := range updates {
			if progress != nil && u.Total > 0 && u.Complete == u.Total && u.Complete != last {
				last = u.Complete
				fmt.Fprintf(progress, "Pushed %d bytes\n", u.Complete)
			}
		}
	}()
	err = remote.Write(r, vimg,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(loopbackHTTPOnly{remote.DefaultTransport}),
		remote.WithProgress(updates))
	<-done
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "%s: digest: %s size: %d\n", r.Identifier(), img.Manifest, len(si.manifest))
	}
	return nil
}

// storedImage is a stored image as partial.CompressedImageCore: its
// manifest, config and layer blobs, as they are in the store.
type storedImage struct {
	s        *Store
	manifest []byte
	m        *v1.Manifest
}

func (s *Store) stored(img Image) (*storedImage, error) {
	h, err := v1.NewHash(img.Manifest)
	if err != nil {
		return nil, err
	}
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &storedImage{s: s, manifest: raw, m: m}, nil
}

func (i *storedImage) RawManifest() ([]byte, error) { return i.manifest, nil }

func (i *storedImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *storedImage) RawConfigFile() ([]byte, error) { return i.s.readBlob(i.m.Config.Digest) }

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return storedBlob{path: i.s.blobPath(h), desc: l}, nil
		}
	}
	if i.m.Config.Digest == h {
		return storedBlob{path: i.s.blobPath(h), desc: i.m.Config}, nil
	}
	return nil, fmt.Errorf("blob %s is not in the manifest", h)
}

// storedBlob is a blob of the store as a partial.CompressedLayer.
type storedBlob struct {
	path string
	desc v1.Descriptor
}

func (b storedBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b storedBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b storedBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b storedBlob) Compressed() (io.ReadCloser, error)  { return os.Open(b.path) }
