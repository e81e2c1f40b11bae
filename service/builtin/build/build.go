package build

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Runner runs a RUN step: the command in a container of the built-in
// runtime whose root filesystem is the image `image` (a store reference or
// ID, present in the store), with env, user, working dir and network;
// output (stdout+stderr) to out. It returns the container's exit code and
// the path of the container's overlay upper directory (holding the step's
// changes, overlay-style whiteouts), valid until cleanup is called.
//
// The upper directory must hold the step's changes only: mount points the
// runtime creates for the container (/etc/hosts, /etc/resolv.conf, /dev,
// /proc, ...) are to be left out of it, or they end up in the layer. out
// may be written to from several goroutines. The image's config is not to
// be applied: step says everything the process gets. A non-nil error means
// the step could not be run (cleanup is then nil); a command that ran and
// failed is a non-zero exit code and no error.
type Runner interface {
	RunStep(ctx context.Context, image string, step RunStep, out io.Writer) (exitCode int, upperDir string, cleanup func(), err error)
}

// Puller is implemented by a Runner whose builds pull a missing base
// image, as docker build does; without it, a missing base is an error.
type Puller interface {
	// PullsMissingBases reports that missing base images are pulled.
	PullsMissingBases() bool
}

// RunStep is what a RUN step runs, and how.
type RunStep struct {
	// Cmd is the command line: ["/bin/sh", "-c", "<command>"] for the shell
	// form (or the SHELL instruction's shell), the JSON array as written for
	// the exec form.
	Cmd []string
	// Env holds the KEY=VALUE pairs of the process: the image's Env and the
	// build arguments in scope (the Env wins), with PATH.
	Env []string
	// User is the user to run as ("" for root), as the USER instruction
	// gave it ("uid", "uid:gid", "name", "name:group").
	User string
	// WorkDir is the working directory, absolute. WORKDIR creates it, but
	// a base image's config may name one its filesystem lacks: the runner
	// creates it then, as docker does.
	WorkDir string
	// Network is the network mode: "default", "host", "none" (from
	// RUN --network or BuildSpec.Network; "" means "default").
	Network string
	// ExtraHosts are "host:ip" lines to add to /etc/hosts.
	ExtraHosts []string
	// ShmSize is the size of /dev/shm in bytes (0: the runtime's default).
	ShmSize int64
	// Memory limits the step's memory in bytes (0: no limit).
	Memory int64
}

// epoch is the time given to entries and configs that have no time of
// their own, so that builds are reproducible.
var epoch = time.Unix(0, 0).UTC()

// errNoRunner is returned for RUN steps when Build was given no Runner.
var errNoRunner = errors.New("RUN needs a runner, and the build has none")

// tempRepo is the repository of the references a build gives the images
// RUN steps run in, removed when the build ends.
const tempRepo = "localhost/berth-build"

