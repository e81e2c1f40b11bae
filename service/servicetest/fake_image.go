package servicetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
)

// remoteImage is an image the Fake's registry holds.
type remoteImage struct {
	id     string
	labels map[string]string
}

// addImageLocked points the normalized reference tag at the image id,
// making the image if it is new (with labels), and returns it. A tag that
// named another image moves, as the engine's tags do.
func (f *Fake) addImageLocked(tag, id string, labels map[string]string) *fakeImage {
	if old, ok := f.tags[tag]; ok && old != id {
		if img := f.images[old]; img != nil {
			img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == tag })
		}
	}
	img := f.images[id]
	if img == nil {
		img = &fakeImage{id: id, labels: maps.Clone(labels), created: f.now()}
		f.images[id] = img
	}
	if !slices.Contains(img.tags, tag) {
		img.tags = append(img.tags, tag)
		slices.Sort(img.tags)
	}
	f.tags[tag] = id
	return img
}

// AddRemoteImage makes the image id ("sha256:...") pullable as ref from
// the Fake's registry: PullImage(ref) then adds it locally under ref. ref
// is normalized as AddImage does.
func (f *Fake) AddRemoteImage(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remote[normalizeRef(ref)] = remoteImage{id: id}
}

// RemoteImage returns the ID of the image the Fake's registry holds under
// ref (pushed, or added with AddRemoteImage), and whether there is one.
func (f *Fake) RemoteImage(ref string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.remote[normalizeRef(ref)]
	return r.id, ok
}

// Builds returns a copy of the spec of every BuildImage call, failed ones
// too, oldest first: what a test checks to see what was asked to build.
func (f *Fake) Builds() []service.BuildSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]service.BuildSpec, len(f.builds))
	for i, s := range f.builds {
		out[i] = cloneBuildSpec(s)
	}
	return out
}

func cloneBuildSpec(s service.BuildSpec) service.BuildSpec {
	c := s
	c.Tags = slices.Clone(s.Tags)
	if s.Args != nil {
		c.Args = make(map[string]*string, len(s.Args))
		for k, v := range s.Args {
			if v != nil {
				v2 := *v
				v = &v2
			}
			c.Args[k] = v
		}
	}
	c.Labels = maps.Clone(s.Labels)
	c.ExtraHosts = slices.Clone(s.ExtraHosts)
	c.CacheFrom = slices.Clone(s.CacheFrom)
	return c
}

// BuildImage "builds" an image: it reads the whole context (a tar stream,
// gzip-compressed or not), finds spec.Dockerfile in it ("Dockerfile" when
// empty), writes a "Step i/n : <instruction>" line per instruction to
// progress, and tags the image with every tag of spec. The image's ID is a
// hash of the context's entries (names, modes and contents, not times), of
// the spec's Dockerfile, Args, Target, Labels and Platform and of the base
// images' IDs: the same context and spec give the same ID, a changed file
// another; with NoCache every build gives a new one. Its labels are those
// of its base image, of its LABEL instructions and of spec.Labels.
//
// Instructions do nothing, except FROM, which needs its image present
// (pulling it from the Fake's registry when it is there; ErrNotFound
// otherwise), "scratch" or an earlier stage; LABEL; and the line "RUN
// false", which fails the build with an error quoting the step as the
// engine does. A Target that names no stage is an error, as is a context
// that is not a tar stream or lacks the Dockerfile.
func (f *Fake) BuildImage(ctx context.Context, spec service.BuildSpec, buildContext io.Reader, progress io.Writer) (string, error) {
	what := "build image"
	object := ""
	if len(spec.Tags) > 0 {
		what = fmt.Sprintf("build image %q", spec.Tags[0])
		object = spec.Tags[0]
	}
	// Read the context before taking the lock: the reader may block.
	bc, readErr := readBuildContext(buildContext)

	f.mu.Lock()
	if err := f.enterLocked(ctx, "BuildImage", Call{Object: object}, spec.Tags...); err != nil {
		f.mu.Unlock()
		return "", err
	}
	f.builds = append(f.builds, cloneBuildSpec(spec))
	var id string
	var lines []string
	err := readErr
	if err == nil {
		id, lines, err = f.buildLocked(spec, bc)
	}
	f.mu.Unlock()

	w := progress
	if w == nil {
		w = io.Discard
	}
	for _, l := range lines {
		_, _ = fmt.Fprintln(w, l)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return id, nil
}

// buildContext is a build context as the Fake reads it.
type buildContext struct {
	files  map[string]string // regular files by cleaned name
	digest []byte            // of the entries, less their times
}

// readBuildContext reads a tar stream, gzip-compressed or not.
func readBuildContext(r io.Reader) (buildContext, error) {
	bc := buildContext{files: map[string]string{}}
	if r == nil {
		return bc, errors.New("no build context")
	}
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return bc, fmt.Errorf("reading the build context: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	h := sha256.New()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bc, fmt.Errorf("reading the build context: %w", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return bc, fmt.Errorf("reading the build context: %w", err)
		}
		name := cleanContextPath(hdr.Name)
		fmt.Fprintf(h, "%q %c %o %q %d\n", name, hdr.Typeflag, hdr.Mode, hdr.Linkname, len(data))
		h.Write(data)
		if hdr.Typeflag == tar.TypeReg {
			bc.files[name] = string(data)
		}
	}
	bc.digest = h.Sum(nil)
	return bc, nil
}

