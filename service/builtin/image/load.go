package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations naming an image in an OCI layout index.
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// Load stores the images of a `docker save` tarball (manifest.json with
// RepoTags) or of an OCI image layout tarball (oci-layout, index.json and
// blobs/), optionally gzip-compressed, and records their tags, as
// `docker load` does. A tarball with both manifest.json and index.json (as
// written by recent docker) is read as a docker save tarball.
//
// OCI layout images are named by their io.containerd.image.name annotation,
// else by org.opencontainers.image.ref.name when it is a full reference
// ("busybox:1.36"; a bare tag such as "latest" names nothing). Images with
// no name are recorded under their ID. A nested index is resolved to its
// DefaultPlatform manifest. Loading the same tarball again is safe.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]Image, error) {
	unlock, err := s.writeLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "load-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	br := bufio.NewReader(r)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	tarPath := filepath.Join(dir, "input.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, ctxReader{ctx, in})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	names, err := tarNames(tarPath)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	switch {
	case names["manifest.json"]:
		return s.loadDockerSave(ctx, tarPath)
	case names["index.json"]:
		oci := filepath.Join(dir, "oci")
		if err := extract(tarPath, oci); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		return s.loadOCI(ctx, oci)
	default:
		return nil, errors.New("load: not a docker save or OCI layout tarball (no manifest.json or index.json)")
	}
}

// tarNames returns the cleaned names of a tarball's entries.
func tarNames(p string) (map[string]bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names[path.Clean(strings.TrimPrefix(h.Name, "./"))] = true
	}
}

// extract unpacks the regular files and directories of a tarball under dir,
// refusing names that escape it. Links and other entries are ignored: an
// OCI layout needs none.
func extract(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		clean := path.Clean("/" + h.Name)
		if clean == "/" {
			continue
		}
		if !filepath.IsLocal(strings.TrimPrefix(clean, "/")) {
			return fmt.Errorf("tar entry %q escapes the archive", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// loadDockerSave stores the images of a docker save tarball.
func (s *Store) loadDockerSave(ctx context.Context, tarPath string) ([]Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(tarPath) }
	mf, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("load: manifest.json: %w", err)
	}
	var out []Image
	for i, d := range mf {
		var tags []name.Tag
		for _, t := range d.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("load: image %d: tag %q: %w", i, t, err)
			}
			tags = append(tags, tag)
		}
		var img v1.Image
		switch {
		case len(tags) > 0:
			img, err = tarball.Image(opener, &tags[0])
		case len(mf) == 1:
			img, err = tarball.Image(opener, nil)
		default:
			err = errors.New("untagged image in a multi-image tarball is not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("load: image %d (%s): %w", i, d.Config, err)
		}
		var keys []string
		for _, t := range tags {
			keys = append(keys, normalize(t))
		}
		im, err := s.record(ctx, img, keys)
		if err != nil {
			return nil, fmt.Errorf("load: image %d (%s): %w", i, d.Config, err)
		}
		out = append(out, im)
	}
	return out, nil
}

// loadOCI stores the images of an extracted OCI image layout.
func (s *Store) loadOCI(ctx context.Context, dir string) ([]Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load: OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load: OCI layout: index.json: %w", err)
	}
	want, _ := v1.ParsePlatform(DefaultPlatform)
	var out []Image
	for _, desc := range im.Manifests {
		var img v1.Image
		switch {
		case desc.MediaType.IsImage():
			img, err = idx.Image(desc.Digest)
		case desc.MediaType.IsIndex():
			img, err = platformImage(idx, desc.Digest, *want)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load: OCI layout: %s: %w", desc.Digest, err)
		}
		var keys []string
		if n := ociName(desc.Annotations); n != "" {
			keys = append(keys, n)
		}
		got, err := s.record(ctx, img, keys)
		if err != nil {
			return nil, fmt.Errorf("load: OCI layout: %s: %w", desc.Digest, err)
		}
		out = append(out, got)
	}
	if len(out) == 0 {
		return nil, errors.New("load: OCI layout: index.json lists no image")
	}
	return out, nil
}

// platformImage picks the manifest for want from the nested index d.
func platformImage(idx v1.ImageIndex, d v1.Hash, want v1.Platform) (v1.Image, error) {
	child, err := idx.ImageIndex(d)
	if err != nil {
		return nil, err
	}
	im, err := child.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, m := range im.Manifests {
		if m.MediaType.IsImage() && m.Platform != nil && m.Platform.Satisfies(want) {
			return child.Image(m.Digest)
		}
	}
	return nil, fmt.Errorf("no %s image in index", want)
}

// ociName returns the normalised reference an OCI index entry is named by,
// or "".
func ociName(ann map[string]string) string {
	for _, k := range []string{annotationContainerdName, annotationRefName} {
		v := ann[k]
		if v == "" || !strings.ContainsAny(v, ":/@") {
			continue
		}
		if n, err := Normalize(v); err == nil {
			return n
		}
	}
	return ""
}

// record stores img and points keys (or, when there are none, its ID) at
// it. The caller holds the write lock.
func (s *Store) record(ctx context.Context, img v1.Image, keys []string) (Image, error) {
	md, err := s.storeImage(ctx, img, nil)
	if err != nil {
		return Image{}, err
	}
	if len(keys) == 0 {
		id, err := img.ConfigName()
		if err != nil {
			return Image{}, err
		}
		keys = []string{id.String()}
	}
	err = s.updateRefs(func(refs map[string]string) error {
		for _, k := range keys {
			refs[k] = md.String()
		}
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	refs, err := s.readRefs()
	if err != nil {
		return Image{}, err
	}
	return s.image(refs, md.String())
}
