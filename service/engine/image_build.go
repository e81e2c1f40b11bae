package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
)

// BuildImage builds an image from the tar stream of a build context with
// the engine's classic builder (API version 1 of the builder: BuildKit
// needs a session the backend does not provide). Intermediate containers
// are removed, after failed steps too. Base images are pulled with the
// credentials of every registry config.json names. The builder's output is
// written to progress line by line, as the docker CLI prints it without
// BuildKit ("Step 2/3 : RUN make", its output, " ---> 0123456789ab"), less
// the colour sequences.
//
// A failing step gives an error that quotes the step, the builder's message
// and the last line the step printed, if any: `build image "p-web": Step
// 3/4 : RUN make: The command '/bin/sh -c make' returned a non-zero code: 2
// (last output line: "make: *** No targets specified and no makefile
// found.  Stop.")`. A FROM step whose image does not exist gives an error
// wrapping service.ErrNotFound.
func (b *Backend) BuildImage(ctx context.Context, spec service.BuildSpec, buildContext io.Reader, progress io.Writer) (string, error) {
	what := "build image"
	if len(spec.Tags) > 0 {
		what = fmt.Sprintf("build image %q", spec.Tags[0])
	}
	opts, err := buildOptions(spec)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	cfg, err := loadDockerConfig()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	opts.AuthConfigs = cfg.allCredentials(ctx)

	res, err := b.c.ImageBuild(ctx, buildContext, opts)
	if err != nil {
		return "", wrapf(err, "%s", what)
	}
	out := &buildOutput{w: discard(progress)}
	err = readMessages(ctx, res.Body, out.handle)
	out.flush()
	var failed *buildError
	switch {
	case errors.As(err, &failed):
		return "", out.failure(what, failed.msg)
	case err != nil:
		return "", fmt.Errorf("%s: %w", what, err)
	}

	if out.id != "" {
		return out.id, nil
	}
	// Engines that send no aux message with the ID still print it (short)
	// and tag the image.
	ref := out.built
	if len(spec.Tags) > 0 {
		ref = spec.Tags[0]
	}
	if ref == "" {
		return "", fmt.Errorf("%s: the engine reported no image ID", what)
	}
	img, err := b.InspectImage(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%s: finding the image built: %w", what, err)
	}
	return img.ID, nil
}

// buildOptions maps a build spec to the classic builder's options.
func buildOptions(spec service.BuildSpec) (client.ImageBuildOptions, error) {
	opts := client.ImageBuildOptions{
		Version:     build.BuilderV1,
		Tags:        spec.Tags,
		Dockerfile:  spec.Dockerfile,
		BuildArgs:   spec.Args,
		Target:      spec.Target,
		Labels:      spec.Labels,
		NoCache:     spec.NoCache,
		PullParent:  spec.Pull,
		NetworkMode: spec.Network,
		ShmSize:     spec.ShmSize,
		Memory:      spec.Memory,
		ExtraHosts:  spec.ExtraHosts,
		CacheFrom:   spec.CacheFrom,
		Remove:      true,
		ForceRemove: true,
	}
	if spec.Platform != "" {
		p, err := parsePlatform(spec.Platform)
		if err != nil {
			return opts, err
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	return opts, nil
}

// buildError is an error message of the build's stream.
type buildError struct{ msg string }

func (e *buildError) Error() string { return e.msg }

// buildOutput follows a classic build's stream: it writes its text to w
// line by line and keeps what an error message or the ID needs.
type buildOutput struct {
	w       io.Writer
	partial string // text after the last newline
	step    string // the last "Step N/M : ..." line
	last    string // the last line the step printed
	id      string // from the aux message
	built   string // from "Successfully built <id>"
}

func (o *buildOutput) handle(m jsonMessage) error {
	if msg := m.errorMessage(); msg != "" {
		return &buildError{msg: msg}
	}
	if len(m.Aux) > 0 {
		var aux struct{ ID string }
		if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
			o.id = aux.ID
		}
	}
	switch {
	case m.Stream != "":
		o.write(m.Stream)
	case m.Status != "":
		// Pulling a base image.
		o.line(m.progressLine())
	}
	return nil
}

// write adds stream text, which may hold several lines or part of one.
func (o *buildOutput) write(s string) {
	s = o.partial + s
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		o.line(s[:i])
		s = s[i+1:]
	}
	o.partial = s
}

// flush writes the text left after the last newline.
func (o *buildOutput) flush() {
	if o.partial != "" {
		o.line(o.partial)
		o.partial = ""
	}
}

func (o *buildOutput) line(l string) {
	l = stripSGR(l)
	_, _ = fmt.Fprintln(o.w, l)
	l = strings.TrimRight(l, "\r\t ")
	switch {
	case strings.HasPrefix(l, "Step ") && strings.Contains(l, " : "):
		o.step, o.last = l, ""
	case strings.HasPrefix(l, "Successfully built "):
		o.built = strings.TrimPrefix(l, "Successfully built ")
	case l == "", strings.HasPrefix(l, " ---> "), strings.HasPrefix(l, "Removing intermediate container"),
		strings.HasPrefix(l, "Successfully tagged "):
		// The builder's own chatter.
	default:
		o.last = strings.TrimSpace(l)
	}
}

// failure returns the error of a build that failed with msg.
func (o *buildOutput) failure(what, msg string) error {
	var b strings.Builder
	b.WriteString(what)
	if o.step != "" {
		b.WriteString(": ")
		b.WriteString(o.step)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimSpace(msg))
	if o.last != "" && o.last != strings.TrimSpace(msg) {
		fmt.Fprintf(&b, " (last output line: %q)", o.last)
	}
	if isFromStep(o.step) && missingImage(msg) {
		return fmt.Errorf("%s: %w", b.String(), service.ErrNotFound)
	}
	return errors.New(b.String())
}

// isFromStep reports whether a "Step N/M : ..." line is a FROM
// instruction.
func isFromStep(step string) bool {
	_, instr, _ := strings.Cut(step, " : ")
	kw, _, _ := strings.Cut(strings.TrimSpace(instr), " ")
	return strings.EqualFold(kw, "FROM")
}

// stripSGR removes the terminal's colour sequences (ESC [ ... m) from a
// line: the classic builder resets colours at the start of the lines it
// prints after a step's output.
func stripSGR(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			break
		}
		j := i + 2
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
			j++
		}
		if j == len(s) || s[j] != 'm' {
			// Not a colour sequence: keep it.
			b.WriteString(s[:j])
			s = s[j:]
			continue
		}
		b.WriteString(s[:i])
		s = s[j+1:]
	}
	b.WriteString(s)
	return b.String()
}
