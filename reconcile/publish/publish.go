package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// Options steer Publish.
type Options struct {
	// WithEnv adds the env files as layers (--with-env) and silences the
	// question about env declarations.
	WithEnv bool
	// ResolveDigests adds image-digests.yaml, pinning each service's image
	// to its registry's digest (--resolve-image-digests).
	ResolveDigests bool
	// App also copies each service's image into the repository and pushes
	// an index of them whose subject is the artifact (--app; it implies
	// ResolveDigests).
	App bool
	// OCIVersion is "1.1" or "1.0"; "" tries 1.1 and falls back to 1.0 on
	// a registry that refuses it, as docker compose does.
	OCIVersion string
	// DryRun makes the layers and the manifest and pushes nothing.
	DryRun bool
	// Confirm answers the questions asked before publishing; nil answers
	// no.
	Confirm Confirm
	// PushImages, when set, is called after the checks and before the
	// artifact is made, to push the images the services build.
	PushImages func(ctx context.Context) error
	// Registry pushes the artifact; nil only with DryRun.
	Registry Registry
	// Resolve gives image digests, for ResolveDigests.
	Resolve DigestFunc
	// Version is the value of the com.docker.compose.version annotations.
	Version string
	// Now is the clock of the org.opencontainers.image.created annotation;
	// nil means time.Now.
	Now func() time.Time
}

// Registry pushes an artifact: the blobs (config and layers, their Data
// set), then the manifest under ref. A registry that refuses the manifest
// with a client error other than an authentication one (it lacks OCI 1.1)
// gives an error wrapping service.ErrUnsupported.
type Registry interface {
	PushArtifact(ctx context.Context, ref string, blobs []ocispec.Descriptor, manifest ocispec.Descriptor) error
	// CopyImage copies the image src into the repository dst, by digest.
	CopyImage(ctx context.Context, src, dst string) (ocispec.Descriptor, error)
}

// Result is what Publish pushed (or, in a dry run, would push).
type Result struct {
	// Reference is the artifact's reference as given.
	Reference string
	// OCIVersion is the manifest's version, "1.1" or "1.0".
	OCIVersion string
	// Manifest is the manifest's descriptor.
	Manifest ocispec.Descriptor
	// Layers are the manifest's layers, in order.
	Layers []ocispec.Descriptor
	// Index is, with App, the index of the images copied, pushed by digest.
	Index ocispec.Descriptor
}

