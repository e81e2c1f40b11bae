package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// stage is the state of a stage being built: its image config and layers.
type stage struct {
	// name is the stage's name ("" when unnamed), or the image reference
	// for a base image.
	name string
	// index is the stage's index in the Dockerfile (-1 for a base image).
	index int
	// img is the image config, docker's format.
	img dockerspec.DockerOCIImage
	// layers are the image's layers, base first.
	layers []*buildLayer
	// oci: the image is written with an OCI manifest (its base had OCI
	// layers), else a Docker schema 2 one.
	oci bool
	// argKeys and args are the arguments the stage declared, in order,
	// with their values (nil: declared but unset).
	argKeys []string
	args    map[string]*string
	// cmdSet: a CMD instruction ran in this stage (ENTRYPOINT then keeps
	// the Cmd).
	cmdSet bool
	// tree indexes the stage's filesystem, built on first use.
	tree *fsTree
	// baseID is the ID of the image the stage starts from, shown after
	// FROM (its config is rewritten, so s.id() differs).
	baseID string
}

// clone returns a copy of s to start another stage from.
func (s *stage) clone(name string) (*stage, error) {
	raw, err := json.Marshal(s.img)
	if err != nil {
		return nil, err
	}
	n := &stage{name: name, oci: s.oci, layers: slices.Clone(s.layers), args: map[string]*string{}, baseID: s.baseID}
	if err := json.Unmarshal(raw, &n.img); err != nil {
		return nil, err
	}
	if s.tree != nil {
		n.tree = s.tree.clone()
	}
	return n, nil
}

// created is the time of the stage's config and history entries: its base
// image's, so that builds are reproducible.
func (s *stage) created() time.Time {
	if s.img.Created != nil {
		return *s.img.Created
	}
	return epoch
}

// config returns the image config as stored.
func (s *stage) config() ([]byte, error) {
	return json.Marshal(s.img)
}

// id returns the ID the image would have now.
func (s *stage) id() (string, error) {
	raw, err := s.config()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// image returns the stage's image.
func (s *stage) image() (*builtImage, error) {
	raw, err := s.config()
	if err != nil {
		return nil, err
	}
	return newImage(raw, s.layers, s.oci)
}

// addHistory records an instruction in the history (unless the image has
// none while it has layers: a history must describe every layer); a
// layer, when not nil, is appended to the image.
func (s *stage) addHistory(createdBy string, l *buildLayer) {
	if len(s.img.History) > 0 || len(s.layers) == 0 {
		t := s.created()
		h := ocispec.History{Created: &t, CreatedBy: createdBy, Comment: "berth build", EmptyLayer: l == nil}
		s.img.History = append(s.img.History, h)
	}
	if l != nil {
		s.layers = append(s.layers, l)
		s.img.RootFS.DiffIDs = append(s.img.RootFS.DiffIDs, digest.Digest(l.diffID.String()))
	}
}

// env returns the variables instructions are expanded with: the stage's
// set arguments, then its Env, which wins.
func (s *stage) env() []string {
	var env []string
	for _, k := range s.argKeys {
		if v := s.args[k]; v != nil {
			env = append(env, k+"="+*v)
		}
	}
	return append(env, s.img.Config.Env...)
}

// runEnv returns the environment of a RUN step: the Env, then the set
// arguments it does not override, then PATH when neither sets it.
func (s *stage) runEnv() []string {
	var args []string
	for _, k := range s.argKeys {
		if v := s.args[k]; v != nil {
			args = append(args, k+"="+*v)
		}
	}
	var extra []string
	for _, kv := range args {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(s.img.Config.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") || e == k }) {
			extra = append(extra, kv)
		}
	}
	return image.MergeEnv(s.img.Config.Env, extra)
}

// setEnv sets KEY=VALUE in the Env, replacing an earlier value.
func (s *stage) setEnv(k, v string) {
	for i, e := range s.img.Config.Env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			s.img.Config.Env[i] = k + "=" + v
			return
		}
	}
	s.img.Config.Env = append(s.img.Config.Env, k+"="+v)
}