// cleanContextPath returns a path of the context without "./" or "/" in
// front: "./docker/Dockerfile" is "docker/Dockerfile".
func cleanContextPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// buildLocked runs a build of bc and returns the image's ID and the lines of
// its output.
func (f *Fake) buildLocked(spec service.BuildSpec, bc buildContext) (string, []string, error) {
	for _, t := range spec.Tags {
		if !validImageRef(t) {
			return "", nil, fmt.Errorf("invalid tag %q: invalid reference format", t)
		}
	}
	dockerfile := spec.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	text, ok := bc.files[cleanContextPath(dockerfile)]
	if !ok {
		return "", nil, fmt.Errorf("cannot locate specified Dockerfile: %s", dockerfile)
	}
	instrs := dockerfileInstructions(text)
	if len(instrs) == 0 {
		return "", nil, fmt.Errorf("dockerfile %s has no instructions", dockerfile)
	}

	type stage struct {
		name   string
		base   string // the ID of its image, if any
		labels map[string]string
	}
	var (
		lines   []string
		stages  []stage
		baseIDs []string
		reached = spec.Target == ""
	)
	for i, in := range instrs {
		step := fmt.Sprintf("Step %d/%d : %s", i+1, len(instrs), in)
		kw, args, _ := strings.Cut(in, " ")
		kw = strings.ToUpper(kw)
		if kw == "FROM" && spec.Target != "" && len(stages) > 0 && stages[len(stages)-1].name == strings.ToLower(spec.Target) {
			break // the target stage is complete
		}
		lines = append(lines, step)
		switch {
		case kw == "ARG":
		case kw == "FROM":
			image, name := parseFrom(args)
			st := stage{name: name, labels: map[string]string{}}
			switch j := slices.IndexFunc(stages, func(s stage) bool { return s.name != "" && s.name == strings.ToLower(image) }); {
			case image == "":
				return "", lines, fmt.Errorf("%s: FROM requires an image", step)
			case j >= 0:
				st.base = stages[j].base
				maps.Copy(st.labels, stages[j].labels)
			case strings.EqualFold(image, "scratch"), strings.Contains(image, "$"):
			default:
				id, ok := f.imageLocked(image)
				if !ok {
					r, inRegistry := f.remote[normalizeRef(image)]
					if !inRegistry {
						return "", lines, fmt.Errorf("%s: pull access denied for %s, repository does not exist: %w", step, image, service.ErrNotFound)
					}
					f.addImageLocked(normalizeRef(image), r.id, r.labels)
					id = r.id
				}
				st.base = id
				maps.Copy(st.labels, f.images[id].labels)
				baseIDs = append(baseIDs, id)
			}
			if name != "" && name == strings.ToLower(spec.Target) {
				reached = true
			}
			stages = append(stages, st)
		case len(stages) == 0:
			return "", lines, fmt.Errorf("%s: no FROM before %s", step, kw)
		case kw == "LABEL":
			maps.Copy(stages[len(stages)-1].labels, parseLabels(args))
		case kw == "RUN" && strings.Join(strings.Fields(args), " ") == "false":
			return "", lines, fmt.Errorf("%s: The command '/bin/sh -c false' returned a non-zero code: 1", step)
		}
	}
	if !reached {
		return "", lines, fmt.Errorf("failed to reach build target %s in Dockerfile", spec.Target)
	}
	final := stages[len(stages)-1]
	labels := final.labels
	maps.Copy(labels, spec.Labels)

	h := sha256.New()
	fmt.Fprintf(h, "servicetest.Fake build\ncontext %x\ndockerfile %q\ntarget %q\nplatform %q\n", bc.digest, cleanContextPath(dockerfile), spec.Target, spec.Platform)
	for _, k := range slices.Sorted(maps.Keys(spec.Args)) {
		v := "<nil>"
		if p := spec.Args[k]; p != nil {
			v = fmt.Sprintf("%q", *p)
		}
		fmt.Fprintf(h, "arg %q %s\n", k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(h, "label %q %q\n", k, labels[k])
	}
	for _, id := range baseIDs {
		fmt.Fprintf(h, "base %s\n", id)
	}
	if spec.NoCache {
		fmt.Fprintf(h, "nocache %s\n", f.newIDLocked())
	}
	id := "sha256:" + hex.EncodeToString(h.Sum(nil))

	img := f.images[id]
	if img == nil {
		img = &fakeImage{id: id}
		f.images[id] = img
	}
	img.labels = maps.Clone(labels)
	img.parent = final.base
	lines = append(lines, "Successfully built "+id[len("sha256:"):len("sha256:")+12])
	for _, t := range spec.Tags {
		tag := normalizeRef(t)
		f.addImageLocked(tag, id, labels)
		lines = append(lines, "Successfully tagged "+tag)
	}
	return id, lines, nil
}

// validImageRef reports whether ref looks like an image reference the
// engine accepts as a tag: not empty, no spaces, a lowercase repository.
func validImageRef(ref string) bool {
	if ref == "" || strings.ContainsAny(ref, " \t\n") || strings.Contains(ref, "@") {
		return false
	}
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	// The registry's host may have capitals and a port; the path may not.
	if i := strings.Index(repo, "/"); i >= 0 && strings.ContainsAny(repo[:i], ".:") {
		repo = repo[i+1:]
	}
	return repo != "" && repo == strings.ToLower(repo)
}

// dockerfileInstructions returns a Dockerfile's instructions, one string
// each: comments and blank lines dropped, continuation lines joined.
func dockerfileInstructions(text string) []string {
	var out []string
	var cur strings.Builder
	for l := range strings.Lines(text) {
		l = strings.TrimRight(l, "\r\n")
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\"))
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// parseFrom parses FROM's arguments: "[--platform=p] image [AS name]".
func parseFrom(args string) (image, name string) {
	var rest []string
	for _, f := range strings.Fields(args) {
		if !strings.HasPrefix(f, "--") {
			rest = append(rest, f)
		}
	}
	if len(rest) == 0 {
		return "", ""
	}
	if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
		name = strings.ToLower(rest[2])
	}
	return rest[0], name
}

// parseLabels parses LABEL's arguments: key=value pairs, values quoted or
// not, or the old form "key value".
func parseLabels(args string) map[string]string {
	words := shellWords(args)
	labels := map[string]string{}
	if len(words) > 0 && !strings.Contains(words[0], "=") {
		k, v, _ := strings.Cut(strings.TrimSpace(args), " ")
		labels[unquote(k)] = unquote(strings.TrimSpace(v))
		return labels
	}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		labels[unquote(k)] = unquote(v)
	}
	return labels
}

// shellWords splits s at spaces outside quotes, keeping the quotes.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		}
		cur.WriteRune(r)
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// unquote removes the quotes and backslash escapes of a shell word.
func unquote(s string) string {
	var b strings.Builder
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			b.WriteRune(r)
		case r == '\\' && quote != '\'':
			escaped = true
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// PullImage adds the image the Fake's registry holds under ref (see
// AddRemoteImage and PushImage) to the local images under ref, writing a
// few lines of progress as the engine does. The platform is recorded, not
// used. ErrNotFound when the registry has no such image.
func (f *Fake) PullImage(ctx context.Context, ref, platform string, progress io.Writer) error {
	f.mu.Lock()
	if err := f.enterLocked(ctx, "PullImage", Call{Object: ref, Detail: platform}); err != nil {
		f.mu.Unlock()
		return err
	}
	tag := normalizeRef(ref)
	r, ok := f.remote[tag]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("pull image %q: manifest unknown: %w", ref, service.ErrNotFound)
	}
	status := "Downloaded newer image for"
	if f.tags[tag] == r.id {
		status = "Image is up to date for"
	}
	f.addImageLocked(tag, r.id, r.labels)
	f.mu.Unlock()

	repo, version := splitRef(tag)
	writeLines(progress,
		version+": Pulling from "+repo,
		"Digest: "+digestOf(r.id),
		"Status: "+status+" "+tag)
	return nil
}

// PushImage copies the local image ref to the Fake's registry, where
// PullImage and RemoteImage find it, writing a few lines of progress as
// the engine does. ErrNotFound when there is no local image of that
// reference.
func (f *Fake) PushImage(ctx context.Context, ref string, progress io.Writer) error {
	f.mu.Lock()
	if err := f.enterLocked(ctx, "PushImage", Call{Object: ref}); err != nil {
		f.mu.Unlock()
		return err
	}
	tag := normalizeRef(ref)
	id, ok := f.tags[tag]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("push image %q: an image does not exist locally with the tag: %w", ref, service.ErrNotFound)
	}
	f.remote[tag] = remoteImage{id: id, labels: maps.Clone(f.images[id].labels)}
	f.mu.Unlock()

	repo, version := splitRef(tag)
	writeLines(progress,
		"The push refers to repository ["+repo+"]",
		version+": digest: "+digestOf(id)+" size: 0")
	return nil
}

