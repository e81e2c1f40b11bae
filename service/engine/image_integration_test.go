package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// buildContext returns a tar stream of files (name → content).
func buildContext(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// removeImageLater removes an image by reference at the end of the test.
func removeImageLater(t *testing.T, b *Backend, ref string) {
	t.Helper()
	cleanup(t, "image "+ref, func(ctx context.Context) error { return b.RemoveImage(ctx, ref, true) })
}

// runOutput runs cmd in a container of image and returns what it printed.
func runOutput(t *testing.T, b *Backend, prefix, name, image string, cmd ...string) string {
	t.Helper()
	ctx := t.Context()
	id, _ := createContainer(t, b, prefix, name, service.ContainerSpec{Image: image, Command: cmd})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code, err := b.WaitContainer(ctx, id); err != nil || code != 0 {
		t.Fatalf("%q: exit %d, %v", cmd, code, err)
	}
	var out bytes.Buffer
	if err := b.Logs(ctx, id, service.LogOptions{Stdout: true, Stderr: true}, &out, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestIntegrationBuildImage(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	tag := prefix + "-img:1"
	removeImageLater(t, b, tag)

	files := map[string]string{
		"Dockerfile": "FROM " + testImage + "\nARG GREETING=hello\nRUN echo \"$GREETING\" > /greeting\nCOPY data.txt /data.txt\nLABEL x=y\n",
		"data.txt":   "data\n",
	}
	greeting := "bonjour"
	spec := service.BuildSpec{
		Tags:       []string{tag},
		Dockerfile: "Dockerfile",
		Args:       map[string]*string{"GREETING": &greeting},
		Labels:     map[string]string{testLabel: prefix},
	}
	var progress bytes.Buffer
	id, err := b.BuildImage(ctx, spec, buildContext(t, files), &progress)
	if err != nil {
		t.Fatalf("BuildImage: %v\n%s", err, progress.String())
	}
	t.Logf("build output:\n%s", progress.String())
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("ID = %q, want sha256:...", id)
	}
	if !strings.Contains(progress.String(), " : RUN echo \"$GREETING\" > /greeting\n") {
		t.Errorf("progress lacks the RUN step:\n%s", progress.String())
	}
	img, err := b.InspectImage(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id || img.Labels["x"] != "y" || img.Labels[testLabel] != prefix {
		t.Errorf("InspectImage(%q) = %+v, want ID %s and labels x=y, %s=%s", tag, img, id, testLabel, prefix)
	}
	if out := runOutput(t, b, prefix, "greeting", tag, "cat", "/greeting", "/data.txt"); out != "bonjour\ndata\n" {
		t.Errorf("the image's files: %q, want %q", out, "bonjour\ndata\n")
	}

	// The cache gives the same image for the same context; a changed file
	// gives another.
	again, err := b.BuildImage(ctx, spec, buildContext(t, files), nil)
	if err != nil || again != id {
		t.Errorf("second build = %q, %v; want %q", again, err, id)
	}
	changed := prefix + "-img:2"
	removeImageLater(t, b, changed)
	files["data.txt"] = "changed\n"
	spec.Tags = []string{changed}
	other, err := b.BuildImage(ctx, spec, buildContext(t, files), nil)
	if err != nil || other == id {
		t.Errorf("build with a changed file = %q, %v; want an ID other than %q", other, err, id)
	}

	// The container made from the first image holds it: removing its only
	// tag needs force.
	if err := b.RemoveImage(ctx, tag, false); !errors.Is(err, service.ErrConflict) {
		t.Errorf("RemoveImage of an image in use: %v, want ErrConflict", err)
	}
	if err := b.RemoveImage(ctx, changed, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.InspectImage(ctx, changed); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("InspectImage after RemoveImage: %v, want ErrNotFound", err)
	}
	if err := b.RemoveImage(ctx, changed, false); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("RemoveImage again: %v, want ErrNotFound", err)
	}
}

func TestIntegrationBuildImageSubdir(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	tag := prefix + "-sub"
	removeImageLater(t, b, tag)
	files := map[string]string{
		"docker/Dockerfile.web": "FROM " + testImage + "\nCOPY docker/file.txt /file.txt\n",
		"docker/file.txt":       "in a subdirectory\n",
		"Dockerfile":            "FROM scratch\n",
	}
	id, err := b.BuildImage(ctx, service.BuildSpec{Tags: []string{tag}, Dockerfile: "docker/Dockerfile.web"}, buildContext(t, files), nil)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := b.InspectImage(ctx, tag+":latest"); err != nil || img.ID != id {
		t.Errorf("InspectImage = %+v, %v; want ID %s", img, err, id)
	}
	if out := runOutput(t, b, prefix, "sub", tag, "cat", "/file.txt"); out != "in a subdirectory\n" {
		t.Errorf("the image's file: %q", out)
	}

	_, err = b.BuildImage(ctx, service.BuildSpec{Tags: []string{tag + "-absent"}, Dockerfile: "nope/Dockerfile"}, buildContext(t, files), nil)
	if err == nil {
		t.Error("building with a missing Dockerfile: no error")
	}
}

func TestIntegrationBuildImageFailure(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	tests := []struct{ name, dockerfile, want string }{
		{
			name:       "false",
			dockerfile: "FROM " + testImage + "\nRUN false\n",
			want:       "Step 2/2 : RUN false: The command '/bin/sh -c false' returned a non-zero code: 1",
		},
		{
			name: "output",
			// one stream: the order of stdout and stderr lines is not kept by the builder
			dockerfile: "FROM " + testImage + "\nRUN echo working; echo oops; exit 3\n",
			want:       "Step 2/2 : RUN echo working; echo oops; exit 3: The command '/bin/sh -c echo working; echo oops; exit 3' returned a non-zero code: 3 (last output line: \"oops\")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tag := prefix + "-fail-" + tt.name
			removeImageLater(t, b, tag)
			var progress bytes.Buffer
			_, err := b.BuildImage(ctx, service.BuildSpec{Tags: []string{tag}}, buildContext(t, map[string]string{"Dockerfile": tt.dockerfile}), &progress)
			if err == nil {
				t.Fatal("no error")
			}
			if want := fmt.Sprintf("build image %q: %s", tag, tt.want); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("err = %q\nwant  %q...", err, want)
			}
			if _, err := b.InspectImage(ctx, tag); !errors.Is(err, service.ErrNotFound) {
				t.Errorf("a failed build tagged %s: %v", tag, err)
			}
		})
	}
}

