package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// newRegistry starts an in-memory registry on 127.0.0.1, optionally wrapped,
// and returns its host:port.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func randomImage(t *testing.T, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(1024, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func configName(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// checkLayers verifies that every stored layer opens to the tar stream of
// the matching layer of want.
func checkLayers(t *testing.T, got Image, want v1.Image) {
	t.Helper()
	wl := must[[]v1.Layer](t)(want.Layers())
	if len(got.Layers) != len(wl) {
		t.Fatalf("got %d layers, want %d", len(got.Layers), len(wl))
	}
	for i, l := range got.Layers {
		wd := must[v1.Hash](t)(wl[i].Digest())
		if l.Digest != wd.String() {
			t.Errorf("layer %d digest %s, want %s", i, l.Digest, wd)
		}
		rc, err := l.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if "sha256:"+hex.EncodeToString(sum[:]) != l.DiffID {
			t.Errorf("layer %d: Open content does not hash to DiffID %s", i, l.DiffID)
		}
		if _, err := tar.NewReader(bytes.NewReader(b)).Next(); err != nil {
			t.Errorf("layer %d: Open is not a tar stream: %v", i, err)
		}
		wr := must[io.ReadCloser](t)(wl[i].Uncompressed())
		wb, _ := io.ReadAll(wr)
		wr.Close()
		if !bytes.Equal(b, wb) {
			t.Errorf("layer %d: uncompressed content differs", i)
		}
	}
}

