package servicetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

// contextOf returns a tar stream of files (name → content), with the given
// modification time.
func contextOf(t *testing.T, mtime time.Time, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name])), ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, files[name])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustBuild(t *testing.T, f *Fake, spec service.BuildSpec, files map[string]string) string {
	t.Helper()
	id, err := f.BuildImage(t.Context(), spec, bytes.NewReader(contextOf(t, time.Unix(0, 0), files)), nil)
	if err != nil {
		t.Fatalf("BuildImage(%q): %v", spec.Tags, err)
	}
	return id
}

func TestFakeBuildImage(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	f.AddImage("base-with-labels", "sha256:base")
	f.images["sha256:base"].labels = map[string]string{"from.base": "1", "x": "base"}

	files := map[string]string{
		"Dockerfile": "# syntax comment\nFROM busybox\nARG V=1\n\nLABEL x=y \"quoted key\"=\"a b\" \\\n  z='c\\d'\nRUN make \\\n  all\n",
		"src/main.c": "int main;\n",
	}
	v := "2"
	spec := service.BuildSpec{Tags: []string{"p-web", "reg:5000/p/web:2"}, Args: map[string]*string{"V": &v}, Labels: map[string]string{"from.spec": "yes"}}
	var progress bytes.Buffer
	id, err := f.BuildImage(ctx, spec, bytes.NewReader(contextOf(t, time.Unix(0, 0), files)), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "sha256:") || len(id) != len("sha256:")+64 {
		t.Errorf("ID = %q", id)
	}
	want := `Step 1/4 : FROM busybox
Step 2/4 : ARG V=1
Step 3/4 : LABEL x=y "quoted key"="a b" z='c\d'
Step 4/4 : RUN make all
Successfully built ` + id[7:19] + `
Successfully tagged p-web:latest
Successfully tagged reg:5000/p/web:2
`
	if progress.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", progress.String(), want)
	}
	for _, ref := range []string{"p-web", "docker.io/library/p-web:latest", "reg:5000/p/web:2", id} {
		img, err := f.InspectImage(ctx, ref)
		if err != nil || img.ID != id {
			t.Errorf("InspectImage(%q) = %+v, %v", ref, img, err)
			continue
		}
		wantLabels := map[string]string{"x": "y", "quoted key": "a b", "z": `c\d`, "from.spec": "yes"}
		if !maps.Equal(img.Labels, wantLabels) || !slices.Equal(img.RepoTags, []string{"p-web:latest", "reg:5000/p/web:2"}) {
			t.Errorf("InspectImage(%q) = %+v, want labels %v", ref, img, wantLabels)
		}
	}
	if got := f.Builds(); len(got) != 1 || !slices.Equal(got[0].Tags, spec.Tags) || *got[0].Args["V"] != "2" {
		t.Errorf("Builds() = %+v", got)
	}
	v = "changed by the caller"
	if got := f.Builds(); *got[0].Args["V"] != "2" {
		t.Error("Builds() shares the caller's Args")
	}
	v = "2"

	// The same context and spec give the same ID, in any Fake, whatever the
	// files' times.
	other := newTestFake(t)
	same, err := other.BuildImage(ctx, service.BuildSpec{Tags: []string{"elsewhere"}, Args: spec.Args, Labels: spec.Labels},
		bytes.NewReader(contextOf(t, time.Now(), files)), nil)
	if err != nil || same != id {
		t.Errorf("the same build in another Fake = %q, %v; want %q", same, err, id)
	}
	// A changed file, argument, label or base gives another.
	changed := maps.Clone(files)
	changed["src/main.c"] = "int main() {}\n"
	for name, build := range map[string]func() string{
		"file": func() string {
			return mustBuild(t, f, service.BuildSpec{Args: spec.Args, Labels: spec.Labels}, changed)
		},
		"arg":   func() string { return mustBuild(t, f, service.BuildSpec{Labels: spec.Labels}, files) },
		"label": func() string { return mustBuild(t, f, service.BuildSpec{Args: spec.Args}, files) },
		"nocache": func() string {
			return mustBuild(t, f, service.BuildSpec{Args: spec.Args, Labels: spec.Labels, NoCache: true}, files)
		},
		"base": func() string {
			g := NewFake()
			g.AddImage("busybox", "sha256:other")
			return mustBuild(t, g, service.BuildSpec{Args: spec.Args, Labels: spec.Labels}, files)
		},
	} {
		if got := build(); got == id {
			t.Errorf("a changed %s gives the same ID", name)
		}
	}
	// An untagged image is there by ID.
	untagged := mustBuild(t, f, service.BuildSpec{}, changed)
	if img, err := f.InspectImage(ctx, untagged); err != nil || len(img.RepoTags) != 0 {
		t.Errorf("InspectImage of an untagged build = %+v, %v", img, err)
	}

	// Labels come from the base image, then LABEL, then the spec.
	id = mustBuild(t, f, service.BuildSpec{Tags: []string{"p-labels"}, Labels: map[string]string{"z": "spec"}},
		map[string]string{"Dockerfile": "FROM base-with-labels\nLABEL x=mine z=df\nLABEL old form value\n"})
	img, _ := f.InspectImage(ctx, id)
	if want := map[string]string{"from.base": "1", "x": "mine", "z": "spec", "old": "form value"}; !maps.Equal(img.Labels, want) {
		t.Errorf("labels = %v, want %v", img.Labels, want)
	}
}