// Build builds spec from the tar stream of the build context into store
// and returns the image ID ("sha256:..."), tagging it with spec.Tags.
//
// The context is a tar stream, optionally gzip-compressed, to which the
// caller has already applied .dockerignore; the Dockerfile is
// spec.Dockerfile inside it ("Dockerfile" when empty). Base images must be
// in store (they are pulled first when spec.Pull). RUN steps run through
// run, which may be nil for Dockerfiles without RUN.
//
// Progress goes to progress (nil: nowhere) in the classic builder's format:
// "Step 1/3 : FROM x", " ---> <short ID>", the output of RUN steps, and
// "Successfully built <short ID>", "Successfully tagged <tag>" at the end.
// A failing step gives an error that starts with the step line ("Step 2/3 :
// RUN false: The command '/bin/sh -c false' returned a non-zero code: 1"),
// ending with the last line of the step's output when it printed any.
//
// Builds are reproducible: the same context and spec give the same image
// ID, as layers and configs hold no build time (see the package doc), and
// RUN steps are served from the build cache unless spec.NoCache.
func Build(ctx context.Context, store *image.Store, run Runner, spec service.BuildSpec, buildContext io.Reader, progress io.Writer) (string, error) {
	if store == nil {
		return "", errors.New("build: no image store")
	}
	if buildContext == nil {
		return "", errors.New("build: no build context")
	}
	for _, t := range spec.Tags {
		norm, err := image.Normalize(t)
		if err != nil {
			return "", fmt.Errorf("invalid tag %q: %w", t, err)
		}
		if strings.Contains(norm, "@") {
			return "", fmt.Errorf("invalid tag %q: a tag cannot be a digest reference", t)
		}
	}
	plat, err := targetPlatform(spec.Platform)
	if err != nil {
		return "", err
	}
	b := &builder{
		store:    store,
		run:      run,
		spec:     spec,
		progress: progress,
		platform: plat,
		cache:    runCache{dir: filepath.Join(store.Root(), "buildcache")},
		bases:    map[string]*stage{},
		used:     map[string]bool{},
	}
	if err := b.cache.init(); err != nil {
		return "", fmt.Errorf("build cache: %w", err)
	}
	b.tmp, err = os.MkdirTemp(b.cache.tmpDir(), "build-")
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(b.tmp)
	if err := os.Mkdir(filepath.Join(b.tmp, "layers"), 0o755); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	b.spool, err = newSpool(b.tmp)
	if err != nil {
		return "", err
	}
	defer b.spool.close()
	var id [6]byte
	_, _ = rand.Read(id[:])
	b.buildID = hex.EncodeToString(id[:])
	defer b.removeTempRefs()
	return b.build(ctx, buildContext)
}

// targetPlatform parses spec.Platform, defaulting to linux on the host's
// architecture.
func targetPlatform(p string) (v1.Platform, error) {
	if p == "" {
		p = "linux/" + runtime.GOARCH
	}
	plat, err := v1.ParsePlatform(p)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("platform %q: %w", p, err)
	}
	return *plat, nil
}

// builder is the state of one build.
type builder struct {
	store    *image.Store
	run      Runner
	spec     service.BuildSpec
	progress io.Writer
	platform v1.Platform
	cache    runCache
	tmp      string
	spool    *spool
	buildID  string
	tempRefs []string

	df  *dockerfile
	lex *shell.Lex
	// context is the build context.
	context *fsTree
	// meta are the values of the arguments in the global scope (meta ARGs
	// and the automatic platform ones); nil for declared but unset ones.
	meta map[string]*string
	// stages are the stages built, by index (nil for those not needed).
	stages []*stage
	// bases are the images FROM and COPY --from used, by reference.
	bases map[string]*stage
	// used are the build arguments some ARG declared.
	used map[string]bool
	// step and steps count the steps for the progress lines.
	step, steps int
}

// say writes a progress line.
func (b *builder) say(format string, args ...any) {
	if b.progress != nil {
		fmt.Fprintf(b.progress, format+"\n", args...)
	}
}

// next returns the step line of the next instruction.
func (b *builder) next(c any) string {
	b.step++
	line := fmt.Sprintf("Step %d/%d : %s", b.step, b.steps, text(c))
	b.say("%s", line)
	return line
}

