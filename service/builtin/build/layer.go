package build

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// spool is an append-only temporary file holding file contents a build
// copies: the build context's files and those read from image layers.
type spool struct {
	f    *os.File
	size int64
}

// spooled is one content in a spool.
type spooled struct {
	s      *spool
	off, n int64
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &spool{f: f}, nil
}

// add appends r's content.
func (s *spool) add(r io.Reader) (*spooled, error) {
	n, err := io.Copy(s.f, r)
	d := &spooled{s: s, off: s.size, n: n}
	s.size += n
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return d, nil
}

func (s *spool) close() error { return s.f.Close() }

// reader returns a reader of the content (readers are independent).
func (d *spooled) reader() io.Reader { return io.NewSectionReader(d.s.f, d.off, d.n) }

// buildLayer is a layer of an image being built: one of a base image's
// (stored), or one the build made (an uncompressed tar file at path). It
// implements v1.Layer.
type buildLayer struct {
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
	stored         *image.Layer
	path           string
}

var _ v1.Layer = (*buildLayer)(nil)

// storedLayer wraps a layer of a stored image.
func storedLayer(l image.Layer) (*buildLayer, error) {
	d, err := v1.NewHash(l.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer digest: %w", err)
	}
	diff, err := v1.NewHash(l.DiffID)
	if err != nil {
		return nil, fmt.Errorf("layer diff ID: %w", err)
	}
	return &buildLayer{digest: d, diffID: diff, size: l.Size, mediaType: types.MediaType(l.MediaType), stored: &l}, nil
}

// fileLayer is the uncompressed layer in file p, with the given digest and
// size.
func fileLayer(p string, h v1.Hash, size int64, oci bool) *buildLayer {
	mt := types.DockerUncompressedLayer
	if oci {
		mt = types.OCIUncompressedLayer
	}
	return &buildLayer{digest: h, diffID: h, size: size, mediaType: mt, path: p}
}

// Digest implements v1.Layer.
func (l *buildLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID implements v1.Layer.
func (l *buildLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size implements v1.Layer.
func (l *buildLayer) Size() (int64, error) { return l.size, nil }

// MediaType implements v1.Layer.
func (l *buildLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compressed implements v1.Layer: the blob as stored. The blob of a stored
// layer is not read by the store (it has it), unless GC removed it
// meanwhile, which is then an error.
func (l *buildLayer) Compressed() (io.ReadCloser, error) {
	if l.path != "" {
		return os.Open(l.path)
	}
	return nil, fmt.Errorf("layer %s: blob no longer in the image store (removed by GC?): %w", l.digest, service.ErrNotFound)
}

// Uncompressed implements v1.Layer.
func (l *buildLayer) Uncompressed() (io.ReadCloser, error) {
	if l.path != "" {
		return os.Open(l.path)
	}
	return l.stored.Open()
}

// layerWriter writes an uncompressed layer tar to a temporary file,
// hashing it as it goes.
type layerWriter struct {
	f       *os.File
	h       hash.Hash
	n       countWriter
	tw      *tar.Writer
	entries int
}

// countWriter counts bytes.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func newLayerWriter(dir string) (*layerWriter, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	w := &layerWriter{f: f, h: sha256.New()}
	w.tw = tar.NewWriter(io.MultiWriter(f, w.h, &w.n))
	return w, nil
}

// add writes an entry; r (nil for none) has exactly hdr.Size bytes.
func (w *layerWriter) add(hdr *tar.Header, r io.Reader) error {
	h := normalizeHeader(hdr)
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("layer: %s: %w", hdr.Name, err)
	}
	if r != nil && h.Size > 0 {
		n, err := io.Copy(w.tw, io.LimitReader(r, h.Size))
		if err == nil && n != h.Size {
			err = fmt.Errorf("short content: %d of %d bytes", n, h.Size)
		}
		if err != nil {
			return fmt.Errorf("layer: %s: %w", hdr.Name, err)
		}
	}
	w.entries++
	return nil
}

// normalizeHeader returns the header as written to built layers: no user
// and group names, access or change times, or sub-second times, so that the
// same files give the same bytes.
func normalizeHeader(hdr *tar.Header) *tar.Header {
	h := &tar.Header{
		Typeflag: hdr.Typeflag,
		Name:     hdr.Name,
		Linkname: hdr.Linkname,
		Mode:     hdr.Mode & 0o7777,
		Uid:      hdr.Uid,
		Gid:      hdr.Gid,
		ModTime:  hdr.ModTime.Truncate(1e9),
		Devmajor: hdr.Devmajor,
		Devminor: hdr.Devminor,
	}
	if h.ModTime.Before(epoch) {
		h.ModTime = epoch
	}
	switch h.Typeflag {
	case tar.TypeReg, typeRegA:
		h.Typeflag = tar.TypeReg
		h.Size = hdr.Size
	case tar.TypeDir:
		if n := len(h.Name); n > 0 && h.Name[n-1] != '/' {
			h.Name += "/"
		}
	}
	for k, v := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords[k] = v
		}
	}
	if h.PAXRecords != nil {
		h.Format = tar.FormatPAX
	}
	return h
}