func TestFakeBuildImageContexts(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	files := map[string]string{"./docker/Dockerfile.web": "FROM busybox\n", "Dockerfile": "FROM scratch\n"}
	plain := contextOf(t, time.Unix(0, 0), files)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	var ids []string
	for _, r := range []io.Reader{bytes.NewReader(plain), &gz} {
		id, err := f.BuildImage(ctx, service.BuildSpec{Dockerfile: "docker/Dockerfile.web"}, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] {
		t.Errorf("a gzip-compressed context gives %s, the plain one %s", ids[1], ids[0])
	}

	multi := map[string]string{"Dockerfile": "FROM busybox AS build\nLABEL stage=build\nRUN false\nFROM build AS test\nLABEL stage=test\nFROM scratch\n"}
	id, err := f.BuildImage(ctx, service.BuildSpec{Tags: []string{"p-build"}, Target: "build"}, bytes.NewReader(contextOf(t, time.Unix(0, 0), multi)), nil)
	if err == nil {
		t.Errorf("target build with RUN false = %s, want an error", id)
	}
	multi["Dockerfile"] = strings.Replace(multi["Dockerfile"], "RUN false", "RUN true", 1)
	var progress bytes.Buffer
	id, err = f.BuildImage(ctx, service.BuildSpec{Tags: []string{"p-test"}, Target: "TEST"}, bytes.NewReader(contextOf(t, time.Unix(0, 0), multi)), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := f.InspectImage(ctx, id); img.Labels["stage"] != "test" {
		t.Errorf("target test: labels %v", img.Labels)
	}
	if strings.Contains(progress.String(), "FROM scratch") {
		t.Errorf("the steps after the target ran:\n%s", progress.String())
	}
}

func TestFakeBuildImageErrors(t *testing.T) {
	f := newTestFake(t)
	f.AddRemoteImage("reg:5000/base:1", "sha256:remote")
	tests := []struct {
		name     string
		spec     service.BuildSpec
		context  []byte
		want     string
		notFound bool
	}{
		{
			name:    "RUN false",
			context: contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "FROM busybox\nARG X\n  RUN   false  \nRUN never\n"}),
			want:    `build image "p-web": Step 3/4 : RUN   false: The command '/bin/sh -c false' returned a non-zero code: 1`,
		},
		{
			name:    "not a tar stream",
			context: []byte("FROM busybox\n" + strings.Repeat("x", 1024)),
			want:    `build image "p-web": reading the build context: `,
		},
		{
			name:    "no Dockerfile",
			spec:    service.BuildSpec{Dockerfile: "sub/Dockerfile"},
			context: contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "FROM busybox\n"}),
			want:    `build image "p-web": cannot locate specified Dockerfile: sub/Dockerfile`,
		},
		{
			name:    "empty Dockerfile",
			context: contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "# nothing\n"}),
			want:    `build image "p-web": dockerfile Dockerfile has no instructions`,
		},
		{
			name:     "missing base",
			context:  contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "FROM nope:1\n"}),
			want:     `build image "p-web": Step 1/1 : FROM nope:1: pull access denied for nope:1, repository does not exist: not found`,
			notFound: true,
		},
		{
			name:    "no FROM",
			context: contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "RUN true\n"}),
			want:    `build image "p-web": Step 1/1 : RUN true: no FROM before RUN`,
		},
		{
			name:    "missing target",
			spec:    service.BuildSpec{Target: "dev"},
			context: contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "FROM busybox AS build\n"}),
			want:    `build image "p-web": failed to reach build target dev in Dockerfile`,
		},
		{
			name:    "bad tag",
			spec:    service.BuildSpec{Tags: []string{"p-web", "Upper/Case"}},
			context: contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "FROM busybox\n"}),
			want:    `build image "p-web": invalid tag "Upper/Case": invalid reference format`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			if spec.Tags == nil {
				spec.Tags = []string{"p-web"}
			}
			_, err := f.BuildImage(t.Context(), spec, bytes.NewReader(tt.context), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
			if errors.Is(err, service.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v", !tt.notFound)
			}
			if _, err := f.InspectImage(t.Context(), "p-web"); !errors.Is(err, service.ErrNotFound) {
				t.Errorf("a failed build tagged its image: %v", err)
			}
		})
	}

	// A base image in the registry is pulled.
	if _, err := f.BuildImage(t.Context(), service.BuildSpec{}, bytes.NewReader(contextOf(t, time.Unix(0, 0), map[string]string{"Dockerfile": "FROM reg:5000/base:1\n"})), nil); err != nil {
		t.Fatal(err)
	}
	if img, err := f.InspectImage(t.Context(), "reg:5000/base:1"); err != nil || img.ID != "sha256:remote" {
		t.Errorf("the base image was not pulled: %+v, %v", img, err)
	}
	if n := len(f.Builds()); n != len(tests)+1 {
		t.Errorf("%d builds recorded, want %d (failed ones too)", n, len(tests)+1)
	}
}

