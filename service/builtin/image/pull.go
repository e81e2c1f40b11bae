package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DefaultPlatform is the platform Pull selects when none is given.
const DefaultPlatform = "linux/amd64"

// Pull fetches ref from its registry and stores it, returning the stored
// image.
//
// platform ("os/arch[/variant]", DefaultPlatform when empty) selects the
// manifest when ref names an index. Credentials come from
// authn.DefaultKeychain (~/.docker/config.json, $DOCKER_CONFIG, credential
// helpers). Registries on the loopback (localhost, 127.0.0.0/8, ::1) may be
// plain HTTP; every other registry must be HTTPS. Blobs already stored are not fetched again; every blob fetched
// is verified against its digest before it is stored. Progress lines, one per
// blob, go to progress when it is not nil.
//
// An image, tag or platform the registry does not have gives an error
// wrapping service.ErrNotFound and naming ref. Pulling again is safe and
// moves a tag to what the registry now serves.
func (s *Store) Pull(ctx context.Context, ref, platform string, progress io.Writer) (Image, error) {
	r, err := parse(ref)
	if err != nil {
		return Image{}, err
	}
	if platform == "" {
		platform = DefaultPlatform
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: platform %q: %w", ref, platform, err)
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(*p),
		remote.WithTransport(loopbackHTTPOnly{remote.DefaultTransport}),
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return Image{}, pullError(ref, platform, err)
	}
	unlock, err := s.writeLock()
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	md, err := s.storeImage(ctx, img, progress)
	if err != nil {
		return Image{}, pullError(ref, platform, err)
	}
	key := normalize(r)
	if err := s.setRef(key, md); err != nil {
		return Image{}, err
	}
	refs, err := s.readRefs()
	if err != nil {
		return Image{}, err
	}
	return s.image(refs, md.String())
}

// loopbackHTTPOnly refuses plain-HTTP requests to hosts off the loopback.
// go-containerregistry falls back to HTTP for private (RFC 1918) addresses
// and *.local names too; berth allows it for the loopback only.
type loopbackHTTPOnly struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t loopbackHTTPOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !isLoopback(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain HTTP to %s: only registries on the loopback may be insecure", req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

// pullError translates registry errors: unknown names, manifests and
// platforms become service.ErrNotFound.
func pullError(ref, platform string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		notFound := terr.StatusCode == http.StatusNotFound
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				notFound = true
			}
		}
		if notFound {
			return fmt.Errorf("pull %s: %w: %v", ref, service.ErrNotFound, err)
		}
	}
	if strings.Contains(err.Error(), "no child with platform") {
		return fmt.Errorf("pull %s: no %s image: %w: %v", ref, platform, service.ErrNotFound, err)
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}

// storeImage writes img's layers, config and manifest (in that order, so
// that a manifest present implies its blobs are) and returns the manifest
// digest. The caller holds the write lock.
func (s *Store) storeImage(ctx context.Context, img v1.Image, progress io.Writer) (v1.Hash, error) {
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(layers) != len(m.Layers) {
		return v1.Hash{}, fmt.Errorf("manifest lists %d layers, image has %d", len(m.Layers), len(layers))
	}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return v1.Hash{}, err
		}
		d := m.Layers[i].Digest
		if s.hasBlob(d) {
			say("%s: already exists", short(d))
			continue
		}
		say("%s: pulling %d bytes", short(d), m.Layers[i].Size)
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("layer %s: %w", d, err)
		}
		err = s.writeBlob(d, m.Layers[i].Size, ctxReader{ctx, rc})
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
		say("%s: done", short(d))
	}
	if !s.hasBlob(m.Config.Digest) {
		cfg, err := img.RawConfigFile()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("config: %w", err)
		}
		if _, err := s.writeBytes(cfg, m.Config.Digest); err != nil {
			return v1.Hash{}, err
		}
	}
	sum := sha256.Sum256(raw)
	md := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if _, err := s.writeBytes(raw, md); err != nil {
		return v1.Hash{}, err
	}
	say("%s: manifest stored", short(md))
	return md, nil
}

// short abbreviates a digest for progress lines.
func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Hex[:12]
	}
	return h.Hex
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
