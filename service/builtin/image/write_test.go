package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/berthdev/berth/service"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tarLayer returns a layer holding one file.
func tarLayer(t *testing.T, name, content string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestWrite(t *testing.T) {
	ctx := t.Context()
	s := openStore(t)
	img, err := mutate.AppendLayers(empty.Image, tarLayer(t, "hello.txt", "hello\n"))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"/hello"}, Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	id := configName(t, img)

	got, err := s.Write(ctx, img, []string{"app", "reg.example:5000/team/app:2"})
	if err != nil {
		t.Fatal(err)
	}
	wantRefs := []string{"docker.io/library/app:latest", "reg.example:5000/team/app:2"}
	if got.ID != id || !slices.Equal(got.Refs, wantRefs) || len(got.Layers) != 1 || got.Config.Labels["a"] != "b" {
		t.Fatalf("Write = %+v, want ID %s and refs %v", got, id, wantRefs)
	}
	for _, ref := range []string{"app", "app:latest", "reg.example:5000/team/app:2", id, id[:19]} {
		g, err := s.Get(ref)
		if err != nil || g.ID != id {
			t.Errorf("Get(%q) = %+v, %v; want %s", ref, g, err, id)
		}
	}
	rc, err := got.Layers[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	if h, err := tr.Next(); err != nil || h.Name != "hello.txt" {
		t.Errorf("layer's first entry = %+v, %v", h, err)
	} else if b, _ := io.ReadAll(tr); string(b) != "hello\n" {
		t.Errorf("layer content = %q", b)
	}
	rc.Close()

	// Writing again is safe; a tag moves to the image written last.
	other, err := mutate.Config(img, v1.Config{Cmd: []string{"/other"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, img, []string{"app"}); err != nil {
		t.Fatalf("writing again: %v", err)
	}
	if _, err := s.Write(ctx, other, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	if g, err := s.Get("app"); err != nil || g.ID != configName(t, other) {
		t.Errorf("Get(app) after moving the tag = %+v, %v", g, err)
	}
	if g, err := s.Get("reg.example:5000/team/app:2"); err != nil || g.ID != id {
		t.Errorf("the other tag moved too: %+v, %v", g, err)
	}

	// No refs: recorded under its ID, and kept by GC.
	untagged, err := mutate.Config(img, v1.Config{Cmd: []string{"/untagged"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Write(ctx, untagged, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Refs) != 0 || u.ID != configName(t, untagged) {
		t.Errorf("Write(nil refs) = %+v", u)
	}
	if _, err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if g, err := s.Get(u.ID); err != nil || g.ID != u.ID {
		t.Errorf("Get(%s) after GC = %+v, %v", u.ID, g, err)
	}

	// Bad and digest references are refused, and nothing is recorded.
	for _, ref := range []string{"Upper/Case", "app@sha256:" + id[7:]} {
		if _, err := s.Write(ctx, img, []string{ref}); err == nil {
			t.Errorf("Write(%q): no error", ref)
		}
	}
	if _, err := s.Get("upper/case"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Get of a refused reference: %v", err)
	}
}