func TestFakePullPush(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	if err := f.PullImage(ctx, "reg:5000/app:1", "", io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("PullImage of a missing image: %v, want ErrNotFound", err)
	}
	f.AddRemoteImage("docker.io/library/nginx", "sha256:nginx")
	var progress bytes.Buffer
	if err := f.PullImage(ctx, "nginx:latest", "linux/amd64", &progress); err != nil {
		t.Fatal(err)
	}
	if img, err := f.InspectImage(ctx, "nginx"); err != nil || img.ID != "sha256:nginx" {
		t.Errorf("InspectImage after PullImage = %+v, %v", img, err)
	}
	if !strings.HasPrefix(progress.String(), "latest: Pulling from nginx\n") || !strings.Contains(progress.String(), "Status: Downloaded newer image for nginx:latest\n") {
		t.Errorf("progress:\n%s", progress.String())
	}
	progress.Reset()
	if err := f.PullImage(ctx, "nginx", "", &progress); err != nil || !strings.Contains(progress.String(), "Image is up to date for nginx:latest") {
		t.Errorf("pulling again: %v\n%s", err, progress.String())
	}

	if err := f.PushImage(ctx, "reg:5000/app:1", io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("PushImage of a missing image: %v, want ErrNotFound", err)
	}
	id := mustBuild(t, f, service.BuildSpec{Tags: []string{"reg:5000/app:1"}}, map[string]string{"Dockerfile": "FROM busybox\nLABEL a=b\n"})
	if err := f.PushImage(ctx, "reg:5000/app:1", nil); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.RemoteImage("reg:5000/app:1"); !ok || got != id {
		t.Errorf("RemoteImage = %q, %v; want %q", got, ok, id)
	}
	if err := f.RemoveImage(ctx, "reg:5000/app:1", false); err != nil {
		t.Fatal(err)
	}
	if err := f.PullImage(ctx, "reg:5000/app:1", "", nil); err != nil {
		t.Fatal(err)
	}
	if img, err := f.InspectImage(ctx, "reg:5000/app:1"); err != nil || img.ID != id || img.Labels["a"] != "b" {
		t.Errorf("the image pulled back = %+v, %v", img, err)
	}

	want := []Call{
		{Op: "PullImage", Object: "reg:5000/app:1"},
		{Op: "PullImage", Object: "nginx:latest", Detail: "linux/amd64"},
		{Op: "PullImage", Object: "nginx"},
		{Op: "PushImage", Object: "reg:5000/app:1"},
		{Op: "BuildImage", Object: "reg:5000/app:1"},
		{Op: "PushImage", Object: "reg:5000/app:1"},
		{Op: "RemoveImage", Object: "reg:5000/app:1"},
		{Op: "PullImage", Object: "reg:5000/app:1"},
	}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls():\n%s\nwant:\n%s", callLines(got), callLines(want))
	}

	boom := errors.New("boom")
	f.FailOnce("PushImage", "app", boom)
	if err := f.PushImage(ctx, "reg:5000/app:1", nil); !errors.Is(err, boom) {
		t.Errorf("PushImage with a fault = %v", err)
	}
	f.FailOnce("BuildImage", "p-web", boom)
	if _, err := f.BuildImage(ctx, service.BuildSpec{Tags: []string{"x", "p-web"}}, strings.NewReader(""), nil); !errors.Is(err, boom) {
		t.Errorf("BuildImage with a fault on its second tag = %v", err)
	}
}

