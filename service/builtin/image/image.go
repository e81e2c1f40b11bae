package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is a stored image.
type Image struct {
	// ID is the digest of the image config ("sha256:<hex>"), as docker
	// shows it.
	ID string
	// Manifest is the digest of the stored manifest ("sha256:<hex>").
	Manifest string
	// Refs are the normalised references recorded for the image, sorted;
	// empty for an image recorded only by ID.
	Refs []string
	// Layers are the image's layers, base first.
	Layers []Layer
	// Config is the image's runtime configuration.
	Config Config
}

// Layer is one layer of a stored image.
type Layer struct {
	// Digest is the digest of the blob as stored (usually compressed).
	Digest string
	// DiffID is the digest of the uncompressed tar stream.
	DiffID string
	// Size is the size of the stored blob in bytes.
	Size int64
	// MediaType is the layer's media type from the manifest.
	MediaType string

	path string
}

// Open returns the layer's uncompressed tar stream: gzip and zstd blobs are
// decompressed, uncompressed ones returned as stored. The stream is not
// verified against DiffID. A blob removed by GC gives an error wrapping
// service.ErrNotFound.
func (l Layer) Open() (io.ReadCloser, error) {
	cl := &storedLayer{l: l}
	ul, err := partial.CompressedToLayer(cl)
	if err != nil {
		return nil, err
	}
	return ul.Uncompressed()
}

// storedLayer adapts a Layer to partial.CompressedLayer.
type storedLayer struct{ l Layer }

func (s *storedLayer) Digest() (v1.Hash, error) { return v1.NewHash(s.l.Digest) }
func (s *storedLayer) Size() (int64, error)     { return s.l.Size, nil }
func (s *storedLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(s.l.MediaType), nil
}
func (s *storedLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(s.l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("layer %s: %w", s.l.Digest, service.ErrNotFound)
	}
	return f, err
}

// Config is the part of an image configuration a runtime applies, with
// docker's meaning for each field.
type Config struct {
	// Entrypoint and Cmd make up the default command line.
	Entrypoint, Cmd []string
	// Env holds KEY=VALUE pairs.
	Env []string
	// WorkingDir is the default working directory ("" means "/").
	WorkingDir string
	// User is the default user ("uid", "uid:gid", "name", "name:group").
	User string
	// ExposedPorts are "80/tcp"-style ports, sorted.
	ExposedPorts []string
	// Volumes are the anonymous volume mount points, sorted.
	Volumes []string
	// Labels are the image labels.
	Labels map[string]string
	// StopSignal is the signal to stop the container with ("" means SIGTERM).
	StopSignal string
	// Healthcheck is the image's healthcheck, nil when it has none.
	Healthcheck *Healthcheck
	// Architecture and OS are the image's platform ("amd64", "linux").
	Architecture, OS string
	// Variant is the CPU variant ("v8"), if any.
	Variant string
	// Created is when the image was made (zero when its config does not
	// say).
	Created time.Time
}

// Healthcheck is an image healthcheck; zero durations and retries mean the
// runtime default.
type Healthcheck struct {
	// Test is ["CMD", args...], ["CMD-SHELL", cmd] or ["NONE"]; empty
	// inherits.
	Test []string
	// Interval between checks, Timeout of one check, StartPeriod during
	// which failures do not count.
	Interval, Timeout, StartPeriod time.Duration
	// Retries is the number of consecutive failures that make the
	// container unhealthy.
	Retries int
}

// configFrom converts a go-containerregistry config file.
func configFrom(cf *v1.ConfigFile) Config {
	c := cf.Config
	out := Config{
		Entrypoint:   c.Entrypoint,
		Cmd:          c.Cmd,
		Env:          c.Env,
		WorkingDir:   c.WorkingDir,
		User:         c.User,
		Labels:       c.Labels,
		StopSignal:   c.StopSignal,
		Architecture: cf.Architecture,
		OS:           cf.OS,
		Variant:      cf.Variant,
		Created:      cf.Created.Time,
	}
	for p := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	sort.Strings(out.ExposedPorts)
	for v := range c.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	sort.Strings(out.Volumes)
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &Healthcheck{
			Test:        h.Test,
			Interval:    h.Interval,
			Timeout:     h.Timeout,
			StartPeriod: h.StartPeriod,
			Retries:     h.Retries,
		}
	}
	return out
}

// image assembles the Image whose manifest digest is md.
func (s *Store) image(refs map[string]string, md string) (Image, error) {
	mh, err := v1.NewHash(md)
	if err != nil {
		return Image{}, fmt.Errorf("image store: %w", err)
	}
	mb, err := s.readBlob(mh)
	if err != nil {
		return Image{}, fmt.Errorf("image store: manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(mb))
	if err != nil {
		return Image{}, fmt.Errorf("image store: manifest %s: %w", mh, err)
	}
	cb, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return Image{}, fmt.Errorf("image store: config: %w", err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cb))
	if err != nil {
		return Image{}, fmt.Errorf("image store: config %s: %w", m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, fmt.Errorf("image store: manifest %s has %d layers, config %d diff IDs", mh, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	img := Image{ID: m.Config.Digest.String(), Manifest: mh.String(), Config: configFrom(cf)}
	for i, l := range m.Layers {
		img.Layers = append(img.Layers, Layer{
			Digest:    l.Digest.String(),
			DiffID:    cf.RootFS.DiffIDs[i].String(),
			Size:      l.Size,
			MediaType: string(l.MediaType),
			path:      s.blobPath(l.Digest),
		})
	}
	for r, d := range refs {
		if d == md && !isID(r) {
			img.Refs = append(img.Refs, r)
		}
	}
	sort.Strings(img.Refs)
	return img, nil
}

// parse parses a reference, allowing plain HTTP for registries on loopback
// (localhost, 127.0.0.0/8, ::1).
func parse(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if isLoopback(r.Context().RegistryStr()) {
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", ref, err)
		}
	}
	return r, nil
}

// isLoopback reports whether a registry host[:port] is on the loopback.
func isLoopback(reg string) bool {
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

// Normalize returns the canonical spelling of a reference as recorded in the
// store: registry, repository and tag or digest all explicit, Docker Hub
// spelled "docker.io" ("busybox" → "docker.io/library/busybox:latest").
func Normalize(ref string) (string, error) {
	r, err := parse(ref)
	if err != nil {
		return "", err
	}
	return normalize(r), nil
}

func normalize(r name.Reference) string {
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	repo := reg + "/" + r.Context().RepositoryStr()
	if d, ok := r.(name.Digest); ok {
		return repo + "@" + d.DigestStr()
	}
	return repo + ":" + r.Identifier()
}
