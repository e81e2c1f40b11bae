// Package registry is berth's client of OCI registries for what is not an
// image pull or push of a backend: the digest a registry has for a tag
// (config --resolve-image-digests), and the push of an artifact made of
// blobs held in memory (publish). It uses go-containerregistry with the
// credentials of ~/.docker/config.json (and its credential helpers);
// registries on the loopback (localhost, 127.0.0.0/8, ::1) are reached over
// plain HTTP, as the engine reaches them, and no other.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
)

// Client talks to registries. The zero value is ready to use.
type Client struct {
	// Keychain gives credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// Insecure allows plain HTTP to any registry (publish
	// --insecure-registry, for tests); without it only the loopback's.
	Insecure bool
}

func (c Client) options(ctx context.Context) []remote.Option {
	kc := c.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
}

// Digest asks ref's registry for the digest of its tag (a HEAD of the
// manifest, what the engine's distribution inspect gives).
func (c Client) Digest(ctx context.Context, ref reference.Named) (digest.Digest, error) {
	r, err := parseRef(ref.String(), c.Insecure)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(r, c.options(ctx)...)
	if err != nil {
		return "", fmt.Errorf("resolve the digest of %s: %w", reference.FamiliarString(ref), translate(err))
	}
	return digest.Digest(desc.Digest.String()), nil
}

// PushArtifact pushes blobs (each digest once) to ref's repository, then
// manifest under ref's tag. A manifest the registry refuses with a client
// error other than an authentication one (a registry that does not know
// its media type or fields) wraps service.ErrUnsupported.
func (c Client) PushArtifact(ctx context.Context, ref string, blobs []ocispec.Descriptor, manifest ocispec.Descriptor) error {
	r, err := parseRef(ref, c.Insecure)
	if err != nil {
		return err
	}
	opts := c.options(ctx)
	seen := map[digest.Digest]bool{}
	for _, b := range blobs {
		if seen[b.Digest] {
			continue
		}
		seen[b.Digest] = true
		if err := remote.WriteLayer(r.Context(), static.NewLayer(b.Data, types.MediaType(b.MediaType)), opts...); err != nil {
			return fmt.Errorf("push blob %s to %s: %w", b.Digest, r.Context(), translate(err))
		}
	}
	if err := remote.Put(r, rawManifest{manifest}, opts...); err != nil {
		err = translate(err)
		if refused(err) {
			err = fmt.Errorf("%w (%w)", err, service.ErrUnsupported)
		}
		return fmt.Errorf("push the manifest to %s: %w", ref, err)
	}
	return nil
}

// rawManifest is a manifest pushed as it is.
type rawManifest struct{ d ocispec.Descriptor }

func (m rawManifest) RawManifest() ([]byte, error) { return m.d.Data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) {
	return types.MediaType(m.d.MediaType), nil
}

// parseRef parses a reference, allowing plain HTTP on the loopback (or
// everywhere with insecure).
func parseRef(ref string, insecure bool) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", ref, err)
	}
	if insecure || loopback(r.Context().RegistryStr()) {
		if r, err = name.ParseReference(ref, name.Insecure); err != nil {
			return nil, fmt.Errorf("reference %q: %w", ref, err)
		}
	}
	return r, nil
}

// loopback reports whether a registry host[:port] is on the loopback.
func loopback(reg string) bool {
	host := reg
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i > 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// translate makes a registry's "not found" answers service.ErrNotFound.
func translate(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", service.ErrNotFound, err)
	}
	return err
}

// refused reports whether err is a registry's 4xx answer other than an
// authentication one.
func refused(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	c := terr.StatusCode
	return c >= 400 && c < 500 && !slices.Contains([]int{http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired}, c)
}

// CopyImage copies the image (or index) src points at, with its blobs,
// into the repository dst by digest, as docker compose publish --app
// does, and returns its descriptor, annotated with its source as
// containerd annotates it.
func (c Client) CopyImage(ctx context.Context, src, dst string) (ocispec.Descriptor, error) {
	s, err := parseRef(src, c.Insecure)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	opts := c.options(ctx)
	desc, err := remote.Get(s, opts...)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s: %w", src, translate(err))
	}
	d, err := parseRef(dst+"@"+desc.Digest.String(), c.Insecure)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			err = remote.WriteIndex(d, idx, opts...)
		}
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("copy %s to %s: %w", src, dst, translate(err))
		}
	} else {
		img, err := desc.Image()
		if err == nil {
			err = remote.Write(d, img, opts...)
		}
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("copy %s to %s: %w", src, dst, translate(err))
		}
	}
	out := ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}
	if named, err := reference.ParseDockerRef(src); err == nil {
		// the host without its port, as containerd's label
		host := reference.Domain(named)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		out.Annotations = map[string]string{"containerd.io/distribution.source." + host: reference.Path(named)}
	}
	return out, nil
}