// RemoveImage removes a reference (a tag) or an image (by ID), as the
// engine does. A reference goes, and with it the image when that was its
// last one, unless a running container uses the image or an image built on
// it exists (it stays, untagged); removing the last reference of an image a
// container uses, whatever its state, needs force (ErrConflict otherwise).
// Removing by ID removes every reference and the image; it needs force
// when the image has several references or a stopped container uses it,
// and fails with ErrConflict, even with force, while a running container
// uses it or an image is built on it. ErrNotFound if there is no such
// reference or image.
func (f *Fake) RemoveImage(ctx context.Context, ref string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "RemoveImage", Call{Object: ref}); err != nil {
		return err
	}
	id, ok := f.imageLocked(ref)
	if !ok {
		return notFound("image", ref)
	}
	img := f.images[id]
	var used, running, children bool
	for _, c := range f.containers {
		if c.imageID == id {
			used = true
			running = running || c.running()
		}
	}
	for _, other := range f.images {
		children = children || other.parent == id
	}
	if ref != id && "sha256:"+ref != id {
		// A reference.
		tag := normalizeRef(ref)
		if !force && used && len(img.tags) == 1 {
			return conflict("image", ref, "a container is using it (must force)")
		}
		delete(f.tags, tag)
		img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == tag })
		if len(img.tags) == 0 && !running && !children {
			delete(f.images, id)
		}
		return nil
	}
	switch {
	case running:
		return conflict("image", ref, "a running container is using it (cannot be forced)")
	case children:
		return conflict("image", ref, "images are built on it (cannot be forced)")
	case !force && used:
		return conflict("image", ref, "a stopped container is using it (must force)")
	case !force && len(img.tags) > 1:
		return conflict("image", ref, "it is referenced in several repositories (must force)")
	}
	for _, t := range img.tags {
		delete(f.tags, t)
	}
	delete(f.images, id)
	return nil
}

// splitRef splits a normalized reference into its repository and its tag
// (or digest).
func splitRef(ref string) (repo, version string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// digestOf returns a manifest digest for an image ID, made up but the same
// for the same ID.
func digestOf(id string) string {
	sum := sha256.Sum256([]byte("servicetest.Fake manifest " + id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func writeLines(w io.Writer, lines ...string) {
	if w == nil {
		return
	}
	for _, l := range lines {
		_, _ = fmt.Fprintln(w, l)
	}
}
