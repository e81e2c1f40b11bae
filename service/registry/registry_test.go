package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
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
