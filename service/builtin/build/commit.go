package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
)

// CommitSpec is what Commit makes an image of: a container's image, its
// overlay upper directory (its changes), and its configuration.
type CommitSpec struct {
	// Base is the ID of the image the container was created from.
	Base string
	// Upper is the container's overlay upper directory.
	Upper string
	// Entrypoint and Cmd are the container's (nil: the image's).
	Entrypoint, Cmd []string
	// Env is the container's whole environment (nil: the image's).
	Env []string
	// WorkingDir and User are the container's ("": the image's).
	WorkingDir, User string
	// Labels are added to the image's.
	Labels map[string]string
	// Options are docker commit's: reference, message, author, changes.
	Options service.CommitOptions
	// Now is the image's creation time (zero: the current time).
	Now time.Time
}

// commitChanges are the instructions docker commit --change accepts.
var commitChanges = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "label": true,
	"onbuild": true, "user": true, "volume": true, "workdir": true,
}

// Commit stores a new image made of spec.Base with one more layer, the
// changes spec.Upper holds (overlay whiteouts as layer whiteouts), and the
// container's configuration, then spec.Options.Changes applied, as docker
// commit does; it records it under spec.Options.Reference when set, and
// returns its ID. A change that is not one of CMD, ENTRYPOINT, ENV,
// EXPOSE, LABEL, ONBUILD, USER, VOLUME or WORKDIR is an error, before
// anything is stored.
func Commit(ctx context.Context, store *image.Store, spec CommitSpec) (string, error) {
	var refs []string
	if r := spec.Options.Reference; r != "" {
		norm, err := image.Normalize(r)
		if err != nil {
			return "", fmt.Errorf("invalid reference format: %q: %w", r, err)
		}
		if strings.Contains(norm, "@") {
			return "", errors.New("refusing to create a tag with a digest reference")
		}
		refs = []string{r}
	}
	changes, err := parseChanges(spec.Options.Changes)
	if err != nil {
		return "", err
	}
	base, err := store.Get(spec.Base)
	if err != nil {
		return "", fmt.Errorf("the container's image %s: %w", spec.Base, err)
	}
	b := &builder{store: store, cache: runCache{dir: store.Root() + "/buildcache"}, lex: shell.NewLex(parser.DefaultEscapeToken)}
	if err := b.cache.init(); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	b.tmp, err = os.MkdirTemp(b.cache.tmpDir(), "commit-")
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	defer os.RemoveAll(b.tmp)
	s, err := b.storedStage(spec.Base, base)
	if err != nil {
		return "", fmt.Errorf("the container's image %s: %w", spec.Base, err)
	}

	lw, err := newLayerWriter(b.tmp)
	if err != nil {
		return "", err
	}
	if err := diffUpper(ctx, spec.Upper, lw); err != nil {
		lw.abort()
		return "", fmt.Errorf("reading the container's changes: %w", err)
	}
	l, err := lw.finish(b.tmp, s.oci)
	if err != nil {
		return "", err
	}
	if l == nil { // no change: an empty layer, as docker commits one
		if l, err = emptyLayer(b.tmp, s.oci); err != nil {
			return "", err
		}
	}

	now := spec.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	cfg := &s.img.Config
	if spec.Entrypoint != nil {
		cfg.Entrypoint = slices.Clone(spec.Entrypoint)
		cfg.Cmd = nil
	}
	if spec.Cmd != nil {
		cfg.Cmd = slices.Clone(spec.Cmd)
	}
	if spec.Env != nil {
		cfg.Env = slices.Clone(spec.Env)
	}
	if spec.WorkingDir != "" {
		cfg.WorkingDir = spec.WorkingDir
	}
	if spec.User != "" {
		cfg.User = spec.User
	}
	if len(spec.Labels) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		maps.Copy(cfg.Labels, spec.Labels)
	}
	// The changes set the config only: the history gets one entry, for
	// the layer, as docker commit's.
	history := s.img.History
	for _, c := range changes {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			p := c.Path
			if !path.IsAbs(p) {
				p = path.Join(s.workdir(), p)
			}
			cfg.WorkingDir = path.Clean(p)
		case *instructions.OnbuildCommand:
			cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		default:
			if err := b.dispatch(ctx, s, c); err != nil {
				return "", fmt.Errorf("change %q: %w", text(c), err)
			}
		}
	}
	s.img.History = history
	s.img.Created = &now
	s.img.Author = spec.Options.Author
	s.img.History = append(s.img.History, ocispec.History{Created: &now, Author: spec.Options.Author, Comment: spec.Options.Comment})
	s.layers = append(s.layers, l)
	s.img.RootFS.DiffIDs = append(s.img.RootFS.DiffIDs, digestOf(l))

	img, err := s.image()
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	stored, err := store.Write(ctx, img, refs)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return stored.ID, nil
}

// parseChanges parses docker commit's --change values, each one
// instruction (several lines for one with continuations).
func parseChanges(changes []string) (cmds []instructions.Command, err error) {
	defer func() {
		// third-party parser fed with user input: a panic is an error
		if r := recover(); r != nil {
			cmds, err = nil, fmt.Errorf("change: parse error: %v", r)
		}
	}()
	for _, ch := range changes {
		res, err := parser.Parse(bytes.NewReader([]byte(ch)))
		if err != nil {
			return nil, fmt.Errorf("change %q: %w", ch, err)
		}
		for _, n := range res.AST.Children {
			if !commitChanges[strings.ToLower(n.Value)] {
				return nil, fmt.Errorf("change %q: %s is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR)", ch, strings.ToUpper(n.Value))
			}
			c, err := instructions.ParseCommand(n)
			if err != nil {
				return nil, fmt.Errorf("change %q: %w", ch, err)
			}
			cmds = append(cmds, c)
		}
	}
	return cmds, nil
}

// emptyLayer is a layer with no entries (the end-of-archive blocks only).
func emptyLayer(dir string, oci bool) (*buildLayer, error) {
	lw, err := newLayerWriter(dir)
	if err != nil {
		return nil, err
	}
	lw.entries = 1 // so that finish keeps it
	return lw.finish(dir, oci)
}

// digestOf is the layer's diff ID as the config lists it.
func digestOf(l *buildLayer) digest.Digest { return digest.Digest(l.diffID.String()) }
