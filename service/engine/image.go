package engine

import (
	"context"

	"github.com/berthdev/berth/service"
)

// InspectImage returns a local image by reference or ID; ErrNotFound if it
// is not present.
func (b *Backend) InspectImage(ctx context.Context, ref string) (service.Image, error) {
	res, err := b.c.ImageInspect(ctx, ref)
	if err != nil {
		return service.Image{}, wrapf(err, "inspect image %q", ref)
	}
	img := service.Image{ID: res.ID, RepoTags: res.RepoTags, RepoDigests: res.RepoDigests}
	if res.Config != nil {
		img.Labels = res.Config.Labels
	}
	return img, nil
}