func (b *builder) build(ctx context.Context, buildContext io.Reader) (string, error) {
	var err error
	b.context, err = readContext(ctx, buildContext, b.spool)
	if err != nil {
		return "", err
	}
	name := b.spec.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	_, n, err := b.context.resolve(cleanName(name), true)
	if err != nil || !n.isFile() {
		return "", fmt.Errorf("cannot locate specified Dockerfile: %s", name)
	}
	data, err := readFile(n)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	b.df, err = parseDockerfile(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	for _, w := range b.df.warnings {
		b.say("%s", w)
	}
	b.lex = shell.NewLex(b.df.escape)

	target := len(b.df.stages) - 1
	if b.spec.Target != "" {
		target = b.df.stageIndex(b.spec.Target, len(b.df.stages), false)
		if target < 0 {
			return "", fmt.Errorf("failed to reach build target %s in Dockerfile", b.spec.Target)
		}
	}

	// The global scope: automatic platform arguments, then meta ARGs.
	b.meta = platformArgs(b.platform)
	for i := range b.df.metaArgs {
		if err := b.declare(&b.df.metaArgs[i], b.meta, nil); err != nil {
			return "", fmt.Errorf("%s: %w", text(&b.df.metaArgs[i]), err)
		}
	}
	bases := make([]string, len(b.df.stages))
	for i, s := range b.df.stages {
		bases[i], err = b.expand(s.BaseName, metaEnv(b.meta))
		if err != nil {
			return "", fmt.Errorf("dockerfile line %d: FROM %s: %w", line(s.Location), s.BaseName, err)
		}
	}
	need := b.df.needed(target, bases)
	b.steps = len(b.df.metaArgs)
	for _, i := range need {
		b.steps += 1 + len(b.df.stages[i].Commands)
	}
	for i := range b.df.metaArgs {
		b.next(&b.df.metaArgs[i])
	}

	b.stages = make([]*stage, len(b.df.stages))
	for _, i := range need {
		st, err := b.buildStage(ctx, i, bases[i])
		if err != nil {
			return "", err
		}
		b.stages[i] = st
	}

	final := b.stages[target]
	if len(b.spec.Labels) > 0 {
		if final.img.Config.Labels == nil {
			final.img.Config.Labels = map[string]string{}
		}
		maps.Copy(final.img.Config.Labels, b.spec.Labels)
	}
	var unused []string
	for k := range b.spec.Args {
		if !b.used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		b.say("[Warning] One or more build-args %v were not consumed", unused)
	}
	img, err := final.image()
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	stored, err := b.store.Write(ctx, img, b.spec.Tags)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	b.cache.dedupe(b.store, final.layers)
	b.say("Successfully built %s", shortID(stored.ID))
	for _, t := range b.spec.Tags {
		b.say("Successfully tagged %s", familiar(t))
	}
	return stored.ID, nil
}

// removeTempRefs removes the references the build gave the images its RUN
// steps ran in.
func (b *builder) removeTempRefs() {
	for _, r := range b.tempRefs {
		if err := b.store.Remove(r); err != nil && !errors.Is(err, service.ErrNotFound) {
			b.say("[Warning] removing the build's temporary image %s: %v", r, err)
		}
	}
}

// shortID is the 12 hex digits docker shows of an ID.
func shortID(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// familiar returns a tag as docker prints it: "app" is "app:latest",
// "docker.io/library/app:1" is "app:1".
func familiar(tag string) string {
	named, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		return tag
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// readContext reads the build context, a tar stream optionally
// gzip-compressed, spooling every file.
func readContext(ctx context.Context, r io.Reader, sp *spool) (*fsTree, error) {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading the build context: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	t := newTree(true)
	if err := t.apply(ctx, -1, in, sp); err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	return t, nil
}

// platformArgs returns the automatic platform arguments of BuildKit's
// global scope (build and target platforms are the same here).
func platformArgs(p v1.Platform) map[string]*string {
	s := func(v string) *string { return &v }
	plat := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		plat += "/" + p.Variant
	}
	return map[string]*string{
		"TARGETPLATFORM": s(plat), "TARGETOS": s(p.OS), "TARGETARCH": s(p.Architecture), "TARGETVARIANT": s(p.Variant),
		"BUILDPLATFORM": s(plat), "BUILDOS": s(p.OS), "BUILDARCH": s(p.Architecture), "BUILDVARIANT": s(p.Variant),
	}
}

// metaEnv returns the set arguments of a scope as KEY=VALUE pairs, sorted.
func metaEnv(scope map[string]*string) []string {
	var env []string
	for _, k := range slices.Sorted(maps.Keys(scope)) {
		if v := scope[k]; v != nil {
			env = append(env, k+"="+*v)
		}
	}
	return env
}

// expand expands the variables in word with env (KEY=VALUE pairs, the
// last of a key winning), as the Dockerfile frontend does.
func (b *builder) expand(word string, env []string) (string, error) {
	res, _, err := b.lex.ProcessWord(word, shell.EnvsFromSlice(env))
	if err != nil {
		return "", fmt.Errorf("expanding %q: %w", word, err)
	}
	return res, nil
}