// shell returns the shell of shell forms.
func (s *stage) shell() []string {
	if len(s.img.Config.Shell) > 0 {
		return slices.Clone(s.img.Config.Shell)
	}
	return []string{"/bin/sh", "-c"}
}

// cmdline returns a command line in its shell or exec form.
func (s *stage) cmdline(c instructions.ShellDependantCmdLine) []string {
	if c.CmdLine == nil {
		return nil
	}
	if c.PrependShell {
		return append(s.shell(), strings.Join(c.CmdLine, " "))
	}
	return slices.Clone(c.CmdLine)
}

// workdir returns the working directory, absolute.
func (s *stage) workdir() string {
	if s.img.Config.WorkingDir == "" {
		return "/"
	}
	return path.Clean("/" + s.img.Config.WorkingDir)
}

// fs returns the stage's filesystem index, reading its layers' headers the
// first time.
func (s *stage) fs(ctx context.Context) (*fsTree, error) {
	if s.tree != nil {
		return s.tree, nil
	}
	t := newTree(false)
	for i, l := range s.layers {
		t.layers = append(t.layers, l)
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.diffID, err)
		}
		err = t.apply(ctx, i, rc, nil)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.diffID, err)
		}
	}
	s.tree = t
	return t, nil
}

// addLayer appends a layer the build made, with its history entry, and
// applies it to the filesystem index when there is one.
func (s *stage) addLayer(ctx context.Context, createdBy string, l *buildLayer) error {
	s.addHistory(createdBy, l)
	if l == nil || s.tree == nil {
		return nil
	}
	s.tree.layers = append(s.tree.layers, l)
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.tree.apply(ctx, len(s.tree.layers)-1, rc, nil)
}

// scratch returns an empty stage for the platform.
func (b *builder) scratch(name string) *stage {
	s := &stage{name: name, args: map[string]*string{}}
	s.img.OS = b.platform.OS
	s.img.Architecture = b.platform.Architecture
	s.img.Variant = b.platform.Variant
	created := epoch
	s.img.Created = &created
	s.img.RootFS.Type = "layers"
	s.img.RootFS.DiffIDs = []digest.Digest{}
	return s
}

