package publish

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

func TestReplaceValue(t *testing.T) {
	tests := []struct {
		name, in, want string
		path           []any
	}{
		{"scalar env_file", "services:\n  a:\n    env_file: ./x.env # c\n    image: i\n", "services:\n  a:\n    env_file: H\n    image: i\n", []any{"services", "a", "env_file", 0}},
		{"list env_file", "services:\n  a:\n    env_file:\n      - one.env\n      - \"two.env\"\n", "services:\n  a:\n    env_file:\n      - one.env\n      - H\n", []any{"services", "a", "env_file", 1}},
		{"long env_file", "services:\n  a:\n    env_file:\n      - path: one.env\n        required: false\n", "services:\n  a:\n    env_file:\n      - path: H\n        required: false\n", []any{"services", "a", "env_file", 0}},
		{"extends", "services:\n  a:\n    extends: {service: b, file: base.yaml}\n", "services:\n  a:\n    extends: {service: b, file: H\n", []any{"services", "a", "extends", "file"}},
		{"extends block", "services:\n  a:\n    extends:\n      file: base.yaml\n      service: b\n", "services:\n  a:\n    extends:\n      file: H\n      service: b\n", []any{"services", "a", "extends", "file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceValue([]byte(tt.in), "H", tt.path...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if _, err := replaceValue([]byte("services: {}\n"), "H", "services", "a", "env_file", 0); err == nil {
		t.Error("a missing key: no error")
	}
}

// load writes files into a temporary directory and loads them as publish
// does, every profile enabled.
func load(t *testing.T, files map[string]string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := project.Load(context.Background(), project.Options{WorkingDir: dir, Env: []string{}, Profiles: []string{"*"}, ProjectName: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeRegistry keeps what is pushed; refuse11 refuses OCI 1.1 manifests
// as a registry without OCI 1.1 support does.
type fakeRegistry struct {
	refuse11  bool
	blobs     map[digest.Digest][]byte
	manifests map[string]ocispec.Descriptor
}

func (f *fakeRegistry) PushArtifact(_ context.Context, ref string, blobs []ocispec.Descriptor, manifest ocispec.Descriptor) error {
	if f.refuse11 && manifest.ArtifactType != "" {
		return fmt.Errorf("manifest invalid: %w", service.ErrUnsupported)
	}
	if f.blobs == nil {
		f.blobs, f.manifests = map[digest.Digest][]byte{}, map[string]ocispec.Descriptor{}
	}
	for _, b := range blobs {
		f.blobs[b.Digest] = b.Data
	}
	f.manifests[ref] = manifest
	return nil
}

func (f *fakeRegistry) CopyImage(_ context.Context, src, dst string) (ocispec.Descriptor, error) {
	d := digest.FromString(src)
	if f.blobs == nil {
		f.blobs, f.manifests = map[digest.Digest][]byte{}, map[string]ocispec.Descriptor{}
	}
	f.manifests[dst+"@"+d.String()] = ocispec.Descriptor{Digest: d}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 1}, nil
}

func yes(string) (bool, error) { return true, nil }

var clock = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func hashOf(path, ext string) string { return fmt.Sprintf("%x%s", sha256.Sum256([]byte(path)), ext) }

// TestLayers: the compose file with its env_file and extends paths
// replaced by hashes, the extends file, the env file (--with-env), and the
// digests override, as docker compose makes them.
func TestLayers(t *testing.T) {
	p := load(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: example.com/web:1\n    env_file: app.env\n    extends:\n      file: base.yaml\n      service: base\n  dbg:\n    image: example.com/dbg:1\n    profiles: [debug]\n",
		"base.yaml":    "services:\n  base:\n    environment:\n      X: \"1\"\n",
		"app.env":      "A=1\n",
	})
	dir := p.WorkingDir
	res, err := Publish(context.Background(), p, "example.com/team/app:v1", Options{
		WithEnv: true, ResolveDigests: true, DryRun: true, Confirm: yes, Version: "v", Now: clock,
		Resolve: func(_ context.Context, ref reference.Named) (digest.Digest, error) {
			return digest.FromString(ref.String()), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	envHash, baseHash := hashOf(filepath.Join(dir, "app.env"), ".env"), hashOf(filepath.Join(dir, "base.yaml"), ".yaml")
	want := []struct{ mediaType, name, data string }{
		{ComposeFileMediaType, "compose.yaml", "services:\n  web:\n    image: example.com/web:1\n    env_file: " + envHash + "\n    extends:\n      file: " + baseHash + "\n      service: base\n  dbg:\n    image: example.com/dbg:1\n    profiles: [debug]\n"},
		{ComposeFileMediaType, baseHash, "services:\n  base:\n    environment:\n      X: \"1\"\n"},
		{EnvFileMediaType, envHash, "A=1\n"},
		{ComposeFileMediaType, "image-digests.yaml", "services:\n  dbg:\n    image: example.com/dbg:1@" + digest.FromString("example.com/dbg:1").String() + "\n  web:\n    image: example.com/web:1@" + digest.FromString("example.com/web:1").String() + "\n"},
	}
	if len(res.Layers) != len(want) {
		t.Fatalf("%d layers, want %d: %+v", len(res.Layers), len(want), res.Layers)
	}
	for i, w := range want {
		l := res.Layers[i]
		name := l.Annotations[AnnotationFile] + l.Annotations[AnnotationEnvFile]
		if l.MediaType != w.mediaType || name != w.name || string(l.Data) != w.data || l.Digest != digest.FromString(w.data) || l.Size != int64(len(w.data)) {
			t.Errorf("layer %d: %s %s %s\n%s\nwant %s %s\n%s", i, l.MediaType, name, l.Digest, l.Data, w.mediaType, w.name, w.data)
		}
		if l.Annotations[AnnotationVersion] != "v" {
			t.Errorf("layer %d: annotations %v", i, l.Annotations)
		}
	}
	if res.Layers[1].Annotations[AnnotationExtends] != "true" {
		t.Errorf("extends layer annotations %v", res.Layers[1].Annotations)
	}
	if res.OCIVersion != "1.1" || res.Manifest.ArtifactType != ArtifactType {
		t.Errorf("manifest %s %+v", res.OCIVersion, res.Manifest)
	}
}

// TestManifest: the OCI 1.1 and 1.0 manifests, golden.
func TestManifest(t *testing.T) {
	layer := source{version: "v"}.layer(ComposeFileMediaType, AnnotationFile, "/x/compose.yaml", []byte("services: {}\n"))
	for _, v := range []string{"1.1", "1.0"} {
		d, blobs, err := Manifest([]ocispec.Descriptor{layer}, v, clock())
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "manifest-"+v+".json")
		if os.Getenv("UPDATE_GOLDEN") != "" {
			_ = os.WriteFile(golden, append(d.Data, '\n'), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(d.Data)+"\n" != string(want) {
			t.Errorf("OCI %s manifest\n%s\nwant\n%s", v, d.Data, want)
		}
		if len(blobs) != 2 || string(blobs[0].Data) != "{}" {
			t.Errorf("OCI %s blobs %+v", v, blobs)
		}
	}
	if _, _, err := Manifest(nil, "2.0", clock()); err == nil {
		t.Error("OCI 2.0: no error")
	}
}

// TestRefusals: what docker compose refuses, and the questions: no answer
// (Confirm nil) cancels, and nothing is pushed.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		withEnv bool
		want    string
		cancel  bool
	}{
		{"build only", map[string]string{"compose.yaml": "services:\n  a:\n    build: .\n"}, false, `only contains a build section for service(s):`, false},
		{"local include", map[string]string{"compose.yaml": "include:\n  - other.yaml\nservices:\n  a:\n    image: i\n", "other.yaml": "services:\n  b:\n    image: i\n"}, false, "cannot publish compose file with local includes", false},
		{"bind mount", map[string]string{"compose.yaml": "services:\n  a:\n    image: i\n    volumes: [./data:/data]\n"}, false, "bind mounts declaration", true},
		{"env_file", map[string]string{"compose.yaml": "services:\n  a:\n    image: i\n    env_file: a.env\n", "a.env": "X=1\n"}, false, "env-related declarations", true},
		{"password", map[string]string{"compose.yaml": "services:\n  a:\n    image: i\n    environment:\n      KEY: AKIAZ3MSJV4WQNXU7ABC\n      GITHUB: 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\n"}, true, "sensitive data", true},
		{"config content", map[string]string{"compose.yaml": "services:\n  a:\n    image: i\nconfigs:\n  c:\n    content: some literal text\n"}, false, "literal inline config content", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := &fakeRegistry{}
			p := load(t, tt.files)
			_, err := Publish(context.Background(), p, "example.com/a/b:1", Options{WithEnv: tt.withEnv, Registry: reg})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one saying %q", err, tt.want)
			}
			if errors.Is(err, ErrCanceled) != tt.cancel {
				t.Errorf("canceled: %v, want %v", errors.Is(err, ErrCanceled), tt.cancel)
			}
			if len(reg.blobs)+len(reg.manifests) > 0 {
				t.Errorf("pushed %v %v", reg.blobs, reg.manifests)
			}
		})
	}
}

// TestPush publishes to a registry, and to one without OCI 1.1 support
// (docker compose's fallback to OCI 1.0).
func TestPush(t *testing.T) {
	p := load(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: i\n"})
	for _, refuse11 := range []bool{false, true} {
		reg := &fakeRegistry{refuse11: refuse11}
		res, err := Publish(context.Background(), p, "example.com/team/app:v1", Options{Now: clock, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		m, ok := reg.manifests["example.com/team/app:v1"]
		if !ok || m.Digest != res.Manifest.Digest {
			t.Fatalf("refuse11 %v: pushed %v, want %v", refuse11, reg.manifests, res.Manifest)
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(m.Data, &man); err != nil {
			t.Fatal(err)
		}
		wantType, wantConfig := ArtifactType, ocispec.MediaTypeEmptyJSON
		if refuse11 {
			wantType, wantConfig = "", EmptyConfigMediaType
		}
		if man.ArtifactType != wantType || man.Config.MediaType != wantConfig || len(man.Layers) != 1 || string(reg.blobs[man.Layers[0].Digest]) != "services:\n  a:\n    image: i\n" || string(reg.blobs[man.Config.Digest]) != "{}" {
			t.Errorf("refuse11 %v: manifest %s", refuse11, m.Data)
		}
	}
}

func TestImagesOnlyAndLockModel(t *testing.T) {
	web := types.ServiceConfig{Name: "web"}
	web.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/x", Target: "/y"}, {Type: types.VolumeTypeImage, Source: "img", Target: "/z"}}
	web.Image = "web:1"
	web.Command = types.ShellCommand{"x"}
	web.PreStart = make([]types.PreStartHook, 1)
	web.PreStart[0].Image = "hook:1"
	m := &types.Project{Name: "n", Services: types.Services{"web": web}}
	out, warnings := ImagesOnly(m)
	got := out.Services["web"]
	if out.Name != "" || got.Image != "web:1" || len(got.Volumes) != 1 || got.Volumes[0].Source != "img" || got.Command != nil {
		t.Errorf("ImagesOnly: %+v", out)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `service "web": pre_start hook images are not pinned`) {
		t.Errorf("warnings %q", warnings)
	}
	model := map[string]any{"name": "n", "services": map[string]any{"web": map[string]any{"image": "web:1", "command": "x", "volumes": []any{"./a:/b", map[string]any{"type": "image", "source": "img"}}}}}
	LockModel(model)
	b, _ := json.Marshal(model)
	if string(b) != `{"services":{"web":{"image":"web:1","volumes":[{"source":"img","type":"image"}]}}}` {
		t.Errorf("LockModel: %s", b)
	}
}

// TestApp: --app copies each service's image into the repository and
// pushes an index of them, by digest, whose subject is the artifact.
func TestApp(t *testing.T) {
	p := load(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: example.com/a:1\n  b:\n    image: example.com/b:1\n"})
	reg := &fakeRegistry{}
	res, err := Publish(context.Background(), p, "example.com/team/app:v1", Options{App: true, Registry: reg, Now: clock, Version: "v",
		Resolve: func(_ context.Context, ref reference.Named) (digest.Digest, error) {
			return digest.FromString(ref.String()), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if last := res.Layers[len(res.Layers)-1]; last.Annotations[AnnotationFile] != "image-digests.yaml" {
		t.Errorf("--app without the digests layer: %+v", last)
	}
	idx, ok := reg.manifests["example.com/team/app@"+res.Index.Digest.String()]
	if !ok {
		t.Fatalf("no index pushed: %v", reg.manifests)
	}
	var index ocispec.Index
	if err := json.Unmarshal(idx.Data, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 2 || index.Manifests[0].Digest != digest.FromString("example.com/a:1") || index.Subject == nil ||
		index.Subject.Digest != res.Manifest.Digest || index.Subject.Data != nil || index.Annotations[AnnotationVersion] != "v" {
		t.Errorf("index %s", idx.Data)
	}
	if _, ok := reg.manifests["example.com/team/app@"+digest.FromString("example.com/b:1").String()]; !ok {
		t.Errorf("image b not copied: %v", reg.manifests)
	}
}
