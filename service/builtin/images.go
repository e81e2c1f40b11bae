package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
	"github.com/berthdev/berth/service/builtin/layer"
	"github.com/berthdev/berth/service/builtin/state"
)

// InspectImage implements service.Backend.
func (b *Backend) InspectImage(ctx context.Context, ref string) (service.Image, error) {
	img, err := b.images.Get(ref)
	if err != nil {
		return service.Image{}, err
	}
	out := service.Image{
		ID: img.ID, Labels: img.Config.Labels, Created: img.Config.Created,
		OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant,
	}
	for _, l := range img.Layers {
		out.Size += l.Size
	}
	for _, r := range img.Refs {
		if strings.Contains(r, "@") {
			out.RepoDigests = append(out.RepoDigests, familiar(r))
		} else {
			out.RepoTags = append(out.RepoTags, familiar(r))
		}
	}
	return out, nil
}

// familiar shortens docker.io/library/x:tag to x:tag, as docker shows it.
func familiar(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "library/")
}

// PullImage implements service.ImageTransfer.
func (b *Backend) PullImage(ctx context.Context, ref, platform string, progress io.Writer) error {
	_, err := b.images.Pull(ctx, ref, platform, progress)
	return err
}

// PushImage implements service.ImageTransfer.
func (b *Backend) PushImage(ctx context.Context, ref string, progress io.Writer) error {
	return b.images.Push(ctx, ref, progress)
}

// LoadImages loads a `docker save` or OCI-layout tarball into the store
// and returns the references (or IDs) it recorded.
func (b *Backend) LoadImages(ctx context.Context, r io.Reader) ([]string, error) {
	imgs, err := b.images.Load(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, img := range imgs {
		if len(img.Refs) == 0 {
			out = append(out, img.ID)
		}
		for _, ref := range img.Refs {
			out = append(out, familiar(ref))
		}
	}
	return out, nil
}

// RemoveImage implements service.ImageRemover.
func (b *Backend) RemoveImage(ctx context.Context, ref string, force bool) error {
	img, err := b.images.Get(ref)
	if err != nil {
		return err
	}
	byID := img.ID == ref || strings.TrimPrefix(img.ID, "sha256:") == ref
	last := byID || len(img.Refs) <= 1
	if last && !force {
		ids, err := b.ids()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if r, err := b.load(id); err == nil && r.ImageID == img.ID {
				return fmt.Errorf("remove image %s: container %s uses it: %w", ref, r.Name, service.ErrConflict)
			}
		}
	}
	if byID {
		err = b.images.Remove(img.ID)
	} else {
		err = b.images.Remove(ref)
	}
	if err != nil {
		return err
	}
	_, err = b.images.GC()
	return err
}

// unpackLayers makes sure every layer of img is unpacked under layers/ and
// returns their directory names, bottom first. Layers are shared by all
// the containers of all images that have them.
func (b *Backend) unpackLayers(ctx context.Context, img image.Image) ([]string, error) {
	var names []string
	for _, l := range img.Layers {
		name := strings.TrimPrefix(l.DiffID, "sha256:")
		if name == "" || strings.ContainsAny(name, "/.") {
			return nil, fmt.Errorf("image %s: bad layer diff ID %q", img.ID, l.DiffID)
		}
		names = append(names, name)
		dir := filepath.Join(b.root, "layers", name)
		if state.Exists(dir) {
			continue
		}
		if err := b.unpackLayer(ctx, l, dir); err != nil {
			return nil, fmt.Errorf("image %s: layer %s: %w", img.ID, l.DiffID, err)
		}
	}
	return names, nil
}

func (b *Backend) unpackLayer(ctx context.Context, l image.Layer, dir string) error {
	tmp, err := os.MkdirTemp(filepath.Join(b.root, "tmp"), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	rc, err := l.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := layer.Unpack(ctx, tmp, rc, layer.Options{Overlay: true}); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil && !state.Exists(dir) {
		return err
	}
	return nil
}

// usedLayers returns the layer directories some container needs.
func (b *Backend) usedLayers() (map[string]bool, error) {
	ids, err := b.ids()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, id := range ids {
		r, err := b.load(id)
		if errors.Is(err, service.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		for _, l := range r.Layers {
			used[l] = true
		}
	}
	imgs, err := b.images.List()
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		for _, l := range img.Layers {
			used[strings.TrimPrefix(l.DiffID, "sha256:")] = true
		}
	}
	return used, nil
}

// PruneLayers removes unpacked layers that no image and no container
// needs, and returns their names.
func (b *Backend) PruneLayers() ([]string, error) {
	used, err := b.usedLayers()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(b.root, "layers"))
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, e := range ents {
		if !used[e.Name()] && e.Name() != "empty" {
			if err := os.RemoveAll(filepath.Join(b.root, "layers", e.Name())); err != nil {
				return gone, err
			}
			gone = append(gone, e.Name())
		}
	}
	slices.Sort(gone)
	return gone, nil
}
