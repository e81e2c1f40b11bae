//go:build linux

package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// baseRef is the base image seeded into test stores.
const baseRef = "base:1"

// contextTime is the modification time of the files of test contexts.
var contextTime = time.Unix(1700000000, 0)

// ent is a tar entry of a test layer or context.
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, target string) ent {
	return ent{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}

// mktar returns a tar stream of the entries.
func mktar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: contextTime, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// contextOf returns a build context holding files (name → content).
func contextOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var ents []ent
	for _, name := range slices.Sorted(maps.Keys(files)) {
		ents = append(ents, file(name, files[name]))
	}
	return mktar(t, ents...)
}

func openStore(t testing.TB) *image.Store {
	t.Helper()
	s, err := image.Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seedBase stores baseRef: a small filesystem with users, groups, /tmp,
// a symbolic link and a config with PATH, Cmd and a label.
func seedBase(t testing.TB, s *image.Store) string {
	t.Helper()
	tmp := dir("tmp")
	tmp.mode = 0o1777
	layer := mktar(t,
		dir("bin"), ent{name: "bin/sh", body: "#!fake\n", typ: tar.TypeReg, mode: 0o755},
		dir("etc"),
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"),
		file("etc/group", "root:x:0:\nappgrp:x:1001:\nstaff:x:50:\n"),
		tmp,
		dir("usr"), dir("usr/lib"), file("usr/lib/libc.so", "libc"),
		sym("lib", "usr/lib"),
		file("old.txt", "old\n"),
		dir("data"), file("data/a", "a"), file("data/b", "b"),
	)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}
	cf.Config = v1.Config{Env: []string{"PATH=/usr/bin:/bin"}, Cmd: []string{"/bin/sh"}, Labels: map[string]string{"base": "1"}}
	cf.History = []v1.History{{Created: cf.Created, CreatedBy: "seed"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Write(t.Context(), img, []string{baseRef})
	if err != nil {
		t.Fatal(err)
	}
	return stored.ID
}

// fakeStep is what the fake runner does for one command.
type fakeStep struct {
	files  map[string]string // written in the upper dir
	remove []string          // whited out
	opaque []string          // made opaque directories
	exit   int
	output string
}

// fakeCall is one RunStep call.
type fakeCall struct {
	image string
	step  RunStep
	cfg   image.Config
}

// fakeRunner "runs" steps by writing their files into a fresh upper dir,
// overlay style; steps are found by the last element of the command.
type fakeRunner struct {
	store *image.Store
	steps map[string]fakeStep
	mu    sync.Mutex
	calls []fakeCall
}

func (f *fakeRunner) RunStep(ctx context.Context, ref string, step RunStep, out io.Writer) (int, string, func(), error) {
	img, err := f.store.Get(ref)
	if err != nil {
		return 0, "", nil, err
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{image: ref, step: step, cfg: img.Config})
	f.mu.Unlock()
	fs, ok := f.steps[step.Cmd[len(step.Cmd)-1]]
	if !ok {
		io.WriteString(out, "sh: not found\n")
		return 127, "", func() {}, nil
	}
	upper, err := os.MkdirTemp("", "upper-")
	if err != nil {
		return 0, "", nil, err
	}
	cleanup := func() { os.RemoveAll(upper) }
	fail := func(err error) (int, string, func(), error) { cleanup(); return 0, "", nil, err }
	for _, d := range fs.opaque {
		p := filepath.Join(upper, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fail(err)
		}
		if err := unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return fail(err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fs.files)) {
		p := filepath.Join(upper, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(p, []byte(fs.files[name]), 0o644); err != nil {
			return fail(err)
		}
		if err := os.Chtimes(p, contextTime, contextTime); err != nil {
			return fail(err)
		}
	}
	for _, name := range fs.remove {
		p := filepath.Join(upper, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fail(err)
		}
		if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
			return fail(err)
		}
	}
	// Directories get a fixed time too, so that results are comparable.
	_ = filepath.Walk(upper, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() && p != upper {
			_ = os.Chtimes(p, contextTime, contextTime)
		}
		return nil
	})
	io.WriteString(out, fs.output)
	return fs.exit, upper, cleanup, nil
}

func (f *fakeRunner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// doBuild builds files into s and returns the ID and the progress output.
func doBuild(t testing.TB, s *image.Store, run Runner, spec service.BuildSpec, files map[string]string) (string, string, error) {
	t.Helper()
	var progress bytes.Buffer
	id, err := Build(t.Context(), s, run, spec, bytes.NewReader(contextOf(t, files)), &progress)
	return id, progress.String(), err
}

// mustBuild is doBuild that fails the test on an error.
func mustBuild(t testing.TB, s *image.Store, run Runner, spec service.BuildSpec, files map[string]string) string {
	t.Helper()
	id, progress, err := doBuild(t, s, run, spec, files)
	if err != nil {
		t.Fatalf("Build: %v\nprogress:\n%s", err, progress)
	}
	return id
}

// rawConfig returns the stored config of an image.
func rawConfig(t testing.TB, s *image.Store, ref string) dockerspec.DockerOCIImage {
	t.Helper()
	img, err := s.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(s.Root(), "blobs", "sha256", strings.TrimPrefix(img.ID, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	var c dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// entry is a tar entry read back.
type entry struct {
	hdr  *tar.Header
	body string
}

// layerEntries returns the entries of layer i of an image (negative: from
// the top, -1 is the last).
func layerEntries(t testing.TB, s *image.Store, ref string, i int) []entry {
	t.Helper()
	img, err := s.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i += len(img.Layers)
	}
	if i < 0 || i >= len(img.Layers) {
		t.Fatalf("image %s has %d layers, no layer %d", ref, len(img.Layers), i)
	}
	rc, err := img.Layers[i].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return readEntries(t, rc)
}

func readEntries(t testing.TB, r io.Reader) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{hdr: h, body: string(b)})
	}
}

// names returns the entries' names.
func names(ents []entry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.hdr.Name)
	}
	return out
}

// find returns the entry named name, or fails.
func find(t testing.TB, ents []entry, name string) entry {
	t.Helper()
	for _, e := range ents {
		if e.hdr.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %q in %q", name, names(ents))
	return entry{}
}

// unixMknod makes an overlay whiteout at p.
func unixMknod(p string) error { return unix.Mknod(p, unix.S_IFCHR, 0) }

// setOpaque marks the directory p opaque, as overlayfs does.
func setOpaque(p string) error {
	return unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0)
}