func TestIntegrationPushPull(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	reg := servicetest.StartRegistry(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // anonymous

	// A tiny image of our own, tagged for the registry.
	tag := prefix + "-push"
	removeImageLater(t, b, tag)
	id, err := b.BuildImage(ctx, service.BuildSpec{Tags: []string{tag}, Labels: map[string]string{testLabel: prefix}},
		buildContext(t, map[string]string{"Dockerfile": "FROM " + testImage + "\nLABEL pushed=yes\n"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg + "/" + prefix + ":1"
	removeImageLater(t, b, ref)
	c, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ImageTag(ctx, client.ImageTagOptions{Source: tag, Target: ref}); err != nil {
		t.Fatal(err)
	}

	var progress bytes.Buffer
	if err := b.PushImage(ctx, ref, &progress); err != nil {
		t.Fatalf("PushImage: %v\n%s", err, progress.String())
	}
	t.Logf("push output:\n%s", progress.String())
	if !strings.Contains(progress.String(), "digest: sha256:") {
		t.Errorf("push output lacks the digest:\n%s", progress.String())
	}

	// Removing the reference only untags: the image keeps its other tag.
	if err := b.RemoveImage(ctx, ref, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.InspectImage(ctx, ref); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("InspectImage after RemoveImage: %v, want ErrNotFound", err)
	}
	if img, err := b.InspectImage(ctx, tag); err != nil || img.ID != id {
		t.Errorf("the image's other tag: %+v, %v", img, err)
	}

	progress.Reset()
	if err := b.PullImage(ctx, ref, "", &progress); err != nil {
		t.Fatalf("PullImage: %v\n%s", err, progress.String())
	}
	t.Logf("pull output:\n%s", progress.String())
	if !strings.Contains(progress.String(), "Status: Downloaded newer image for "+ref) {
		t.Errorf("pull output:\n%s", progress.String())
	}
	img, err := b.InspectImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id || img.Labels["pushed"] != "yes" || len(img.RepoDigests) == 0 {
		t.Errorf("pulled image %+v, want ID %s with the label and a digest", img, id)
	}

	// No tag means :latest, which the registry does not have.
	missing := []string{reg + "/nope:1", reg + "/" + prefix}
	for _, m := range missing {
		if err := b.PullImage(ctx, m, "", io.Discard); !errors.Is(err, service.ErrNotFound) {
			t.Errorf("PullImage(%q): %v, want ErrNotFound", m, err)
		}
	}
	absent := reg + "/" + prefix + "-absent:1"
	if err := b.PushImage(ctx, absent, io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("PushImage(%q): %v, want ErrNotFound", absent, err)
	}

	// A base image the registry does not have.
	_, err = b.BuildImage(ctx, service.BuildSpec{Tags: []string{tag + "-nobase"}},
		buildContext(t, map[string]string{"Dockerfile": "FROM " + reg + "/nope:1\n"}), io.Discard)
	if want := fmt.Sprintf("build image %q: Step 1/1 : FROM %s/nope:1: ", tag+"-nobase", reg); !errors.Is(err, service.ErrNotFound) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("building FROM a missing image: %v, want ErrNotFound and %q...", err, want)
	}
}
