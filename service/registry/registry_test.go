package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
)

func blob(mediaType, data string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromString(data), Size: int64(len(data)), Data: []byte(data)}
}

// TestPushArtifactAndDigest pushes an artifact to an in-memory registry on
// the loopback (plain HTTP), reads it back, and asks its digest.
func TestPushArtifactAndDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	config := blob("application/vnd.oci.empty.v1+json", "{}")
	layer := blob("application/vnd.docker.compose.file+yaml", "services: {}\n")
	manifest := blob(ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.docker.compose.project","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"`+config.Digest.String()+`","size":2},"layers":[{"mediaType":"application/vnd.docker.compose.file+yaml","digest":"`+layer.Digest.String()+`","size":13}]}`)
	ctx := context.Background()
	c := Client{}
	if err := c.PushArtifact(ctx, host+"/team/app:v1", []ocispec.Descriptor{config, layer, layer}, manifest); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/v2/team/app/blobs/" + layer.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "services: {}\n" {
		t.Errorf("layer %q", b)
	}
	ref, err := reference.ParseNormalizedNamed(host + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Digest(ctx, ref)
	if err != nil || d != manifest.Digest {
		t.Errorf("Digest: %s, %v; want %s", d, err, manifest.Digest)
	}
	missing, _ := reference.ParseNormalizedNamed(host + "/team/none:v1")
	if _, err := c.Digest(ctx, missing); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Digest of a missing tag: %v, want ErrNotFound", err)
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{"localhost:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true, "example.com:5000": false, "10.0.0.1:5000": false} {
		if got := loopback(host); got != want {
			t.Errorf("loopback(%q) = %v", host, got)
		}
	}
}

func TestParseRefScheme(t *testing.T) {
	for _, tt := range []struct {
		ref      string
		insecure bool
		want     string
	}{{"127.0.0.1:5000/a:1", false, "http"}, {"example.com/a:1", false, "https"}, {"example.com/a:1", true, "http"}} {
		r, err := parseRef(tt.ref, tt.insecure)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Scheme(); got != tt.want {
			t.Errorf("parseRef(%q, %v): scheme %s, want %s", tt.ref, tt.insecure, got, tt.want)
		}
	}
}

// TestComposeLoader pushes a compose artifact (two compose files, an
// extends file, an env file) and loads it back as -f oci:// does.
func TestComposeLoader(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	layer := func(mediaType, data string, annotations map[string]string) ocispec.Descriptor {
		d := blob(mediaType, data)
		d.Annotations = annotations
		return d
	}
	config := blob("application/vnd.oci.empty.v1+json", "{}")
	layers := []ocispec.Descriptor{
		layer(composeFileMediaType, "services:\n  a:\n    image: i\n", map[string]string{"com.docker.compose.file": "compose.yaml"}),
		layer(composeFileMediaType, "services:\n  a:\n    image: j\n", map[string]string{"com.docker.compose.file": "override.yaml"}),
		layer(composeFileMediaType, "services:\n  b: {}\n", map[string]string{"com.docker.compose.file": "abc.yaml", "com.docker.compose.extends": "true"}),
		layer(composeEnvMediaType, "A=1\n", map[string]string{"com.docker.compose.envfile": "def.env"}),
	}
	body, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: composeArtifactType, Config: config, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := (Client{}).PushArtifact(ctx, host+"/team/app:v1", append([]ocispec.Descriptor{config}, layers...), blob(ocispec.MediaTypeImageManifest, string(body))); err != nil {
		t.Fatal(err)
	}
	l := &ComposeLoader{CacheDir: t.TempDir()}
	url := "oci://" + host + "/team/app:v1"
	if !l.Accept(url) || l.Accept("compose.yaml") {
		t.Error("Accept")
	}
	path, err := l.Load(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != l.Dir(url) || filepath.Base(path) != "compose.yaml" {
		t.Errorf("Load gave %s, Dir %s", path, l.Dir(url))
	}
	for file, want := range map[string]string{
		"compose.yaml": "services:\n  a:\n    image: i\n\n---\nservices:\n  a:\n    image: j\n",
		"abc.yaml":     "services:\n  b: {}\n",
		"def.env":      "A=1\n",
	} {
		got, err := os.ReadFile(filepath.Join(l.Dir(url), file))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", file, got, err, want)
		}
	}
	if _, err := (&ComposeLoader{CacheDir: t.TempDir()}).Load(ctx, "oci://"+host+"/team/none:v1"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("a missing artifact: %v, want ErrNotFound", err)
	}
}

func TestWriteLayersRefusesPaths(t *testing.T) {
	repo, _ := name.NewRepository("example.com/a")
	for _, file := range []string{"../x.env", "/etc/x.env", "a/b.env", ""} {
		d := blob(composeEnvMediaType, "A=1\n")
		d.Annotations = map[string]string{"com.docker.compose.envfile": file}
		err := writeLayers(t.TempDir(), repo, []ocispec.Descriptor{d}, func(d ocispec.Descriptor) ([]byte, error) { return d.Data, nil })
		if err == nil || !strings.Contains(err.Error(), "invalid file name") {
			t.Errorf("env file %q: %v", file, err)
		}
	}
}