func TestFakeRemoveImage(t *testing.T) {
	dockerfile := map[string]string{"Dockerfile": "FROM busybox\n"}
	type setup struct {
		tags      []string // of the built image
		container string   // "", "created" or "running": a container of the image
		child     bool     // an image is built on it
	}
	tests := []struct {
		name      string
		setup     setup
		ref       string // "ID": the image's ID
		force     bool
		want      error
		tagsLeft  []string // of the image, if it stays
		imageGone bool
	}{
		{name: "last tag", setup: setup{tags: []string{"a"}}, ref: "a", imageGone: true},
		{name: "one of two tags", setup: setup{tags: []string{"a", "b"}}, ref: "a", tagsLeft: []string{"b:latest"}},
		{name: "tag in use", setup: setup{tags: []string{"a"}, container: "created"}, ref: "a", want: service.ErrConflict, tagsLeft: []string{"a:latest"}},
		{name: "tag in use, other tags", setup: setup{tags: []string{"a", "b"}, container: "created"}, ref: "a", tagsLeft: []string{"b:latest"}},
		{name: "tag in use, force", setup: setup{tags: []string{"a"}, container: "created"}, ref: "a", force: true, imageGone: true},
		{name: "tag running, force", setup: setup{tags: []string{"a"}, container: "running"}, ref: "a", force: true, tagsLeft: []string{}},
		{name: "tag with children", setup: setup{tags: []string{"a"}, child: true}, ref: "a", tagsLeft: []string{}},
		{name: "ID", setup: setup{tags: []string{"a"}}, ref: "ID", imageGone: true},
		{name: "ID, two tags", setup: setup{tags: []string{"a", "b"}}, ref: "ID", want: service.ErrConflict, tagsLeft: []string{"a:latest", "b:latest"}},
		{name: "ID, two tags, force", setup: setup{tags: []string{"a", "b"}}, ref: "ID", force: true, imageGone: true},
		{name: "ID in use", setup: setup{tags: []string{"a"}, container: "created"}, ref: "ID", want: service.ErrConflict, tagsLeft: []string{"a:latest"}},
		{name: "ID in use, force", setup: setup{tags: []string{"a"}, container: "created"}, ref: "ID", force: true, imageGone: true},
		{name: "ID running, force", setup: setup{tags: []string{"a"}, container: "running"}, ref: "ID", force: true, want: service.ErrConflict, tagsLeft: []string{"a:latest"}},
		{name: "ID with children, force", setup: setup{tags: []string{"a"}, child: true}, ref: "ID", force: true, want: service.ErrConflict, tagsLeft: []string{"a:latest"}},
		{name: "missing tag", setup: setup{tags: []string{"a"}}, ref: "b", want: service.ErrNotFound, tagsLeft: []string{"a:latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			f := newTestFake(t)
			id := mustBuild(t, f, service.BuildSpec{Tags: tt.setup.tags}, dockerfile)
			if tt.setup.container != "" {
				cid := mustCreate(t, f, "c-1", func(s *service.ContainerSpec) { s.Image = id })
				if tt.setup.container == "running" {
					if err := f.StartContainer(ctx, cid); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.setup.child {
				mustBuild(t, f, service.BuildSpec{Tags: []string{"child"}}, map[string]string{"Dockerfile": "FROM " + id + "\nLABEL child=1\n"})
			}
			ref := tt.ref
			if ref == "ID" {
				ref = id
			}
			err := f.RemoveImage(ctx, ref, tt.force)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("RemoveImage(%q, %v): %v", ref, tt.force, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("RemoveImage(%q, %v) = %v, want %v", ref, tt.force, err, tt.want)
			}
			img, err := f.InspectImage(ctx, id)
			if tt.imageGone {
				if !errors.Is(err, service.ErrNotFound) {
					t.Errorf("the image stays: %+v, %v", img, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("the image is gone: %v", err)
			}
			if !slices.Equal(img.RepoTags, tt.tagsLeft) && !(len(img.RepoTags) == 0 && len(tt.tagsLeft) == 0) {
				t.Errorf("tags left = %q, want %q", img.RepoTags, tt.tagsLeft)
			}
		})
	}
}
