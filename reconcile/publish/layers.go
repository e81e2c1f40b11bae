package publish

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	yaml "go.yaml.in/yaml/v3"
)

// The media types and artifact type of a compose artifact, docker compose's.
const (
	// ArtifactType is the manifest's artifactType (OCI 1.1).
	ArtifactType = "application/vnd.docker.compose.project"
	// ComposeFileMediaType is the media type of a compose file layer.
	ComposeFileMediaType = "application/vnd.docker.compose.file+yaml"
	// EnvFileMediaType is the media type of an env file layer.
	EnvFileMediaType = "application/vnd.docker.compose.envfile"
	// EmptyConfigMediaType is the config's media type in an OCI 1.0
	// manifest, which has no artifactType.
	EmptyConfigMediaType = "application/vnd.docker.compose.config.empty.v1+json"
)

// Annotation keys on the layers.
const (
	AnnotationVersion = "com.docker.compose.version"
	AnnotationFile    = "com.docker.compose.file"
	AnnotationEnvFile = "com.docker.compose.envfile"
	AnnotationExtends = "com.docker.compose.extends"
)

// source is what the layers are made from: the project's compose files,
// its directory, environment and profiles.
type source struct {
	files      []string
	workingDir string
	env        map[string]string
	profiles   []string
	version    string
}

func (s source) layer(mediaType, annotation, name string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: mediaType,
		Digest:    digest.FromBytes(data),
		Size:      int64(len(data)),
		Annotations: map[string]string{
			AnnotationVersion: s.version,
			annotation:        filepath.Base(name),
		},
		Data: data,
	}
}

// layers makes the compose file layers, the extends files' and, with
// withEnv, the env files'. Extends and env file layers are sorted by name.
func (s source) layers(ctx context.Context, withEnv bool) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	extends := map[string]string{}
	envFiles := map[string]string{}
	for _, f := range s.files {
		data, err := s.rewrite(ctx, f, extends, envFiles)
		if err != nil {
			return nil, err
		}
		out = append(out, s.layer(ComposeFileMediaType, AnnotationFile, f, data))
	}
	done := map[string]bool{}
	for len(extends) > 0 {
		next := map[string]string{}
		for _, f := range sortedKeys(extends) {
			done[f] = true
			data, err := s.rewrite(ctx, f, next, envFiles)
			if err != nil {
				return nil, err
			}
			l := s.layer(ComposeFileMediaType, AnnotationFile, extends[f], data)
			l.Annotations[AnnotationExtends] = "true"
			out = append(out, l)
		}
		for f := range next {
			if done[f] {
				delete(next, f)
			}
		}
		extends = next
	}
	if withEnv {
		for _, f := range sortedKeys(envFiles) {
			data, err := os.ReadFile(f)
			if err != nil {
				continue // an optional env file that is absent
			}
			out = append(out, s.layer(EnvFileMediaType, AnnotationEnvFile, envFiles[f], data))
		}
	}
	return out, nil
}

// rewrite reads one compose file and replaces, in its text, each env_file
// path by "<sha256 of the path>.env" and each local extends file by
// "<sha256>.yaml", recording them in envFiles and extends (path → name).
func (s source) rewrite(ctx context.Context, file string, extends, envFiles map[string]string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	m, err := s.loadOne(ctx, file, false)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(m.Services) {
		svc := m.Services[name]
		for i, ef := range svc.EnvFiles {
			_, statErr := os.Stat(ef.Path)
			if statErr != nil && !os.IsNotExist(statErr) {
				return nil, fmt.Errorf("env file %s of service %s: %w", ef.Path, name, statErr)
			}
			hash := fmt.Sprintf("%x.env", sha256.Sum256([]byte(ef.Path)))
			if statErr == nil {
				envFiles[ef.Path] = hash
			}
			if data, err = replaceValue(data, hash, "services", name, "env_file", i); err != nil {
				return nil, fmt.Errorf("%s: service %s: env_file: %w", file, name, err)
			}
		}
		if svc.Extends == nil || svc.Extends.File == "" {
			continue
		}
		if _, err := os.Stat(svc.Extends.File); err != nil {
			continue // a remote file: loaded from there
		}
		hash := fmt.Sprintf("%x.yaml", sha256.Sum256([]byte(svc.Extends.File)))
		extends[svc.Extends.File] = hash
		if data, err = replaceValue(data, hash, "services", name, "extends", "file"); err != nil {
			return nil, fmt.Errorf("%s: service %s: extends: %w", file, name, err)
		}
	}
	return data, nil
}

// loadOne loads one compose file alone, as written: no extends, no
// include, no validation, paths resolved; raw also skips interpolation
// and env_file resolution (to see the literal values).
func (s source) loadOne(ctx context.Context, file string, raw bool) (*types.Project, error) {
	m, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  s.workingDir,
		Environment: s.env,
		ConfigFiles: []types.ConfigFile{{Filename: file}},
	}, func(o *loader.Options) {
		o.SkipValidation = true
		o.SkipExtends = true
		o.SkipConsistencyCheck = true
		o.ResolvePaths = true
		o.SkipInclude = true
		o.SkipInterpolation = raw
		o.SkipResolveEnvironment = raw
		o.Profiles = s.profiles
		o.SetProjectName("publish", false)
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	return m, nil
}

// replaceValue replaces, in a YAML text, the scalar at path (mapping keys
// and sequence indexes; a mapping with a path: key stands for its path)
// by value, up to the end of its line, keeping the rest of the text as
// written. A path to a scalar where a sequence is expected (env_file:
// a.env) is that scalar.
func replaceValue(in []byte, value string, path ...any) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("not a YAML document")
	}
	n := doc.Content[0]
	for _, step := range path {
		switch k := step.(type) {
		case string:
			v := mappingValue(n, k)
			if v == nil {
				return nil, fmt.Errorf("no key %q", k)
			}
			n = v
		case int:
			if n.Kind != yaml.SequenceNode {
				continue
			}
			if k >= len(n.Content) {
				return nil, fmt.Errorf("no item %d", k)
			}
			n = n.Content[k]
			if n.Kind == yaml.MappingNode {
				if n = mappingValue(n, "path"); n == nil {
					return nil, errors.New("no key \"path\"")
				}
			}
		}
	}
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("not a scalar")
	}
	return replaceAt(in, n.Line, n.Column, value), nil
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// replaceAt replaces what starts at line:column (1-based) up to the end of
// that line by value.
func replaceAt(in []byte, line, column int, value string) []byte {
	start := 0
	for l := 1; l < line && start < len(in); start++ {
		if in[start] == '\n' {
			l++
		}
	}
	start += column - 1
	if start > len(in) {
		start = len(in)
	}
	end := start
	for end < len(in) && in[end] != '\n' {
		end++
	}
	out := append([]byte{}, in[:start]...)
	out = append(out, value...)
	return append(out, in[end:]...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