func TestPullByTagAndDigest(t *testing.T) {
	reg := newRegistry(t, nil)
	img := randomImage(t, 2)
	push(t, reg+"/test/app:v1", img)
	s := openStore(t)
	ctx := context.Background()

	got, err := s.Pull(ctx, reg+"/test/app:v1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName(t, img) {
		t.Errorf("ID %s, want %s", got.ID, configName(t, img))
	}
	if want := must[v1.Hash](t)(img.Digest()).String(); got.Manifest != want {
		t.Errorf("Manifest %s, want %s", got.Manifest, want)
	}
	checkLayers(t, got, img)

	dig := must[v1.Hash](t)(img.Digest())
	byDigest, err := s.Pull(ctx, reg+"/test/app@"+dig.String(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if byDigest.ID != got.ID {
		t.Errorf("by digest: ID %s, want %s", byDigest.ID, got.ID)
	}
	want := []string{reg + "/test/app:v1", reg + "/test/app@" + dig.String()}
	if strings.Join(byDigest.Refs, ",") != strings.Join(want, ",") {
		t.Errorf("Refs %v, want %v", byDigest.Refs, want)
	}
	for _, ref := range append(want, got.ID, strings.TrimPrefix(got.ID, "sha256:"), got.ID[:19]) {
		g, err := s.Get(ref)
		if err != nil || g.ID != got.ID {
			t.Errorf("Get(%q) = %v, %v", ref, g.ID, err)
		}
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
}

func TestSecondPullSkipsBlobs(t *testing.T) {
	var blobGets atomic.Int64
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				blobGets.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	img := randomImage(t, 3)
	push(t, reg+"/test/app:v1", img)
	s := openStore(t)
	if _, err := s.Pull(context.Background(), reg+"/test/app:v1", "", nil); err != nil {
		t.Fatal(err)
	}
	if n := blobGets.Load(); n != 4 {
		t.Errorf("first pull fetched %d blobs, want 4 (3 layers + config)", n)
	}
	blobGets.Store(0)
	var progress bytes.Buffer
	if _, err := s.Pull(context.Background(), reg+"/test/app:v1", "", &progress); err != nil {
		t.Fatal(err)
	}
	if n := blobGets.Load(); n != 0 {
		t.Errorf("second pull fetched %d blobs, want 0", n)
	}
	if c := strings.Count(progress.String(), "already exists"); c != 3 {
		t.Errorf("progress:\n%s\nwant 3 'already exists' lines", progress.String())
	}
}

func imageFor(t *testing.T, os, arch string) v1.Image {
	t.Helper()
	img := randomImage(t, 1)
	cf := must[*v1.ConfigFile](t)(img.ConfigFile())
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	return must[v1.Image](t)(mutate.ConfigFile(img, cf))
}

func TestPullPlatformFromIndex(t *testing.T) {
	reg := newRegistry(t, nil)
	amd := imageFor(t, "linux", "amd64")
	arm := imageFor(t, "linux", "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref := reg + "/multi/app:1"
	r := must[name.Reference](t)(name.ParseReference(ref, name.Insecure))
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	ctx := context.Background()

	got, err := s.Pull(ctx, ref, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName(t, amd) || got.Config.Architecture != "amd64" || got.Config.OS != "linux" {
		t.Errorf("default platform: got %s (%s/%s), want the amd64 image", got.ID, got.Config.OS, got.Config.Architecture)
	}
	got, err = s.Pull(ctx, ref, "linux/arm64", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName(t, arm) {
		t.Errorf("linux/arm64: got %s, want the arm64 image", got.ID)
	}
	_, err = s.Pull(ctx, ref, "linux/s390x", nil)
	if !errors.Is(err, service.ErrNotFound) {
		t.Errorf("linux/s390x: err = %v, want ErrNotFound", err)
	}
}

func TestPullMissing(t *testing.T) {
	reg := newRegistry(t, nil)
	push(t, reg+"/test/app:v1", randomImage(t, 1))
	s := openStore(t)
	for _, ref := range []string{reg + "/test/app:nope", reg + "/test/nothere:v1"} {
		_, err := s.Pull(context.Background(), ref, "", nil)
		if !errors.Is(err, service.ErrNotFound) {
			t.Errorf("Pull(%s): err = %v, want ErrNotFound", ref, err)
		} else if !strings.Contains(err.Error(), ref) {
			t.Errorf("Pull(%s): error %q does not name the ref", ref, err)
		}
	}
	if _, err := s.Get(reg + "/test/app:nope"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Get: err = %v, want ErrNotFound", err)
	}
}

// flipWriter flips the first byte of the body.
type flipWriter struct {
	http.ResponseWriter
	done bool
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if !f.done && len(b) > 0 {
		f.done = true
		c := append([]byte(nil), b...)
		c[0] ^= 0xff
		return f.ResponseWriter.Write(c)
	}
	return f.ResponseWriter.Write(b)
}

func TestPullCorruptBlobRejected(t *testing.T) {
	img := randomImage(t, 2)
	bad := must[v1.Hash](t)(must[[]v1.Layer](t)(img.Layers())[1].Digest())
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+bad.String()) {
				w = &flipWriter{ResponseWriter: w}
			}
			h.ServeHTTP(w, r)
		})
	})
	push(t, reg+"/test/app:v1", img)
	s := openStore(t)
	_, err := s.Pull(context.Background(), reg+"/test/app:v1", "", nil)
	if err == nil {
		t.Fatal("pull of a corrupted blob succeeded")
	}
	if s.hasBlob(bad) {
		t.Error("corrupted blob was stored")
	}
	if _, err := s.Get(reg + "/test/app:v1"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("ref recorded after failed pull: %v", err)
	}
}

func TestWriteBlobVerifies(t *testing.T) {
	s := openStore(t)
	want, _, _ := v1.SHA256(strings.NewReader("hello"))
	if err := s.writeBlob(want, -1, strings.NewReader("hellp")); !errors.Is(err, errDigestMismatch) {
		t.Errorf("wrong content: err = %v", err)
	}
	if err := s.writeBlob(want, 4, strings.NewReader("hello")); !errors.Is(err, errDigestMismatch) {
		t.Errorf("wrong size: err = %v", err)
	}
	if s.hasBlob(want) {
		t.Error("rejected blob stored")
	}
	if err := s.writeBlob(want, 5, strings.NewReader("hello")); err != nil || !s.hasBlob(want) {
		t.Errorf("good blob: err = %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "tmp")); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestLoadDockerSave(t *testing.T) {
	img := randomImage(t, 2)
	tag := must[name.Tag](t)(name.NewTag("example.com/app:1.0"))
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	for _, gz := range []bool{false, true} {
		s := openStore(t)
		in := bytes.NewReader(buf.Bytes())
		var r io.Reader = in
		if gz {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write(buf.Bytes())
			zw.Close()
			r = &zb
		}
		imgs, err := s.Load(context.Background(), r)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if len(imgs) != 1 || imgs[0].ID != configName(t, img) || strings.Join(imgs[0].Refs, ",") != "example.com/app:1.0" {
			t.Fatalf("gzip=%v: loaded %+v", gz, imgs)
		}
		got, err := s.Get("example.com/app:1.0")
		if err != nil {
			t.Fatal(err)
		}
		checkLayers(t, got, img)
	}
}

func TestLoadDockerSaveUntagged(t *testing.T) {
	img := randomImage(t, 1)
	var buf bytes.Buffer
	if err := tarball.Write(nil, img, &buf); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	imgs, err := s.Load(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || len(imgs[0].Refs) != 0 || imgs[0].ID != configName(t, img) {
		t.Fatalf("loaded %+v", imgs)
	}
	if _, err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(imgs[0].ID); err != nil {
		t.Errorf("untagged image lost by GC: %v", err)
	}
	if err := s.Remove(imgs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(imgs[0].ID); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("after Remove(ID): %v", err)
	}
}

// tarDir tars a directory tree.
func tarDir(t *testing.T, dir string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestLoadOCILayout(t *testing.T) {
	img := randomImage(t, 2)
	other := randomImage(t, 1)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/oci:2"})); err != nil {
		t.Fatal(err)
	}
	// A bare tag names nothing: recorded by ID.
	if err := p.AppendImage(other, layout.WithAnnotations(map[string]string{annotationRefName: "latest"})); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	imgs, err := s.Load(context.Background(), tarDir(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("loaded %d images", len(imgs))
	}
	if imgs[0].ID != configName(t, img) || strings.Join(imgs[0].Refs, ",") != "example.com/oci:2" {
		t.Errorf("first image: %s %v", imgs[0].ID, imgs[0].Refs)
	}
	if imgs[1].ID != configName(t, other) || len(imgs[1].Refs) != 0 {
		t.Errorf("second image: %s %v", imgs[1].ID, imgs[1].Refs)
	}
	checkLayers(t, imgs[0], img)
}

func TestLoadRejectsOther(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	if _, err := openStore(t).Load(context.Background(), &buf); err == nil {
		t.Error("Load accepted a tarball that is no image")
	}
}

func TestZstdLayerOpen(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "etc/hello", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	data := tb.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	img := must[v1.Image](t)(mutate.AppendLayers(empty.Image, l))
	reg := newRegistry(t, nil)
	push(t, reg+"/z/app:1", img)
	s := openStore(t)
	got, err := s.Pull(context.Background(), reg+"/z/app:1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if mt := got.Layers[0].MediaType; mt != string(types.OCILayerZStd) {
		t.Errorf("media type %s", mt)
	}
	rc, err := got.Layers[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if !bytes.Equal(b, tb.Bytes()) {
		t.Error("zstd layer did not open to its tar stream")
	}
}

func TestTag(t *testing.T) {
	img := randomImage(t, 1)
	var buf bytes.Buffer
	tarball.Write(must[name.Tag](t)(name.NewTag("example.com/a:1")), img, &buf)
	s := openStore(t)
	if _, err := s.Load(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("example.com/a:1", "b"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("docker.io/library/b:latest")
	if err != nil || got.ID != configName(t, img) {
		t.Fatalf("Get after Tag: %v %v", got.ID, err)
	}
	if want := "docker.io/library/b:latest,example.com/a:1"; strings.Join(got.Refs, ",") != want {
		t.Errorf("Refs %v, want %s", got.Refs, want)
	}
	if err := s.Tag("example.com/none:1", "c"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Tag of unknown: %v", err)
	}
	if err := s.Tag("b", "c@sha256:"+strings.Repeat("a", 64)); err == nil {
		t.Error("Tag to a digest reference succeeded")
	}
}

func TestRemoveAndGC(t *testing.T) {
	base := randomImage(t, 2)
	l1 := must[v1.Layer](t)(random.Layer(512, types.DockerLayer))
	l2 := must[v1.Layer](t)(random.Layer(512, types.DockerLayer))
	a := must[v1.Image](t)(mutate.AppendLayers(base, l1))
	b := must[v1.Image](t)(mutate.AppendLayers(base, l2))
	var buf bytes.Buffer
	err := tarball.MultiWrite(map[name.Tag]v1.Image{
		must[name.Tag](t)(name.NewTag("example.com/a:1")): a,
		must[name.Tag](t)(name.NewTag("example.com/b:1")): b,
	}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if _, err := s.Load(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	blobs := func() map[string]bool {
		m := map[string]bool{}
		ents, _ := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
		for _, e := range ents {
			m["sha256:"+e.Name()] = true
		}
		return m
	}
	if n := len(blobs()); n != 2*2+2+2 { // 2 manifests, 2 configs, 2 shared + 2 own layers
		t.Fatalf("%d blobs stored, want 8", n)
	}
	removedImg, _ := s.Get("example.com/a:1")
	if err := s.Remove("example.com/a:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("example.com/a:1"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	removed, err := s.GC()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{removedImg.Manifest: true, removedImg.ID: true, must[v1.Hash](t)(l1.Digest()).String(): true}
	if len(removed) != len(want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	for _, d := range removed {
		if !want[d] {
			t.Errorf("GC removed %s, which is not only a's", d)
		}
	}
	kept, err := s.Get("example.com/b:1")
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, kept, b)
	if err := s.Remove("example.com/b:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if n := len(blobs()); n != 0 {
		t.Errorf("%d blobs left after removing everything", n)
	}
}

func TestConcurrentPulls(t *testing.T) {
	reg := newRegistry(t, nil)
	img := randomImage(t, 3)
	ref := reg + "/test/app:v1"
	push(t, ref, img)
	root := filepath.Join(t.TempDir(), "images")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half the goroutines use their own Store, as another
			// process would.
			s, err := Open(root)
			if err != nil {
				errs <- err
				return
			}
			if _, err := s.Pull(context.Background(), ref, "", nil); err != nil {
				errs <- err
				return
			}
			if i%2 == 0 {
				if _, err := s.GC(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, _ := Open(root)
	got, err := s.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, got, img)
}

func TestIntegrationRealRegistry(t *testing.T) {
	addr := os.Getenv("BERTH_REGISTRY")
	if addr == "" {
		t.Skip("BERTH_REGISTRY not set (host:port of a registry, or a full image reference)")
	}
	ref := addr
	if !strings.Contains(addr, "/") {
		ref = addr + "/busybox:latest"
	}
	s := openStore(t)
	got, err := s.Pull(context.Background(), ref, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) == 0 {
		t.Fatal("no layers")
	}
	for _, l := range got.Layers {
		rc, err := l.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tar.NewReader(rc).Next(); err != nil && !errors.Is(err, io.EOF) {
			t.Errorf("layer %s: %v", l.Digest, err)
		}
		rc.Close()
	}
	if _, err := s.Pull(context.Background(), ref, "", nil); err != nil {
		t.Fatal(err)
	}
}
