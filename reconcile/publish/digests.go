package publish

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DigestFunc gives the digest a registry has for an image reference (the
// manifest or index its tag points at).
type DigestFunc func(ctx context.Context, ref reference.Named) (digest.Digest, error)

// ResolveImageDigests returns m with every service image, pre_start hook
// image and `type: image` volume source pinned to the digest resolve gives
// ("busybox:1" → "docker.io/library/busybox:1@sha256:..."), as docker
// compose's `config --resolve-image-digests`. References that carry a
// digest already are kept.
func ResolveImageDigests(ctx context.Context, m *types.Project, resolve DigestFunc) (*types.Project, error) {
	if resolve == nil {
		return nil, errors.New("pin the images to digests: no registry client")
	}
	out, err := m.WithImagesResolved(func(named reference.Named) (digest.Digest, error) {
		return resolve(ctx, named)
	})
	if err != nil {
		return nil, fmt.Errorf("pin the images to digests: %w", err)
	}
	return out, nil
}

// ResolveModelImageDigests is ResolveImageDigests on a raw model (`config
// --no-interpolate --resolve-image-digests`): each service's image: is
// pinned in place.
func ResolveModelImageDigests(ctx context.Context, model map[string]any, resolve DigestFunc) error {
	services, _ := model["services"].(map[string]any)
	p := &types.Project{Services: types.Services{}}
	for name, s := range services {
		raw, _ := s.(map[string]any)
		image, _ := raw["image"].(string)
		svc := types.ServiceConfig{Name: name}
		svc.Image = image
		p.Services[name] = svc
	}
	p, err := ResolveImageDigests(ctx, p, resolve)
	if err != nil {
		return err
	}
	for name, s := range services {
		if svc, ok := s.(map[string]any); ok && p.Services[name].Image != "" {
			svc["image"] = p.Services[name].Image
		}
	}
	return nil
}

// ImagesOnly is the override file of `config --lock-image-digests`: the
// services with their image and `type: image` volumes only, nothing else.
// The warnings name the services whose pre_start hook images the override
// cannot pin, in docker compose's words.
func ImagesOnly(m *types.Project) (*types.Project, []string) {
	out := &types.Project{Services: types.Services{}}
	var warnings []string
	for name, s := range m.Services {
		svc := types.ServiceConfig{}
		svc.Image = s.Image
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeImage {
				svc.Volumes = append(svc.Volumes, v)
			}
		}
		out.Services[name] = svc
		for _, h := range s.PreStart {
			if h.Image != "" {
				warnings = append(warnings, fmt.Sprintf("service %q: pre_start hook images are not pinned in the override file produced by --lock-image-digests, use the full --resolve-image-digests output to pin them", name))
				break
			}
		}
	}
	sort.Strings(warnings)
	return out, warnings
}

// LockModel is ImagesOnly on a raw model, in place.
func LockModel(model map[string]any) {
	for key, v := range model {
		if key != "services" {
			delete(model, key)
			continue
		}
		services, _ := v.(map[string]any)
		for _, s := range services {
			svc, ok := s.(map[string]any)
			if !ok {
				continue
			}
			for k := range svc {
				switch k {
				case "image":
				case "volumes":
					var keep []any
					vols, _ := svc[k].([]any)
					for _, vol := range vols {
						if m, ok := vol.(map[string]any); ok && m["type"] == types.VolumeTypeImage {
							keep = append(keep, vol)
						}
					}
					if len(keep) == 0 {
						delete(svc, k)
					} else {
						svc[k] = keep
					}
				default:
					delete(svc, k)
				}
			}
		}
	}
}
