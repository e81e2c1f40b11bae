package images

import (
	"context"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// BuildAndPush builds the images of the services named in opts.Services
// (all when none) that have a build section, then pushes each to the
// registry its image: names (berth deploy --build, #15: a swarm's nodes
// pull the image from there). It is Build then PushImages, with their
// options, dry run and progress; the first build failure stops it before
// anything is pushed.
func BuildAndPush(ctx context.Context, b service.Backend, p *project.Project, opts ImageOptions) error {
	if _, err := Build(ctx, b, p, opts); err != nil {
		return err
	}
	return PushImages(ctx, b, p, opts)
}