// finish completes the layer and moves it into dir, named after its
// digest. A layer without entries is discarded: nil, no error.
func (w *layerWriter) finish(dir string, oci bool) (*buildLayer, error) {
	defer os.Remove(w.f.Name())
	if w.entries == 0 {
		w.f.Close()
		return nil, nil
	}
	err := w.tw.Close()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
	dst := filepath.Join(dir, h.Hex+".tar")
	if _, err := os.Stat(dst); err != nil {
		if err := os.Rename(w.f.Name(), dst); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	return fileLayer(dst, h, w.n.n, oci), nil
}

// abort discards the layer.
func (w *layerWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// builtImage is an image made by the build, implementing v1.Image over a
// config and layers; its manifest is a Docker schema 2 or an OCI one.
type builtImage struct {
	config, manifest []byte
	layers           []*buildLayer
	mediaType        types.MediaType
}

var _ v1.Image = (*builtImage)(nil)

// newImage assembles an image from its config and layers.
func newImage(config []byte, layers []*buildLayer, oci bool) (*builtImage, error) {
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2}
	cfgType := types.DockerConfigJSON
	if oci {
		m.MediaType, cfgType = types.OCIManifestSchema1, types.OCIConfigJSON
	}
	h, n, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: cfgType, Size: n, Digest: h}
	m.Layers = []v1.Descriptor{}
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.mediaType, Size: l.size, Digest: l.digest})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &builtImage{config: config, manifest: raw, layers: layers, mediaType: m.MediaType}, nil
}

// Layers implements v1.Image.
func (i *builtImage) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, len(i.layers))
	for k, l := range i.layers {
		out[k] = l
	}
	return out, nil
}

// MediaType implements v1.Image.
func (i *builtImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }

// Size implements v1.Image.
func (i *builtImage) Size() (int64, error) { return int64(len(i.manifest)), nil }

// ConfigName implements v1.Image.
func (i *builtImage) ConfigName() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.config))
	return h, err
}

// ConfigFile implements v1.Image.
func (i *builtImage) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.config))
}

// RawConfigFile implements v1.Image.
func (i *builtImage) RawConfigFile() ([]byte, error) { return i.config, nil }

// Digest implements v1.Image.
func (i *builtImage) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.manifest))
	return h, err
}

// Manifest implements v1.Image.
func (i *builtImage) Manifest() (*v1.Manifest, error) {
	return v1.ParseManifest(bytes.NewReader(i.manifest))
}

// RawManifest implements v1.Image.
func (i *builtImage) RawManifest() ([]byte, error) { return i.manifest, nil }

// LayerByDigest implements v1.Image.
func (i *builtImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if l.digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layer %s: %w", h, fs.ErrNotExist)
}

// LayerByDiffID implements v1.Image.
func (i *builtImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if l.diffID == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layer %s: %w", h, fs.ErrNotExist)
}
