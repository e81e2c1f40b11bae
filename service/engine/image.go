package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
)

// InspectImage returns a local image by reference or ID; ErrNotFound if it
// is not present.
func (b *Backend) InspectImage(ctx context.Context, ref string) (service.Image, error) {
	res, err := b.c.ImageInspect(ctx, ref)
	if err != nil {
		return service.Image{}, wrapf(err, "inspect image %q", ref)
	}
	img := service.Image{
		ID: res.ID, RepoTags: res.RepoTags, RepoDigests: res.RepoDigests,
		Size: res.Size, LastTagTime: res.Metadata.LastTagTime,
		OS: res.Os, Architecture: res.Architecture, Variant: res.Variant,
	}
	if res.Created != "" {
		if t, err := time.Parse(time.RFC3339Nano, res.Created); err == nil {
			img.Created = t
		}
	}
	if res.Config != nil {
		img.Labels = res.Config.Labels
	}
	return img, nil
}

// RemoveImage removes the image ref, a reference or an ID, with its untagged
// parents. A reference that is not the image's only one is just untagged.
// ErrNotFound if there is no such image; ErrConflict while a container uses
// it (and, removing by ID, while it has several references), unless force;
// ErrConflict even with force when removing by ID an image a running
// container uses.
func (b *Backend) RemoveImage(ctx context.Context, ref string, force bool) error {
	_, err := b.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: force, PruneChildren: true})
	return wrapf(err, "remove image %q", ref)
}

// PullImage pulls ref (":latest" when it has neither tag nor digest), for
// platform when set, with the credentials config.json gives for its
// registry (anonymously when none), and writes a line per progress message
// to progress ("<layer>: <status> <progress bar>"). ErrNotFound when the
// registry has no such image (or refuses to say, as Docker Hub does for
// private repositories without credentials).
func (b *Backend) PullImage(ctx context.Context, ref, platform string, progress io.Writer) error {
	named, err := parseImageRef(ref)
	if err != nil {
		return fmt.Errorf("pull image %q: %w", ref, err)
	}
	auth, err := registryAuth(ctx, named)
	if err != nil {
		return fmt.Errorf("pull image %q: %w", ref, err)
	}
	opts := client.ImagePullOptions{RegistryAuth: auth}
	if platform != "" {
		p, err := parsePlatform(platform)
		if err != nil {
			return fmt.Errorf("pull image %q: %w", ref, err)
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	res, err := b.c.ImagePull(ctx, named.String(), opts)
	if err != nil {
		return wrapTransfer(err, "pull image %q", ref)
	}
	return wrapTransfer(readProgress(ctx, res, progress), "pull image %q", ref)
}

// PushImage pushes the local image ref (":latest" when it has no tag) to
// its registry, with the credentials config.json gives for it, and writes a
// line per progress message to progress. ErrNotFound when there is no such
// local image.
func (b *Backend) PushImage(ctx context.Context, ref string, progress io.Writer) error {
	named, err := parseImageRef(ref)
	if err != nil {
		return fmt.Errorf("push image %q: %w", ref, err)
	}
	auth, err := registryAuth(ctx, named)
	if err != nil {
		return fmt.Errorf("push image %q: %w", ref, err)
	}
	res, err := b.c.ImagePush(ctx, named.String(), client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return wrapTransfer(err, "push image %q", ref)
	}
	return wrapTransfer(readProgress(ctx, res, progress), "push image %q", ref)
}

// parseImageRef parses an image reference as the docker CLI does
// ("busybox" is docker.io/library/busybox) and adds ":latest" when it has
// neither tag nor digest.
func parseImageRef(ref string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, err
	}
	return reference.TagNameOnly(named), nil
}

// wrapTransfer is wrapf for pulls and pushes, where the engine reports a
// missing image or repository in the stream or with a status code that
// says nothing of it (Docker Hub's "pull access denied ... repository does
// not exist"): such errors wrap service.ErrNotFound too.
func wrapTransfer(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if sentinel(err) == nil && missingImage(err.Error()) {
		return fmt.Errorf(format+": %w: %w", append(args, err, service.ErrNotFound)...)
	}
	return wrapf(err, format, args...)
}

// missingImage reports whether an engine's or a registry's message says
// that an image, a manifest or a repository does not exist.
func missingImage(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"not found", "manifest unknown", "name unknown", "does not exist", "no such image"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// jsonMessage is a message of the engine's JSON progress streams (build,
// pull, push), as the docker CLI's jsonmessage package reads them.
type jsonMessage struct {
	Stream      string            `json:"stream,omitempty"`
	Status      string            `json:"status,omitempty"`
	Progress    string            `json:"progress,omitempty"`
	ID          string            `json:"id,omitempty"`
	Error       string            `json:"error,omitempty"`
	ErrorDetail *jsonstream.Error `json:"errorDetail,omitempty"`
	Aux         json.RawMessage   `json:"aux,omitempty"`
}

// errorMessage returns the message's error text, "" if it reports none.
func (m jsonMessage) errorMessage() string {
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		return m.ErrorDetail.Message
	}
	return m.Error
}

// progressLine renders a status message as the docker CLI does without a
// terminal: "<id>: <status> <progress>"; "" for a message with no status.
func (m jsonMessage) progressLine() string {
	if m.Status == "" {
		return ""
	}
	line := m.Status
	if m.Progress != "" {
		line += " " + m.Progress
	}
	if m.ID != "" {
		line = m.ID + ": " + line
	}
	return line
}

// readMessages decodes the engine's JSON message stream rc to its end,
// calling fn for each message, and closes rc. It returns fn's first error;
// when ctx ends first, ctx's error.
func readMessages(ctx context.Context, rc io.ReadCloser, fn func(jsonMessage) error) error {
	stop := context.AfterFunc(ctx, func() { _ = rc.Close() })
	defer func() {
		stop()
		_ = rc.Close()
	}()
	dec := json.NewDecoder(rc)
	for {
		var m jsonMessage
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading the engine's progress stream: %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

// readProgress reads a pull's or a push's stream, writing a line per status
// message to progress (nil: none), and returns the error a message reports.
func readProgress(ctx context.Context, rc io.ReadCloser, progress io.Writer) error {
	w := discard(progress)
	return readMessages(ctx, rc, func(m jsonMessage) error {
		if msg := m.errorMessage(); msg != "" {
			return errors.New(msg)
		}
		if line := m.progressLine(); line != "" {
			_, _ = fmt.Fprintln(w, line)
		}
		return nil
	})
}