// Publish checks p as docker compose does (refusals, then questions asked
// through opts.Confirm), pushes the services' built images
// (opts.PushImages), and pushes the compose files of p to repository (a
// reference, REGISTRY/REPO[:TAG]) as an OCI artifact. p should be loaded
// with every profile enabled, as docker compose publishes them all.
func Publish(ctx context.Context, p *project.Project, repository string, opts Options) (Result, error) {
	res := Result{Reference: repository}
	if _, err := reference.ParseDockerRef(repository); err != nil {
		return res, fmt.Errorf("invalid reference %q: %w", repository, err)
	}
	if opts.Registry == nil && !opts.DryRun {
		return res, errors.New("publish: no registry client")
	}
	var err error
	src := source{files: p.ComposeFiles, workingDir: p.WorkingDir, env: p.Model.Environment, profiles: p.Model.Profiles, version: opts.Version}
	if err := src.refuse(p.Model); err != nil {
		return res, err
	}
	if err := src.ask(ctx, p.Model, opts.WithEnv, opts.Confirm); err != nil {
		return res, err
	}
	if opts.PushImages != nil {
		if err := opts.PushImages(ctx); err != nil {
			return res, err
		}
	}
	if res.Layers, err = src.layers(ctx, opts.WithEnv); err != nil {
		return res, err
	}
	if opts.ResolveDigests || opts.App {
		l, err := digestsLayer(ctx, p, opts.Resolve, src)
		if err != nil {
			return res, err
		}
		res.Layers = append(res.Layers, l)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	versions := []string{opts.OCIVersion}
	if opts.OCIVersion == "" {
		versions = []string{"1.1", "1.0"}
	}
	for i, v := range versions {
		res.OCIVersion = v
		manifest, blobs, err := Manifest(res.Layers, v, now())
		if err != nil {
			return res, err
		}
		manifest.Annotations = map[string]string{AnnotationVersion: opts.Version}
		res.Manifest = manifest
		if opts.DryRun {
			return res, nil
		}
		err = opts.Registry.PushArtifact(ctx, repository, blobs, manifest)
		if err == nil || i == len(versions)-1 || !errors.Is(err, service.ErrUnsupported) {
			if err != nil {
				return res, fmt.Errorf("publish %s: %w", repository, err)
			}
			break
		}
	}
	if opts.App {
		if res.Index, err = pushApp(ctx, p, repository, res.Manifest, opts); err != nil {
			return res, err
		}
	}
	return res, nil
}

// pushApp copies the services' images into the repository and pushes, by
// digest, an index of them whose subject is the artifact's manifest.
func pushApp(ctx context.Context, p *project.Project, repository string, manifest ocispec.Descriptor, opts Options) (ocispec.Descriptor, error) {
	named, err := reference.ParseDockerRef(repository)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	repo := named.Name()
	var manifests []ocispec.Descriptor
	for _, s := range p.Services {
		d, err := opts.Registry.CopyImage(ctx, s.Config.Image, repo)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("publish --app: service %s: %w", s.Name, err)
		}
		manifests = append(manifests, d)
	}
	subject := manifest
	subject.Data = nil
	raw, err := json.Marshal(ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   manifests,
		Subject:     &subject,
		Annotations: map[string]string{AnnotationVersion: opts.Version},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encode the index: %w", err)
	}
	index := ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: ArtifactType,
		Digest:       digest.FromBytes(raw),
		Size:         int64(len(raw)),
		Annotations:  map[string]string{AnnotationVersion: opts.Version},
		Data:         raw,
	}
	if err := opts.Registry.PushArtifact(ctx, repo+"@"+index.Digest.String(), nil, index); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("publish --app: push the index: %w", err)
	}
	return index, nil
}

// digestsLayer is the image-digests.yaml layer: an override with each
// service's image pinned to its digest.
func digestsLayer(ctx context.Context, p *project.Project, resolve DigestFunc, src source) (ocispec.Descriptor, error) {
	m, err := ResolveImageDigests(ctx, p.Model, resolve)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	override, _ := ImagesOnly(m)
	for name, svc := range override.Services {
		svc.Volumes = nil // docker compose pins the images only here
		override.Services[name] = svc
	}
	data, err := override.MarshalYAML()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("render image-digests.yaml: %w", err)
	}
	return src.layer(ComposeFileMediaType, AnnotationFile, "image-digests.yaml", data), nil
}

// Manifest makes the artifact's image manifest for layers, in OCI version
// "1.1" (artifactType, the empty config) or "1.0" (docker compose's empty
// config media type), created at the time given, and returns its
// descriptor and the blobs to push before it (the config).
func Manifest(layers []ocispec.Descriptor, version string, created time.Time) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	var config ocispec.Descriptor
	artifactType := ""
	switch version {
	case "1.1":
		config = ocispec.DescriptorEmptyJSON
		artifactType = ArtifactType
	case "1.0":
		data := []byte("{}")
		config = ocispec.Descriptor{MediaType: EmptyConfigMediaType, Digest: digest.FromBytes(data), Size: int64(len(data)), Data: data}
	default:
		return ocispec.Descriptor{}, nil, fmt.Errorf("unsupported OCI version %q: use 1.0 or 1.1", version)
	}
	raw, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Annotations:  map[string]string{"org.opencontainers.image.created": created.UTC().Format(time.RFC3339)},
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("encode the manifest: %w", err)
	}
	return ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Digest:       digest.FromBytes(raw),
		Size:         int64(len(raw)),
		Data:         raw,
	}, append([]ocispec.Descriptor{config}, layers...), nil
}
