package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

var (
	_ service.Committer    = (*Backend)(nil)
	_ service.Exporter     = (*Backend)(nil)
	_ service.EventHistory = (*Backend)(nil)
)

// CommitContainer implements service.Committer with the engine's commit.
func (b *Backend) CommitContainer(ctx context.Context, id string, opts service.CommitOptions) (string, error) {
	res, err := b.c.ContainerCommit(ctx, id, client.ContainerCommitOptions{
		Reference: opts.Reference,
		Comment:   opts.Comment,
		Author:    opts.Author,
		Changes:   opts.Changes,
		NoPause:   !opts.Pause,
	})
	if err != nil {
		return "", wrapf(err, "commit")
	}
	return res.ID, nil
}

// ExportContainer implements service.Exporter with the engine's export.
func (b *Backend) ExportContainer(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := b.c.ContainerExport(ctx, id, client.ContainerExportOptions{})
	if err != nil {
		return nil, wrapf(err, "export")
	}
	return rc, nil
}

// EventsBetween implements service.EventHistory: the engine replays the
// events it keeps (its last 256 by default) from since, and ends the
// stream at until.
func (b *Backend) EventsBetween(ctx context.Context, f service.Filter, since, until time.Time) (<-chan service.Event, <-chan error) {
	return b.events(ctx, f, engineTime(since), engineTime(until))
}

// engineTime is t as the events API takes it ("<seconds>.<nanoseconds>"),
// "" for the zero time.
func engineTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}
