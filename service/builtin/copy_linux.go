package builtin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/archive"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
	"golang.org/x/sys/unix"
)

var (
	_ service.Copier     = (*Backend)(nil)
	_ service.CopierFrom = (*Backend)(nil)
)

// CopyTo implements service.Copier: the tar is extracted inside the
// container's root, as the container sees it when it runs (its volumes
// included), else into its root filesystem.
func (b *Backend) CopyTo(ctx context.Context, ref, dir string, tar io.Reader) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	root, done, err := b.rootfs(r)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", r.Name, err)
	}
	defer done()
	if err := archive.Extract(ctx, root, dir, tar); err != nil {
		return fmt.Errorf("container %s: %w", r.Name, err)
	}
	return nil
}

// CopyFrom implements service.CopierFrom.
func (b *Backend) CopyFrom(ctx context.Context, ref, path string) (io.ReadCloser, error) {
	r, err := b.get(ref)
	if err != nil {
		return nil, err
	}
	root, done, err := b.rootfs(r)
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", r.Name, err)
	}
	rc, err := archive.Archive(ctx, root, path)
	if err != nil {
		done()
		return nil, fmt.Errorf("container %s: %w", r.Name, err)
	}
	return &doneCloser{ReadCloser: rc, done: done}, nil
}

type doneCloser struct {
	io.ReadCloser
	done func()
}

func (d *doneCloser) Close() error {
	err := d.ReadCloser.Close()
	d.done()
	return err
}

// rootfs returns the directory that is the container's root: that of its
// running init, or its overlay mounted for the time of the copy (done
// unmounts it).
func (b *Backend) rootfs(r *records.Container) (string, func(), error) {
	if r.State.Status == service.StateRunning || r.State.Status == service.StatePaused {
		if alive(r.State.Pid, r.State.PidStart) {
			return "/proc/" + strconv.Itoa(r.State.Pid) + "/root", func() {}, nil
		}
	}
	dir := b.containerDir(r.ID)
	lower := make([]string, 0, len(r.Layers))
	for _, l := range slices.Backward(r.Layers) {
		lower = append(lower, filepath.Join(b.root, "layers", l))
	}
	if len(lower) == 0 {
		lower = []string{filepath.Join(b.root, "layers", "empty")}
	}
	// A mount of its own for each copy: copies may run side by side.
	merged := filepath.Join(dir, "copy-"+state.NewID()[:8])
	if err := unix.Mkdir(merged, 0o755); err != nil {
		return "", nil, err
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if len(data) > 4000 {
		_ = unix.Rmdir(merged)
		return "", nil, fmt.Errorf("too many layers to mount the stopped container's files (%d): start it and copy then", len(lower))
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, data); err != nil {
		_ = unix.Rmdir(merged)
		return "", nil, fmt.Errorf("mount the container's files: %w", err)
	}
	return merged, func() {
		_ = unix.Unmount(merged, unix.MNT_DETACH)
		_ = unix.Rmdir(merged)
	}, nil
}
