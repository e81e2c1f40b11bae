package build

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

func TestCommit(t *testing.T) {
	s := openStore(t)
	base := seedBase(t, s)
	baseImg, err := s.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	upper := t.TempDir()
	if err := os.MkdirAll(filepath.Join(upper, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "data", "new"), []byte("made in the container\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id, err := Commit(t.Context(), s, CommitSpec{
		Base: baseImg.ID, Upper: upper,
		Cmd: []string{"sleep", "9"}, Env: []string{"PATH=/bin", "A=1"}, Labels: map[string]string{"svc": "web"},
		Options: service.CommitOptions{
			Reference: "committed:v1", Comment: "a message", Author: "me <me@x>",
			Changes: []string{"ENV B=2", `CMD ["echo", "hi"]`, "WORKDIR /data", "EXPOSE 8080", "LABEL x=y"},
		},
		Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Get("committed:v1")
	if err != nil || img.ID != id {
		t.Fatalf("committed:v1 = %v, %v; want %s", img.ID, err, id)
	}
	if len(img.Layers) != len(baseImg.Layers)+1 {
		t.Errorf("layers = %d, want the base's %d + 1", len(img.Layers), len(baseImg.Layers))
	}
	ents := layerEntries(t, s, "committed:v1", -1)
	if got := find(t, ents, "data/new"); got.body != "made in the container\n" || got.hdr.Mode != 0o600 {
		t.Errorf("data/new = %q mode %o", got.body, got.hdr.Mode)
	}
	raw := rawConfig(t, s, "committed:v1")
	c := raw.Config
	if !slices.Equal(c.Cmd, []string{"echo", "hi"}) {
		t.Errorf("Cmd = %q, want the change's", c.Cmd)
	}
	if !slices.Equal(c.Env, []string{"PATH=/bin", "A=1", "B=2"}) {
		t.Errorf("Env = %q", c.Env)
	}
	if c.WorkingDir != "/data" || c.Labels["svc"] != "web" || c.Labels["base"] != "1" || c.Labels["x"] != "y" {
		t.Errorf("config = %+v", c)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if raw.Author != "me <me@x>" || raw.Created == nil || !raw.Created.Equal(now) {
		t.Errorf("author %q created %v", raw.Author, raw.Created)
	}
	last := raw.History[len(raw.History)-1]
	if last.Comment != "a message" || last.EmptyLayer || len(raw.History) != 2 {
		t.Errorf("history = %+v, want the base's entry and the commit's", raw.History)
	}

	// nothing changed: one empty layer, as docker commit makes
	id2, err := Commit(t.Context(), s, CommitSpec{Base: baseImg.ID, Upper: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if img2, err := s.Get(id2); err != nil || len(img2.Layers) != len(baseImg.Layers)+1 {
		t.Errorf("empty commit: %v layers, %v", len(img2.Layers), err)
	}
}

func TestCommitBadInput(t *testing.T) {
	s := openStore(t)
	base := seedBase(t, s)
	baseImg, _ := s.Get(base)
	before, _ := s.List()
	for _, tt := range []struct {
		spec CommitSpec
		want string
	}{
		{CommitSpec{Base: baseImg.ID, Upper: t.TempDir(), Options: service.CommitOptions{Changes: []string{"RUN rm -rf /"}}}, "RUN is not a valid change command"},
		{CommitSpec{Base: baseImg.ID, Upper: t.TempDir(), Options: service.CommitOptions{Reference: "Bad Ref"}}, "invalid reference format"},
		{CommitSpec{Base: "sha256:" + strings.Repeat("0", 64), Upper: t.TempDir()}, "the container's image"},
	} {
		_, err := Commit(t.Context(), s, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Commit(%+v) = %v, want an error with %q", tt.spec.Options, err, tt.want)
		}
	}
	if _, err := Commit(t.Context(), s, CommitSpec{Base: "sha256:" + strings.Repeat("0", 64)}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("missing base: %v, want ErrNotFound", err)
	}
	after, _ := s.List()
	if len(after) != len(before) {
		t.Errorf("bad input stored images: %d, then %d", len(before), len(after))
	}
}
