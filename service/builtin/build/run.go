package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthdev/berth/service/builtin/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// runStep runs a RUN instruction, or takes its layer from the cache.
func (b *builder) runStep(ctx context.Context, s *stage, c *instructions.RunCommand) error {
	step := RunStep{
		Cmd:        s.cmdline(c.ShellDependantCmdLine),
		Env:        s.runEnv(),
		User:       s.img.Config.User,
		WorkDir:    s.workdir(),
		Network:    b.spec.Network,
		ExtraHosts: b.spec.ExtraHosts,
		ShmSize:    b.spec.ShmSize,
		Memory:     b.spec.Memory,
	}
	if n := instructions.GetNetwork(c); n != "" && n != instructions.NetworkDefault {
		step.Network = n
	}
	if len(step.Cmd) == 0 {
		return errors.New("RUN requires a command")
	}
	createdBy := "RUN " + strings.Join(step.Cmd, " ")
	if args := s.setArgs(); len(args) > 0 {
		createdBy = fmt.Sprintf("RUN |%d %s %s", len(args), strings.Join(args, " "), strings.Join(step.Cmd, " "))
	}
	parent, err := s.id()
	if err != nil {
		return err
	}
	key, err := b.cache.key(parent, step)
	if err != nil {
		return err
	}
	if !b.spec.NoCache {
		if l, ok := b.cache.get(key, s.oci); ok {
			b.say(" ---> Using cache")
			if l != nil {
				return s.addLayer(ctx, createdBy, l)
			}
			return s.addLayer(ctx, createdBy, nil)
		}
	}
	if b.run == nil {
		return errNoRunner
	}

	// The runtime runs the step in the current image, stored under a
	// reference of this build's.
	img, err := s.image()
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("%s:%s-%d", tempRepo, b.buildID, b.step)
	b.tempRefs = append(b.tempRefs, ref)
	if _, err := b.store.Write(ctx, img, []string{ref}); err != nil {
		return err
	}
	b.cache.dedupe(b.store, s.layers)

	out := &lastLine{w: b.progress}
	code, upper, cleanup, err := b.run.RunStep(ctx, ref, step, out)
	if err != nil {
		return fmt.Errorf("running %s: %w", strings.Join(step.Cmd, " "), err)
	}
	defer cleanup()
	if code != 0 {
		return &runError{cmd: step.Cmd, code: code, last: out.last()}
	}
	lw, err := newLayerWriter(b.cache.tmpDir())
	if err != nil {
		return err
	}
	if err := diffUpper(ctx, upper, lw); err != nil {
		lw.abort()
		return fmt.Errorf("reading the changes of %s: %w", strings.Join(step.Cmd, " "), err)
	}
	l, err := lw.finish(b.cache.layersDir(), s.oci)
	if err != nil {
		return err
	}
	if err := b.cache.put(key, l); err != nil {
		b.say("[Warning] build cache: %v", err)
	}
	return s.addLayer(ctx, createdBy, l)
}

// setArgs returns the stage's set arguments as KEY=VALUE pairs.
func (s *stage) setArgs() []string {
	var out []string
	for _, k := range s.argKeys {
		if v := s.args[k]; v != nil {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

// runError is a RUN step whose command failed.
type runError struct {
	cmd  []string
	code int
	last string
}

func (e *runError) Error() string {
	msg := fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(e.cmd, " "), e.code)
	if e.last != "" {
		msg += ": " + e.last
	}
	return msg
}

// lastLine passes output on to w (when not nil) and remembers its last
// non-blank line. It is safe for concurrent use.
type lastLine struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	line    string
}

// maxLine bounds the line kept.
const maxLine = 1024

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		if _, err := l.w.Write(p); err != nil {
			l.w = nil // progress is best effort; the step goes on
		}
	}
	data := append(l.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		l.keep(data[:i])
		data = data[i+1:]
	}
	if len(data) > maxLine {
		data = data[len(data)-maxLine:]
	}
	l.partial = append([]byte(nil), data...)
	return len(p), nil
}