// baseImage returns a stage holding the image ref (pulled first when the
// spec says so), read once per build.
func (b *builder) baseImage(ctx context.Context, ref string) (*stage, error) {
	if s, ok := b.bases[ref]; ok {
		return s, nil
	}
	var img image.Image
	var err error
	if b.spec.Pull {
		img, err = b.store.Pull(ctx, ref, b.spec.Platform, b.progress)
	} else {
		img, err = b.store.Get(ref)
		if errors.Is(err, service.ErrNotFound) {
			if p, ok := b.run.(Puller); !ok || !p.PullsMissingBases() {
				return nil, fmt.Errorf("image %q is not in the image store (pull it first, or build with pull): %w", ref, service.ErrNotFound)
			}
			// As docker build: a missing base image is pulled.
			img, err = b.store.Pull(ctx, ref, b.spec.Platform, b.progress)
			if err != nil {
				return nil, fmt.Errorf("image %q is not in the image store and could not be pulled: %w", ref, err)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	s, err := b.storedStage(ref, img)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	b.bases[ref] = s
	return s, nil
}

// storedStage makes a stage of a stored image, reading its raw config
// from the store's blobs (<root>/blobs/sha256/<hex>, see the image
// package's doc), which keeps what image.Config leaves out: history,
// Shell, OnBuild, StartInterval.
func (b *builder) storedStage(name string, img image.Image) (*stage, error) {
	hexID := strings.TrimPrefix(img.ID, "sha256:")
	raw, err := os.ReadFile(filepath.Join(b.store.Root(), "blobs", "sha256", hexID))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != hexID {
		return nil, fmt.Errorf("config does not match ID %s", img.ID)
	}
	s := &stage{name: name, args: map[string]*string{}, baseID: img.ID}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&s.img); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	if len(s.img.RootFS.DiffIDs) != len(img.Layers) {
		return nil, fmt.Errorf("config has %d layers, manifest %d", len(s.img.RootFS.DiffIDs), len(img.Layers))
	}
	if s.img.RootFS.Type == "" {
		s.img.RootFS.Type = "layers"
	}
	for _, l := range img.Layers {
		bl, err := storedLayer(l)
		if err != nil {
			return nil, err
		}
		s.layers = append(s.layers, bl)
		if strings.HasPrefix(l.MediaType, "application/vnd.oci.") {
			s.oci = true
		}
	}
	// History is kept only when it matches the layers.
	nonEmpty := 0
	for _, h := range s.img.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty != len(s.layers) {
		s.img.History = nil
	}
	return s, nil
}

// from starts stage i from base (the expanded FROM argument).
func (b *builder) from(ctx context.Context, i int, base string) (*stage, error) {
	def := b.df.stages[i]
	switch j := b.df.stageIndex(base, i, false); {
	case j >= 0:
		if b.stages[j] == nil {
			return nil, fmt.Errorf("internal error: stage %q not built", base)
		}
		return b.stages[j].clone(def.Name)
	case strings.EqualFold(base, "scratch"):
		return b.scratch(def.Name), nil
	case base == "":
		return nil, errors.New("FROM requires an image")
	}
	s, err := b.baseImage(ctx, base)
	if err != nil {
		return nil, err
	}
	if len(s.img.Config.OnBuild) > 0 {
		return nil, unsupported("image %q has ONBUILD triggers (%s), which are not supported", base, strings.Join(s.img.Config.OnBuild, "; "))
	}
	return s.clone(def.Name)
}

// buildStage builds stage i, whose expanded base is base.
func (b *builder) buildStage(ctx context.Context, i int, base string) (*stage, error) {
	def := &b.df.stages[i]
	step := b.next(def)
	s, err := b.from(ctx, i, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	s.index = i
	if s.baseID != "" {
		b.say(" ---> %s", shortID(s.baseID))
	} else if err := b.announce(s); err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	s.baseID = ""
	for _, c := range def.Commands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		step := b.next(c)
		if err := b.dispatch(ctx, s, c); err != nil {
			return nil, fmt.Errorf("%s: %w", step, err)
		}
		if err := b.announce(s); err != nil {
			return nil, fmt.Errorf("%s: %w", step, err)
		}
	}
	return s, nil
}

// announce writes the " ---> <ID>" line of a step.
func (b *builder) announce(s *stage) error {
	id, err := s.id()
	if err != nil {
		return err
	}
	b.say(" ---> %s", shortID(id))
	return nil
}

// dispatch runs one instruction of a stage.
func (b *builder) dispatch(ctx context.Context, s *stage, c instructions.Command) error {
	// Instructions that take variables are expanded with the stage's
	// arguments and Env; RUN, CMD, ENTRYPOINT, HEALTHCHECK and SHELL are
	// left to the shell.
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		env := s.env()
		if err := e.Expand(func(word string) (string, error) { return b.expand(word, env) }); err != nil {
			return err
		}
	}
	created := text(c)
	switch c := c.(type) {
	case *instructions.ArgCommand:
		return b.declare(c, s.args, s)
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			s.setEnv(kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if s.img.Config.Labels == nil {
			s.img.Config.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			s.img.Config.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		s.img.Author = c.Maintainer
	case *instructions.WorkdirCommand:
		return b.workdir(ctx, s, c.Path, created)
	case *instructions.UserCommand:
		s.img.Config.User = c.User
	case *instructions.ExposeCommand:
		env := s.env()
		for _, p := range c.Ports {
			p, err := b.expand(p, env)
			if err != nil {
				return err
			}
			ports, err := parsePorts(p)
			if err != nil {
				return err
			}
			if s.img.Config.ExposedPorts == nil {
				s.img.Config.ExposedPorts = map[string]struct{}{}
			}
			for _, port := range ports {
				s.img.Config.ExposedPorts[port] = struct{}{}
			}
		}
	case *instructions.VolumeCommand:
		if s.img.Config.Volumes == nil {
			s.img.Config.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			s.img.Config.Volumes[v] = struct{}{}
		}
	case *instructions.StopSignalCommand:
		s.img.Config.StopSignal = c.Signal
	case *instructions.CmdCommand:
		s.img.Config.Cmd = s.cmdline(c.ShellDependantCmdLine)
		s.cmdSet = true
	case *instructions.EntrypointCommand:
		s.img.Config.Entrypoint = s.cmdline(c.ShellDependantCmdLine)
		if !s.cmdSet {
			s.img.Config.Cmd = nil
		}
	case *instructions.HealthCheckCommand:
		h := *c.Health
		h.Test = slices.Clone(h.Test)
		s.img.Config.Healthcheck = &h
	case *instructions.ShellCommand:
		s.img.Config.Shell = slices.Clone(c.Shell)
	case *instructions.RunCommand:
		return b.runStep(ctx, s, c)
	case *instructions.CopyCommand:
		return b.copy(ctx, s, copySpec{
			srcs: c.SourcePaths, dest: c.DestPath, from: c.From, chown: c.Chown, chmod: c.Chmod, text: created,
		})
	case *instructions.AddCommand:
		return b.copy(ctx, s, copySpec{
			srcs: c.SourcePaths, dest: c.DestPath, chown: c.Chown, chmod: c.Chmod, add: true,
			unpack: c.Unpack == nil || *c.Unpack, text: created,
		})
	default:
		return unsupported("instruction %s is not supported", strings.ToUpper(c.Name()))
	}
	s.addHistory(created, nil)
	return nil
}

// declare applies an ARG instruction to a scope: the global one (s nil)
// or a stage's. A value given in the spec wins over the default; an
// argument with neither inherits the global scope's value in a stage.
func (b *builder) declare(c *instructions.ArgCommand, scope map[string]*string, s *stage) error {
	if s == nil {
		env := metaEnv(scope)
		if err := c.Expand(func(word string) (string, error) { return b.expand(word, env) }); err != nil {
			return err
		}
	}
	for _, kv := range c.Args {
		var v *string
		given, ok := b.spec.Args[kv.Key]
		if ok {
			b.used[kv.Key] = true
		}
		switch {
		case ok && given != nil:
			v = given
		case kv.Value != nil:
			v = kv.Value
		case s != nil:
			v = b.meta[kv.Key]
		}
		if v != nil {
			val := *v
			v = &val
		}
		if s != nil && !slices.Contains(s.argKeys, kv.Key) {
			s.argKeys = append(s.argKeys, kv.Key)
		}
		scope[kv.Key] = v
	}
	return nil
}

// workdir sets the working directory and creates it when the image lacks
// it, owned by the USER, in a layer of its own.
func (b *builder) workdir(ctx context.Context, s *stage, p, created string) error {
	if !path.IsAbs(p) {
		p = path.Join(s.workdir(), p)
	}
	p = path.Clean(p)
	s.img.Config.WorkingDir = p
	t, err := s.fs(ctx)
	if err != nil {
		return err
	}
	real, n, err := t.resolve(p, true)
	if err != nil {
		return err
	}
	if n != nil {
		if !n.isDir() {
			return fmt.Errorf("WORKDIR %s: not a directory", p)
		}
		s.addHistory(created, nil)
		return nil
	}
	// The directories belong to the USER, as BuildKit makes them.
	uid, gid := 0, 0
	if u := s.img.Config.User; u != "" {
		if uid, gid, err = b.lookupUSER(ctx, t, u); err != nil {
			return err
		}
	}
	lw, err := newLayerWriter(b.tmp)
	if err != nil {
		return err
	}
	out := newOutput(t, s.created())
	if err := out.mkdirAll(real, uid, gid); err != nil {
		lw.abort()
		return err
	}
	l, err := out.write(lw, filepath.Join(b.tmp, "layers"), s.oci)
	if err != nil {
		return err
	}
	return s.addLayer(ctx, created, l)
}

// parsePorts parses an EXPOSE argument: "80", "80/udp", "8000-8010/tcp".
func parsePorts(p string) ([]string, error) {
	port, proto, _ := strings.Cut(p, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	end := start
	if isRange {
		end, err = strconv.ParseUint(hi, 10, 16)
		if err != nil || end < start {
			return nil, fmt.Errorf("invalid range specified for container port: %s", port)
		}
	}
	var out []string
	for n := start; n <= end; n++ {
		out = append(out, fmt.Sprintf("%d/%s", n, proto))
	}
	return out, nil
}
