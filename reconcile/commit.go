package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/service"
)

// Commit plans making an image of container c (docker compose commit):
// one commit step, which Apply runs with the backend's Committer and which
// then holds the new image's ID in Made.
func Commit(c service.Container, opts service.CommitOptions) *Plan {
	plan := &Plan{}
	o := opts
	o.Changes = slices.Clone(opts.Changes)
	plan.add(&Step{Op: OpCommitContainer, Object: c.Name, Target: c.ID, Service: c.Labels[service.LabelService], Commit: &o})
	return plan
}

// Export writes the filesystem of container c as a tar stream to w
// (docker compose export), with the backend's Exporter.
func Export(ctx context.Context, b service.Backend, c service.Container, w io.Writer) error {
	ex, ok := b.(service.Exporter)
	if !ok {
		return fmt.Errorf("container %s: this backend cannot export containers: %w", c.Name, service.ErrUnsupported)
	}
	rc, err := ex.ExportContainer(ctx, c.ID)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("export container %s: %w", c.Name, err)
	}
	return nil
}

// ImageSummary is a line of docker compose images: a container and what
// the backend knows of its image.
type ImageSummary struct {
	// Container is the container's name.
	Container string
	// ID is the image's ID ("sha256:..."): the container's when the
	// image is gone.
	ID string
	// Repository and Tag are the container's image reference, split ("" when
	// it is an ID).
	Repository, Tag string
	// OS, Architecture and Variant are the image's platform.
	OS, Architecture, Variant string
	// Size is the image's size in bytes.
	Size int64
	// Created is when the image was made; LastTagTime when it was last
	// tagged (zero: unknown).
	Created, LastTagTime time.Time
}

// Platform is "os/arch[/variant]", as containerd's platforms.Format writes
// it ("unknown" when the OS is not known).
func (s ImageSummary) Platform() string {
	if s.OS == "" {
		return "unknown"
	}
	parts := []string{s.OS, s.Architecture}
	if s.Variant != "" {
		parts = append(parts, s.Variant)
	}
	return strings.Join(parts, "/")
}

// ImageSummaries describes the images of containers cs, inspecting each
// image once, at most parallel at a time (DefaultParallel when <= 0). A
// container whose image is gone is described by what it knows itself (its
// reference and image ID), as docker compose does. The result is sorted by
// container name.
func ImageSummaries(ctx context.Context, b service.Backend, cs []service.Container, parallel int) ([]ImageSummary, error) {
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	refs := map[string]bool{}
	for _, c := range cs {
		refs[c.Image] = true
	}
	var mu sync.Mutex
	found := map[string]service.Image{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, ref := range slices.Sorted(maps.Keys(refs)) {
		g.Go(func() error {
			img, err := b.InspectImage(gctx, ref)
			if errors.Is(err, service.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			found[ref] = img
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]ImageSummary, 0, len(cs))
	for _, c := range cs {
		s := ImageSummary{Container: c.Name, ID: c.ImageID}
		if !strings.HasPrefix(c.Image, "sha256:") {
			s.Repository, s.Tag = splitReference(c.Image)
		}
		if img, ok := found[c.Image]; ok {
			s.ID, s.OS, s.Architecture, s.Variant = img.ID, img.OS, img.Architecture, img.Variant
			s.Size, s.Created, s.LastTagTime = img.Size, img.Created, img.LastTagTime
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ImageSummary) int { return strings.Compare(a.Container, b.Container) })
	return out, nil
}

// splitReference splits an image reference as docker compose images
// does: its familiar repository and its tag ("latest" when it has neither
// tag nor digest, "" with a digest only): "docker.io/library/redis:7" is
// "redis", "7". A reference that does not parse gives "", "".
func splitReference(ref string) (repo, tag string) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", ""
	}
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return reference.FamiliarName(named), tag
}
