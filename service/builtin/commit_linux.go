package builtin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/archive"
	"github.com/berthdev/berth/service/builtin/build"
	"github.com/berthdev/berth/service/builtin/state"
)

var (
	_ service.Committer    = (*Backend)(nil)
	_ service.Exporter     = (*Backend)(nil)
	_ service.EventHistory = (*Backend)(nil)
)

// CommitContainer implements service.Committer: the container's overlay
// upper directory becomes a layer on top of its image, in the image store
// (see build.Commit), with the container's command, environment, working
// directory, user and labels. A running container is paused meanwhile
// when opts.Pause.
func (b *Backend) CommitContainer(ctx context.Context, ref string, opts service.CommitOptions) (string, error) {
	r, err := b.get(ref)
	if err != nil {
		return "", err
	}
	if opts.Pause && r.State.Status == service.StateRunning {
		if err := b.freeze(r.ID, true); err != nil {
			return "", fmt.Errorf("commit container %s: %w", r.Name, err)
		}
		defer func() { _ = b.freeze(r.ID, false) }()
	}
	id, err := build.Commit(ctx, b.images, build.CommitSpec{
		Base:       r.ImageID,
		Upper:      filepath.Join(b.containerDir(r.ID), "upper"),
		Entrypoint: r.Spec.Entrypoint,
		Cmd:        r.Spec.Command,
		Env:        r.Process.Env,
		WorkingDir: r.Spec.WorkingDir,
		User:       r.Spec.User,
		Labels:     r.Spec.Labels,
		Options:    opts,
	})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return id, nil
}

// ExportContainer implements service.Exporter: the container's image
// layers and upper directory are mounted read-only, as one overlay of
// lower directories, for the time of the stream (so volumes, binds and
// the container's /proc are not in it), and archived with
// archive.Export, which never follows a link out of the tree.
func (b *Backend) ExportContainer(ctx context.Context, ref string) (io.ReadCloser, error) {
	r, err := b.get(ref)
	if err != nil {
		return nil, err
	}
	dir := b.containerDir(r.ID)
	lower := []string{filepath.Join(dir, "upper")}
	for _, l := range slices.Backward(r.Layers) {
		lower = append(lower, filepath.Join(b.root, "layers", l))
	}
	if len(r.Layers) == 0 {
		lower = append(lower, filepath.Join(b.root, "layers", "empty"))
	}
	data := "lowerdir=" + strings.Join(lower, ":")
	if len(data) > 4000 {
		return nil, fmt.Errorf("export container %s: too many layers to mount (%d): %w", r.Name, len(lower), service.ErrUnsupported)
	}
	merged := filepath.Join(dir, "export-"+state.NewID()[:8])
	if err := unix.Mkdir(merged, 0o755); err != nil {
		return nil, fmt.Errorf("export container %s: %w", r.Name, err)
	}
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, data); err != nil {
		_ = unix.Rmdir(merged)
		return nil, fmt.Errorf("export container %s: mount its files: %w", r.Name, err)
	}
	done := func() {
		_ = unix.Unmount(merged, unix.MNT_DETACH)
		_ = unix.Rmdir(merged)
	}
	rc, err := archive.Export(ctx, merged)
	if err != nil {
		done()
		return nil, fmt.Errorf("export container %s: %w", r.Name, err)
	}
	return &doneCloser{ReadCloser: rc, done: done}, nil
}
