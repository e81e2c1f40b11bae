package image

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushRoundTrip(t *testing.T) {
	reg := newRegistry(t, nil)
	img := randomImage(t, 3)
	push(t, reg+"/test/app:v1", img)
	s := openStore(t)
	ctx := context.Background()
	got, err := s.Pull(ctx, reg+"/test/app:v1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(got.ID, reg+"/other/app:v2"); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if err := s.Push(ctx, reg+"/other/app:v2", &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "v2: digest: "+got.Manifest) {
		t.Errorf("progress %q: no closing digest line", progress.String())
	}
	r, err := name.ParseReference(reg+"/other/app:v2", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if d := must[v1.Hash](t)(pushed.Digest()); d.String() != got.Manifest {
		t.Errorf("pushed manifest %s, want the stored %s", d, got.Manifest)
	}
	// Every layer can be read back and matches its digest.
	ls, err := pushed.Layers()
	if err != nil || len(ls) != 3 {
		t.Fatalf("layers %d, %v", len(ls), err)
	}
	if err := s.Push(ctx, reg+"/test/absent:1", nil); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("push of an image not in the store: %v, want ErrNotFound", err)
	}
}