func (l *lastLine) keep(b []byte) {
	if s := strings.TrimSpace(string(bytes.TrimRight(b, "\r"))); s != "" {
		if len(s) > maxLine {
			s = s[:maxLine]
		}
		l.line = s
	}
}

// last returns the last non-blank line written.
func (l *lastLine) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := strings.TrimSpace(string(l.partial)); s != "" {
		return s
	}
	return l.line
}

// runCache is the cache of RUN steps, under the store's root:
//
//	buildcache/run/<key>.json    the result of a step: its layer, or none
//	buildcache/layers/<hex>.tar  the layers of cached steps (uncompressed)
//	buildcache/tmp/              builds' temporary files
type runCache struct {
	dir string
}

// cacheEntry is the result of a RUN step.
type cacheEntry struct {
	// DiffID is the layer's digest (uncompressed: also its blob digest);
	// empty when the step changed no file.
	DiffID string `json:"diffID,omitempty"`
	// Size is the layer's size.
	Size int64 `json:"size,omitempty"`
}

func (c runCache) runDir() string    { return filepath.Join(c.dir, "run") }
func (c runCache) layersDir() string { return filepath.Join(c.dir, "layers") }
func (c runCache) tmpDir() string    { return filepath.Join(c.dir, "tmp") }

// init creates the cache's directories and removes the temporary files of
// builds that died more than a day ago.
func (c runCache) init() error {
	for _, d := range []string{c.runDir(), c.layersDir(), c.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	ents, _ := os.ReadDir(c.tmpDir())
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(filepath.Join(c.tmpDir(), e.Name()))
		}
	}
	return nil
}

// key returns the cache key of a step run on the image parent: the step
// is all its input besides the image.
func (c runCache) key(parent string, step RunStep) (string, error) {
	b, err := json.Marshal(step)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "berth build RUN v1\n%s\n", parent)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// get returns the cached result of a step: its layer, or nil for a step
// that changed nothing; ok is false on a miss (or a layer gone).
func (c runCache) get(key string, oci bool) (l *buildLayer, ok bool) {
	raw, err := os.ReadFile(filepath.Join(c.runDir(), key+".json"))
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, false
	}
	if e.DiffID == "" {
		return nil, true
	}
	h, err := v1.NewHash(e.DiffID)
	if err != nil {
		return nil, false
	}
	p := filepath.Join(c.layersDir(), h.Hex+".tar")
	if info, err := os.Stat(p); err != nil || info.Size() != e.Size {
		return nil, false
	}
	return fileLayer(p, h, e.Size, oci), true
}

// put records the result of a step.
func (c runCache) put(key string, l *buildLayer) error {
	var e cacheEntry
	if l != nil {
		e = cacheEntry{DiffID: l.diffID.String(), Size: l.size}
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.tmpDir(), "entry-*")
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(c.runDir(), key+".json"))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// dedupe makes the cached layers among layers, now stored in the store as
// blobs (uncompressed: named by their diff ID), hard links to those blobs,
// so that a layer is kept once on disk. The store never modifies a blob in
// place, and GC removing one leaves the cache's link. Best effort.
func (c runCache) dedupe(store *image.Store, layers []*buildLayer) {
	for _, l := range layers {
		if l.path == "" || filepath.Dir(l.path) != c.layersDir() {
			continue
		}
		blob := filepath.Join(store.Root(), "blobs", l.digest.Algorithm, l.digest.Hex)
		bi, err := os.Stat(blob)
		if err != nil {
			continue
		}
		li, err := os.Stat(l.path)
		if err != nil || os.SameFile(bi, li) || bi.Size() != li.Size() {
			continue
		}
		tmp := l.path + ".link"
		if err := os.Link(blob, tmp); err != nil {
			if !errors.Is(err, fs.ErrExist) {
				continue
			}
			os.Remove(tmp)
			if os.Link(blob, tmp) != nil {
				continue
			}
		}
		if os.Rename(tmp, l.path) != nil {
			os.Remove(tmp)
		}
	}
}
