package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/service"
)

// commitChanges are the instructions docker commit --change accepts.
var commitChanges = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "label": true,
	"onbuild": true, "user": true, "volume": true, "workdir": true,
}

// Commit plans making an image of container c (docker compose commit):
// one commit step, which Apply runs with the backend's Committer and which
// then holds the new image's ID in Made. A reference that is not one
// (or names a digest) and a change that is not one of docker commit's
// instructions are errors, in docker's words.
func Commit(c service.Container, opts service.CommitOptions) (*Plan, error) {
	if opts.Reference != "" {
		named, err := reference.ParseNormalizedNamed(opts.Reference)
		if err != nil {
			return nil, fmt.Errorf("invalid reference format: %q: %w", opts.Reference, err)
		}
		if _, ok := named.(reference.Digested); ok {
			return nil, fmt.Errorf("%s: refusing to create a tag with a digest reference", opts.Reference)
		}
	}
	for _, ch := range opts.Changes {
		word, _, _ := strings.Cut(strings.TrimSpace(ch), " ")
		if !commitChanges[strings.ToLower(word)] {
			return nil, fmt.Errorf("change %q: %s is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR)", ch, strings.ToLower(word))
		}
	}
	plan := &Plan{}
	o := opts
	o.Changes = slices.Clone(opts.Changes)
	plan.add(&Step{Op: OpCommitContainer, Object: c.Name, Target: c.ID, Service: c.Labels[service.LabelService], Commit: &o})
	return plan, nil
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

// ExportFile is Export to the file at path, replaced only once the whole
// stream is written (a temporary file beside it, renamed, mode 0600, as
// docker compose export -o writes it). The directory must exist; path
// must not be a directory.
func ExportFile(ctx context.Context, b service.Backend, c service.Container, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("failed to export container: %s is a directory", path)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("failed to export container: directory %s does not exist", dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("export container %s: %w", c.Name, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := Export(ctx, b, c, f); err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("export container %s: %w", c.Name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("export container %s: %w", c.Name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export container %s: %w", c.Name, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("export container %s: %w", c.Name, err)
	}
	done = true
	return nil
}
