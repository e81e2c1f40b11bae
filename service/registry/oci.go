package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The media types of a compose artifact (docker compose publish's).
const (
	composeArtifactType    = "application/vnd.docker.compose.project"
	composeFileMediaType   = "application/vnd.docker.compose.file+yaml"
	composeEnvMediaType    = "application/vnd.docker.compose.envfile"
	composeConfigMediaType = "application/vnd.docker.compose.config.empty.v1+json"
)

// ComposeLoader loads compose files published as OCI artifacts (`-f
// oci://REGISTRY/REPO:TAG`), as docker compose does: it is a compose-go
// loader.ResourceLoader. The artifact's compose files become one
// compose.yaml (a YAML document each), its extends and env files sit
// beside it under their published names, in CacheDir/<manifest digest>.
type ComposeLoader struct {
	Client Client
	// CacheDir holds the artifacts pulled.
	CacheDir string

	mu    sync.Mutex
	known map[string]string // oci:// path → local directory
}

// Accept implements loader.ResourceLoader: oci:// references.
func (l *ComposeLoader) Accept(path string) bool { return strings.HasPrefix(path, "oci://") }

// Dir implements loader.ResourceLoader: the local directory of an artifact
// loaded.
func (l *ComposeLoader) Dir(path string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.known[path]
}

// Load implements loader.ResourceLoader: it pulls the artifact (once per
// manifest digest) and returns the path of its compose.yaml.
func (l *ComposeLoader) Load(ctx context.Context, path string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if dir, ok := l.known[path]; ok {
		return filepath.Join(dir, "compose.yaml"), nil
	}
	dir, err := l.pull(ctx, strings.TrimPrefix(path, "oci://"))
	if err != nil {
		return "", fmt.Errorf("load %s: %w", path, err)
	}
	if l.known == nil {
		l.known = map[string]string{}
	}
	l.known[path] = dir
	return filepath.Join(dir, "compose.yaml"), nil
}

func (l *ComposeLoader) pull(ctx context.Context, ref string) (string, error) {
	r, err := parseRef(ref, l.Client.Insecure)
	if err != nil {
		return "", err
	}
	opts := l.Client.options(ctx)
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return "", translate(err)
	}
	raw := desc.Manifest
	if desc.MediaType.IsIndex() {
		// an application published with --app: the index's compose manifest
		var index ocispec.Index
		if err := json.Unmarshal(raw, &index); err != nil {
			return "", fmt.Errorf("decode the index: %w", err)
		}
		found := false
		for _, m := range index.Manifests {
			if m.ArtifactType == composeArtifactType {
				d, err := remote.Get(r.Context().Digest(m.Digest.String()), opts...)
				if err != nil {
					return "", translate(err)
				}
				raw, found = d.Manifest, true
				break
			}
		}
		if !found {
			return "", errors.New("the index refers to no compose artifact")
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("decode the manifest: %w", err)
	}
	if (m.ArtifactType != "" && m.ArtifactType != composeArtifactType) || (m.ArtifactType == "" && m.Config.MediaType != composeConfigMediaType) {
		return "", fmt.Errorf("not a compose artifact (artifactType %q, config %s)", m.ArtifactType, m.Config.MediaType)
	}
	dir := filepath.Join(l.CacheDir, digest.FromBytes(raw).Encoded())
	if _, err := os.Stat(filepath.Join(dir, "compose.yaml")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(l.CacheDir, ".pull-")
	if err != nil {
		if err = os.MkdirAll(l.CacheDir, 0o700); err == nil {
			tmp, err = os.MkdirTemp(l.CacheDir, ".pull-")
		}
		if err != nil {
			return "", fmt.Errorf("cache: %w", err)
		}
	}
	defer os.RemoveAll(tmp)
	if err := writeLayers(tmp, r.Context(), m.Layers, func(d ocispec.Descriptor) ([]byte, error) {
		return fetchBlob(r.Context(), d, opts)
	}); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(filepath.Join(dir, "compose.yaml")); statErr != nil {
			return "", fmt.Errorf("cache: %w", err)
		}
	}
	return dir, nil
}

// writeLayers writes an artifact's layers into dir: the compose files
// (but extends ones) appended to compose.yaml as YAML documents, the
// extends and env files under their published names.
func writeLayers(dir string, repo name.Repository, layers []ocispec.Descriptor, fetch func(ocispec.Descriptor) ([]byte, error)) error {
	documents := 0
	for _, layer := range layers {
		if layer.MediaType != composeFileMediaType && layer.MediaType != composeEnvMediaType {
			continue
		}
		data, err := fetch(layer)
		if err != nil {
			return err
		}
		file := "compose.yaml"
		switch {
		case layer.MediaType == composeEnvMediaType:
			file = layer.Annotations["com.docker.compose.envfile"]
		case layer.Annotations["com.docker.compose.extends"] != "":
			file = layer.Annotations["com.docker.compose.file"]
		}
		if file == "" || file != filepath.Base(file) || file == "." || file == ".." {
			return fmt.Errorf("layer %s of %s: invalid file name %q", layer.Digest, repo, file)
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if file == "compose.yaml" {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
			if documents > 0 {
				data = append([]byte("\n---\n"), data...)
			}
			documents++
		}
		f, err := os.OpenFile(filepath.Join(dir, file), flags, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if documents == 0 {
		return fmt.Errorf("%s: the artifact has no compose file", repo)
	}
	return nil
}

// fetchBlob gives a layer's content: its embedded data, else the blob,
// checked against its digest.
func fetchBlob(repo name.Repository, d ocispec.Descriptor, opts []remote.Option) ([]byte, error) {
	data := d.Data
	if data == nil {
		l, err := remote.Layer(repo.Digest(d.Digest.String()), opts...)
		if err != nil {
			return nil, translate(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, translate(err)
		}
		defer rc.Close()
		if data, err = io.ReadAll(io.LimitReader(rc, 64<<20)); err != nil {
			return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
		}
	}
	if digest.FromBytes(data) != d.Digest {
		return nil, fmt.Errorf("blob %s of %s: content does not match its digest", d.Digest, repo)
	}
	return data, nil
}
