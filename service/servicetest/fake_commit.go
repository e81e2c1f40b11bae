package servicetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
)

var (
	_ service.Committer    = (*Fake)(nil)
	_ service.Exporter     = (*Fake)(nil)
	_ service.EventHistory = (*Fake)(nil)
)

// maxHistory is how many events the Fake keeps for EventsBetween, as the
// engine keeps its last 256.
const maxHistory = 256

// keepLocked records an event (with the container's labels) in the
// history EventsBetween replays.
func (f *Fake) keepLocked(ev service.Event, labels map[string]string) {
	ev.Labels = maps.Clone(labels)
	ev.Attributes = maps.Clone(ev.Attributes)
	f.history = append(f.history, ev)
	if len(f.history) > maxHistory {
		f.history = slices.Delete(f.history, 0, len(f.history)-maxHistory)
	}
}

// CommitContainer makes a new local image of the container (with its
// labels), tagged opts.Reference when set, and returns its ID. The Fake
// records the call with the reference as Detail. ErrNotFound if there is
// no such container; an error for a reference with a digest.
func (f *Fake) CommitContainer(ctx context.Context, id string, opts service.CommitOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "CommitContainer", Call{Object: name, Detail: opts.Reference}, containerNames(id, c)...); err != nil {
		return "", err
	}
	if c == nil {
		return "", notFound("container", id)
	}
	if strings.Contains(opts.Reference, "@") {
		return "", fmt.Errorf("commit container %q: refusing to create a tag with a digest reference", c.name)
	}
	imgID := "sha256:" + f.newIDLocked()
	if opts.Reference != "" {
		f.addImageLocked(normalizeRef(opts.Reference), imgID, c.spec.Labels)
	} else {
		f.images[imgID] = &fakeImage{id: imgID, labels: maps.Clone(c.spec.Labels), created: f.now()}
	}
	f.broadcastLocked()
	return imgID, nil
}

// ExportContainer returns a tar stream of what CopyTo stored in the
// container, named relative to the root ("etc/", "etc/hosts"), in the
// order of the paths. ErrNotFound if there is no such container.
func (f *Fake) ExportContainer(ctx context.Context, id string) (io.ReadCloser, error) {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "ExportContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	if c == nil {
		f.mu.Unlock()
		return nil, notFound("container", id)
	}
	tree := fileTree(c.files)
	f.mu.Unlock()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if p == "/" {
			continue
		}
		file := tree[p]
		h := &tar.Header{Name: p[1:], Mode: file.mode, ModTime: file.modTime, Typeflag: tar.TypeReg, Size: int64(len(file.data))}
		if file.dir {
			h.Typeflag, h.Size, h.Name = tar.TypeDir, 0, h.Name+"/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("container %q: export: %w", name, err)
		}
		if _, err := tw.Write(file.data); err != nil {
			return nil, fmt.Errorf("container %q: export: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("container %q: export: %w", name, err)
	}
	return io.NopCloser(&buf), nil
}

// EventsBetween sends the kept events (the last 256) of the containers
// matching filter from since, then, when until is zero or to come, those
// that happen, until until: then it closes both channels with no error.
// A zero since starts from now, as Events.
func (f *Fake) EventsBetween(ctx context.Context, filter service.Filter, since, until time.Time) (<-chan service.Event, <-chan error) {
	out := make(chan service.Event)
	errc := make(chan error, 1)
	f.mu.Lock()
	if err := f.enterLocked(ctx, "Events", Call{}); err != nil {
		f.mu.Unlock()
		errc <- err
		close(errc)
		close(out)
		return out, errc
	}
	var past []service.Event
	if !since.IsZero() {
		for _, ev := range f.history {
			if !ev.Time.Before(since) && (until.IsZero() || !ev.Time.After(until)) && filter.Matches(ev.Labels) {
				past = append(past, ev)
			}
		}
	}
	live := until.IsZero() || f.now().Before(until)
	s := &subscriber{filter: service.Filter{Labels: maps.Clone(filter.Labels)}, wake: make(chan struct{}, 1), queue: past}
	if live {
		f.subs[s] = struct{}{}
	}
	f.mu.Unlock()
	if !live {
		go func() {
			defer close(errc)
			defer close(out)
			for _, ev := range past {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, errc
	}
	lctx, cancel := ctx, context.CancelFunc(func() {})
	if !until.IsZero() {
		lctx, cancel = context.WithDeadline(ctx, until)
	}
	inner := make(chan error, 1)
	go f.forward(lctx, s, out, inner)
	go func() {
		defer cancel()
		defer close(errc)
		for err := range inner {
			if ctx.Err() != nil || until.IsZero() {
				errc <- err
			}
		}
	}()
	return out, errc
}

// fakeImageSize is the size InspectImage reports of every image.
const fakeImageSize = 1 << 20
