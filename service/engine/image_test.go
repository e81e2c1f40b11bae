package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
)

// imageClient is a hand-written stub of the image methods of apiClient: each
// answers with the stream (JSON messages, one per line) or error set for it.
type imageClient struct {
	apiClient

	mu    sync.Mutex
	calls []string

	stream   string // what ImageBuild, ImagePull and ImagePush stream
	err      error  // what they and ImageRemove return
	inspect  map[string]string
	build    client.ImageBuildOptions
	pull     client.ImagePullOptions
	push     client.ImagePushOptions
	remove   client.ImageRemoveOptions
	received []byte // the build context
}

func (c *imageClient) record(call string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
}

func (c *imageClient) ImageBuild(_ context.Context, buildContext io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
	c.record("build " + strings.Join(o.Tags, ","))
	c.build = o
	c.received, _ = io.ReadAll(buildContext)
	if c.err != nil {
		return client.ImageBuildResult{}, c.err
	}
	return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(c.stream))}, nil
}

// stream is a pull's or a push's response.
type stream struct {
	client.ImagePullResponse // JSONMessages and Wait: not used
	r                        io.Reader
}

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s stream) Close() error               { return nil }

func (c *imageClient) ImagePull(_ context.Context, ref string, o client.ImagePullOptions) (client.ImagePullResponse, error) {
	c.record("pull " + ref)
	c.pull = o
	if c.err != nil {
		return nil, c.err
	}
	return stream{r: strings.NewReader(c.stream)}, nil
}

func (c *imageClient) ImagePush(_ context.Context, ref string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
	c.record("push " + ref)
	c.push = o
	if c.err != nil {
		return nil, c.err
	}
	return stream{r: strings.NewReader(c.stream)}, nil
}

func (c *imageClient) ImageRemove(_ context.Context, ref string, o client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	c.record("remove " + ref)
	c.remove = o
	return client.ImageRemoveResult{Items: []image.DeleteResponse{{Untagged: ref}}}, c.err
}

func (c *imageClient) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	c.record("inspect " + ref)
	id, ok := c.inspect[ref]
	if !ok {
		return client.ImageInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	var res client.ImageInspectResult
	res.ID = id
	return res, nil
}

// messages renders JSON messages as the engine streams them.
func messages(ms ...string) string {
	return strings.Join(ms, "\r\n") + "\r\n"
}

// noDockerConfig points the docker CLI's configuration at an empty
// directory, so that the tests read no credentials of the machine.
func noDockerConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	return dir
}

func TestBuildOptions(t *testing.T) {
	v := "1"
	spec := service.BuildSpec{
		Tags:       []string{"p-web", "reg:5000/p/web:2"},
		Dockerfile: "docker/Dockerfile.dev",
		Args:       map[string]*string{"V": &v, "FROM_ENV": nil},
		Target:     "dev",
		Labels:     map[string]string{"a": "b"},
		NoCache:    true,
		Pull:       true,
		Network:    "host",
		ShmSize:    1 << 26,
		Memory:     1 << 28,
		ExtraHosts: []string{"db:10.0.0.2"},
		CacheFrom:  []string{"p-web:cache"},
		Platform:   "linux/arm64/v8",
	}
	got, err := buildOptions(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := client.ImageBuildOptions{
		Version:     build.BuilderV1,
		Tags:        spec.Tags,
		Dockerfile:  spec.Dockerfile,
		BuildArgs:   spec.Args,
		Target:      "dev",
		Labels:      spec.Labels,
		NoCache:     true,
		PullParent:  true,
		NetworkMode: "host",
		ShmSize:     1 << 26,
		Memory:      1 << 28,
		ExtraHosts:  spec.ExtraHosts,
		CacheFrom:   spec.CacheFrom,
		Remove:      true,
		ForceRemove: true,
		Platforms:   []ocispec.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("buildOptions =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := buildOptions(service.BuildSpec{Platform: "linux//"}); err == nil {
		t.Error("bad platform: no error")
	}
}

func TestBuildImage(t *testing.T) {
	noDockerConfig(t)
	id := "sha256:" + strings.Repeat("ab", 32)
	c := &imageClient{stream: messages(
		`{"stream":"Step 1/3 : FROM busybox"}`,
		`{"stream":"\n"}`,
		`{"stream":" ---\u003e f9ece27f7e7b\n"}`,
		`{"stream":"Step 2/3 : RUN echo hello"}`,
		`{"stream":"\n ---\u003e Running in 0123456789ab\n"}`,
		`{"stream":"hel"}`,
		`{"stream":"lo\n"}`,
		`{"stream":"Removing intermediate container 0123456789ab\n ---\u003e 2222\n"}`,
		`{"stream":"Step 3/3 : LABEL x=y\n"}`,
		`{"aux":{"ID":"`+id+`"}}`,
		`{"stream":"Successfully built abababababab\n"}`,
		`{"stream":"Successfully tagged p-web:latest\n"}`,
	)}
	b := NewWithClient(c)
	var progress bytes.Buffer
	got, err := b.BuildImage(t.Context(), service.BuildSpec{Tags: []string{"p-web"}}, strings.NewReader("context"), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got != id {
		t.Errorf("ID = %q, want %q", got, id)
	}
	wantOut := `Step 1/3 : FROM busybox
 ---> f9ece27f7e7b
Step 2/3 : RUN echo hello
 ---> Running in 0123456789ab
hello
Removing intermediate container 0123456789ab
 ---> 2222
Step 3/3 : LABEL x=y
Successfully built abababababab
Successfully tagged p-web:latest
`
	if progress.String() != wantOut {
		t.Errorf("progress:\n%s\nwant:\n%s", progress.String(), wantOut)
	}
	if string(c.received) != "context" {
		t.Errorf("the engine got the context %q", c.received)
	}
	if c.build.Version != build.BuilderV1 || !c.build.Remove || !c.build.ForceRemove {
		t.Errorf("options %+v: want the classic builder removing intermediate containers", c.build)
	}
	if len(c.build.AuthConfigs) != 0 {
		t.Errorf("AuthConfigs = %v with no config.json", c.build.AuthConfigs)
	}
}

func TestBuildImageWithoutAux(t *testing.T) {
	noDockerConfig(t)
	id := "sha256:" + strings.Repeat("cd", 32)
	for _, tt := range []struct {
		name string
		tags []string
		want string // the inspected reference
	}{
		{"by tag", []string{"p-web:1"}, "p-web:1"},
		{"untagged", nil, "cdcdcdcdcdcd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &imageClient{
				stream:  messages(`{"stream":"Step 1/1 : FROM busybox\n"}`, `{"stream":"Successfully built cdcdcdcdcdcd\n"}`),
				inspect: map[string]string{tt.want: id},
			}
			got, err := NewWithClient(c).BuildImage(t.Context(), service.BuildSpec{Tags: tt.tags}, strings.NewReader(""), nil)
			if err != nil || got != id {
				t.Errorf("BuildImage = %q, %v; want %q", got, err, id)
			}
		})
	}
	t.Run("no ID at all", func(t *testing.T) {
		c := &imageClient{stream: messages(`{"stream":"Step 1/1 : FROM busybox\n"}`)}
		if _, err := NewWithClient(c).BuildImage(t.Context(), service.BuildSpec{}, strings.NewReader(""), nil); err == nil {
			t.Error("no error")
		}
	})
}

func TestBuildImageFailure(t *testing.T) {
	noDockerConfig(t)
	tests := []struct {
		name     string
		stream   string
		err      error
		want     string
		notFound bool
	}{
		{
			name: "failing RUN",
			stream: messages(
				`{"stream":"Step 1/4 : FROM busybox\n"}`,
				`{"stream":"Step 2/4 : ARG V=1\n"}`,
				`{"stream":"Step 3/4 : RUN false\n"}`,
				`{"stream":" ---\u003e Running in 0123456789ab\n"}`,
				`{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}`,
				`{"stream":"never read\n"}`,
			),
			want: `build image "p-web": Step 3/4 : RUN false: The command '/bin/sh -c false' returned a non-zero code: 1`,
		},
		{
			name: "failing RUN with output",
			stream: messages(
				`{"stream":"Step 1/2 : FROM busybox\n"}`,
				`{"stream":"Step 2/2 : RUN make\n"}`,
				`{"stream":" ---\u003e Running in 0123456789ab\n"}`,
				`{"stream":"cc -c x.c\n"}`,
				`{"stream":"x.c:1: error"}`,
				`{"error":"The command '/bin/sh -c make' returned a non-zero code: 2"}`,
			),
			want: `build image "p-web": Step 2/2 : RUN make: The command '/bin/sh -c make' returned a non-zero code: 2 (last output line: "x.c:1: error")`,
		},
		{
			name: "missing base image",
			stream: messages(
				`{"stream":"Step 1/2 : FROM nope\n"}`,
				`{"errorDetail":{"message":"pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"},"error":"..."}`,
			),
			want:     `build image "p-web": Step 1/2 : FROM nope: pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied: not found`,
			notFound: true,
		},
		{
			name:   "error before any step",
			stream: messages(`{"error":"Cannot locate specified Dockerfile: Dockerfile"}`),
			want:   `build image "p-web": Cannot locate specified Dockerfile: Dockerfile`,
		},
		{
			name:   "request refused",
			err:    cerrdefs.ErrInvalidArgument.WithMessage("bad platform"),
			want:   `build image "p-web": bad platform: unsupported`,
			stream: "",
		},
		{
			name:   "broken stream",
			stream: `{"stream":"Step 1/1 : FROM busybox\n"}` + "\n{nope",
			want:   `build image "p-web": reading the engine's progress stream: invalid character 'n' looking for beginning of object key string`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &imageClient{stream: tt.stream, err: tt.err}
			_, err := NewWithClient(c).BuildImage(t.Context(), service.BuildSpec{Tags: []string{"p-web"}}, strings.NewReader(""), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
			if errors.Is(err, service.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tt.notFound, tt.notFound)
			}
		})
	}
}

func TestBuildImageCancelled(t *testing.T) {
	noDockerConfig(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	c := &buildBlocker{body: pr}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := NewWithClient(c).BuildImage(ctx, service.BuildSpec{Tags: []string{"p-web"}}, strings.NewReader(""), nil)
		done <- err
	}()
	if _, err := pw.Write([]byte(`{"stream":"Step 1/2 : RUN sleep 1000\n"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// buildBlocker streams body as a build's output.
type buildBlocker struct {
	apiClient
	body io.ReadCloser
}

func (c *buildBlocker) ImageBuild(context.Context, io.Reader, client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return client.ImageBuildResult{Body: c.body}, nil
}

func TestPullImage(t *testing.T) {
	noDockerConfig(t)
	c := &imageClient{stream: messages(
		`{"status":"Pulling from library/busybox","id":"1.36"}`,
		`{"status":"Pulling fs layer","progressDetail":{},"id":"a1b2"}`,
		`{"status":"Downloading","progressDetail":{"current":10,"total":20},"progress":"[=====\u003e     ]  10B/20B","id":"a1b2"}`,
		`{"status":"Digest: sha256:0123"}`,
		`{"status":"Status: Downloaded newer image for busybox:1.36"}`,
	)}
	b := NewWithClient(c)
	var progress bytes.Buffer
	if err := b.PullImage(t.Context(), "busybox:1.36", "linux/amd64", &progress); err != nil {
		t.Fatal(err)
	}
	want := `1.36: Pulling from library/busybox
a1b2: Pulling fs layer
a1b2: Downloading [=====>     ]  10B/20B
Digest: sha256:0123
Status: Downloaded newer image for busybox:1.36
`
	if progress.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", progress.String(), want)
	}
	if want := []string{"pull docker.io/library/busybox:1.36"}; !reflect.DeepEqual(c.calls, want) {
		t.Errorf("calls = %q, want %q", c.calls, want)
	}
	if c.pull.RegistryAuth != "e30=" || !reflect.DeepEqual(c.pull.Platforms, []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}) {
		t.Errorf("options = %+v: want anonymous, linux/amd64", c.pull)
	}

	// No tag means :latest; no progress writer is fine.
	c.calls = nil
	if err := b.PullImage(t.Context(), "reg:5000/team/app", "", nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"pull reg:5000/team/app:latest"}; !reflect.DeepEqual(c.calls, want) {
		t.Errorf("calls = %q, want %q", c.calls, want)
	}
	if err := b.PullImage(t.Context(), "Not A Reference", "", nil); err == nil {
		t.Error("bad reference: no error")
	}
}

func TestTransferErrors(t *testing.T) {
	noDockerConfig(t)
	tests := []struct {
		name     string
		push     bool
		stream   string
		err      error
		want     string
		notFound bool
	}{
		{
			name: "missing manifest",
			err:  cerrdefs.ErrNotFound.WithMessage("manifest for 127.0.0.1:5000/nope:1 not found: manifest unknown: manifest unknown"),
			want: `pull image "127.0.0.1:5000/nope:1": manifest for 127.0.0.1:5000/nope:1 not found: manifest unknown: manifest unknown: not found`, notFound: true,
		},
		{
			name: "hub's answer for a missing repository",
			err:  cerrdefs.ErrUnknown.WithMessage("pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"),
			want: `pull image "127.0.0.1:5000/nope:1": pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied: not found`, notFound: true,
		},
		{
			name:     "missing in the stream",
			stream:   messages(`{"status":"Pulling from nope","id":"1"}`, `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`),
			want:     `pull image "127.0.0.1:5000/nope:1": manifest unknown: not found`,
			notFound: true,
		},
		{
			name:   "other stream error",
			stream: messages(`{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}`),
			want:   `pull image "127.0.0.1:5000/nope:1": unexpected EOF`,
		},
		{
			name:     "push of a missing local image",
			push:     true,
			stream:   messages(`{"status":"The push refers to repository [127.0.0.1:5000/nope]"}`, `{"errorDetail":{"message":"An image does not exist locally with the tag: 127.0.0.1:5000/nope"},"error":"An image does not exist locally with the tag: 127.0.0.1:5000/nope"}`),
			want:     `push image "127.0.0.1:5000/nope:1": An image does not exist locally with the tag: 127.0.0.1:5000/nope: not found`,
			notFound: true,
		},
		{
			name: "push refused",
			push: true,
			err:  cerrdefs.ErrUnauthenticated.WithMessage("unauthorized: authentication required"),
			want: `push image "127.0.0.1:5000/nope:1": unauthorized: authentication required`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewWithClient(&imageClient{stream: tt.stream, err: tt.err})
			var err error
			if tt.push {
				err = b.PushImage(t.Context(), "127.0.0.1:5000/nope:1", io.Discard)
			} else {
				err = b.PullImage(t.Context(), "127.0.0.1:5000/nope:1", "", io.Discard)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
			if errors.Is(err, service.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tt.notFound, tt.notFound)
			}
		})
	}
}

func TestPushImage(t *testing.T) {
	noDockerConfig(t)
	c := &imageClient{stream: messages(
		`{"status":"The push refers to repository [reg:5000/p/web]"}`,
		`{"status":"Pushed","progressDetail":{},"id":"a1b2"}`,
		`{"status":"2: digest: sha256:0123 size: 527"}`,
		`{"progressDetail":{},"aux":{"Tag":"2","Digest":"sha256:0123","Size":527}}`,
	)}
	var progress bytes.Buffer
	if err := NewWithClient(c).PushImage(t.Context(), "reg:5000/p/web:2", &progress); err != nil {
		t.Fatal(err)
	}
	want := "The push refers to repository [reg:5000/p/web]\na1b2: Pushed\n2: digest: sha256:0123 size: 527\n"
	if progress.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", progress.String(), want)
	}
	if want := []string{"push reg:5000/p/web:2"}; !reflect.DeepEqual(c.calls, want) {
		t.Errorf("calls = %q, want %q", c.calls, want)
	}
}

func TestRemoveImage(t *testing.T) {
	c := &imageClient{}
	b := NewWithClient(c)
	if err := b.RemoveImage(t.Context(), "p-web", true); err != nil {
		t.Fatal(err)
	}
	if want := (client.ImageRemoveOptions{Force: true, PruneChildren: true}); !reflect.DeepEqual(c.remove, want) {
		t.Errorf("options = %+v, want %+v", c.remove, want)
	}
	for _, tt := range []struct {
		err  error
		want error
	}{
		{cerrdefs.ErrNotFound.WithMessage("No such image: p-web:latest"), service.ErrNotFound},
		{cerrdefs.ErrConflict.WithMessage(`conflict: unable to remove repository reference "p-web" (must force) - container 0123 is using its referenced image 4567`), service.ErrConflict},
	} {
		c.err = tt.err
		err := b.RemoveImage(t.Context(), "p-web", false)
		if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), `remove image "p-web": `) {
			t.Errorf("err = %v, want %v naming the image", err, tt.want)
		}
	}
}

// decodeAuth decodes an X-Registry-Auth value.
func decodeAuth(t *testing.T, s string) registry.AuthConfig {
	t.Helper()
	var a registry.AuthConfig
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("X-Registry-Auth %q: %v", s, err)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("X-Registry-Auth %q: %v", b, err)
	}
	return a
}

// writeHelper installs a credential helper docker-credential-<name> on
// PATH: a script that answers get for server with user and secret, and
// "credentials not found" for any other server.
func writeHelper(t *testing.T, dir, name, server, user, secret string) {
	t.Helper()
	script := fmt.Sprintf(`#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
if [ "$server" = %q ]; then
	printf '{"ServerURL":"%%s","Username":"%s","Secret":"%s"}\n' "$server"
	exit 0
fi
echo "credentials not found in native keychain"
exit 1
`, server, user, secret)
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCredentials(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the credential helpers")
	}
	bin := t.TempDir()
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	writeHelper(t, bin, "berthtest-store", "store.example:5000", "storeuser", "storesecret")
	writeHelper(t, bin, "berthtest-hub", dockerHubServer, "<token>", "hubtoken")
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-berthtest-broken"), []byte("#!/bin/sh\necho boom >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	basic := func(user, pass string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)) }
	tests := []struct {
		name   string
		config string // config.json; "" for none
		ref    string
		want   registry.AuthConfig
	}{
		{name: "no config", ref: "busybox"},
		{
			name:   "hub from auths",
			config: `{"auths":{"https://index.docker.io/v1/":{"auth":"` + basic("hubuser", "p:w") + `"}}}`,
			ref:    "busybox",
			want:   registry.AuthConfig{Username: "hubuser", Password: "p:w", ServerAddress: dockerHubServer},
		},
		{
			name:   "registry by host and port",
			config: `{"auths":{"https://index.docker.io/v1/":{"auth":"` + basic("hubuser", "x") + `"},"reg.example:5000":{"auth":"` + basic("reguser", "regpass") + `"}}}`,
			ref:    "reg.example:5000/team/app:1",
			want:   registry.AuthConfig{Username: "reguser", Password: "regpass", ServerAddress: "reg.example:5000"},
		},
		{
			name:   "key with a scheme and a path",
			config: `{"auths":{"https://reg.example/v2/":{"username":"u","password":"p"}}}`,
			ref:    "reg.example/app",
			want:   registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "reg.example"},
		},
		{
			name:   "another registry's credentials are not sent",
			config: `{"auths":{"reg.example:5000":{"auth":"` + basic("reguser", "regpass") + `"}}}`,
			ref:    "reg.example:5001/app",
		},
		{
			name:   "identity token",
			config: `{"auths":{"reg.example":{"identitytoken":"tok"}}}`,
			ref:    "reg.example/app",
			want:   registry.AuthConfig{IdentityToken: "tok", ServerAddress: "reg.example"},
		},
		{
			name:   "credentials store",
			config: `{"auths":{"store.example:5000":{}},"credsStore":"berthtest-store"}`,
			ref:    "store.example:5000/app",
			want:   registry.AuthConfig{Username: "storeuser", Password: "storesecret", ServerAddress: "store.example:5000"},
		},
		{
			name:   "credentials store without them",
			config: `{"credsStore":"berthtest-store"}`,
			ref:    "other.example/app",
		},
		{
			name:   "helper for the registry, token",
			config: `{"credsStore":"berthtest-store","credHelpers":{"docker.io":"berthtest-hub"}}`,
			ref:    "library/busybox",
			want:   registry.AuthConfig{IdentityToken: "hubtoken", ServerAddress: dockerHubServer},
		},
		{
			name:   "helper not installed",
			config: `{"auths":{"reg.example":{"auth":"` + basic("u", "p") + `"}},"credsStore":"berthtest-absent"}`,
			ref:    "reg.example/app",
			want:   registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "reg.example"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := noDockerConfig(t)
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			named, err := parseImageRef(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := registryAuth(t.Context(), named)
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeAuth(t, enc); got != tt.want {
				t.Errorf("credentials = %+v, want %+v", got, tt.want)
			}

			// The same credentials go with a pull.
			c := &imageClient{stream: messages(`{"status":"ok"}`)}
			if err := NewWithClient(c).PullImage(t.Context(), tt.ref, "", nil); err != nil {
				t.Fatal(err)
			}
			if c.pull.RegistryAuth != enc {
				t.Errorf("pull's RegistryAuth = %q, want %q", c.pull.RegistryAuth, enc)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		for _, config := range []string{
			`{"auths":`,
			`{"auths":{"reg.example":{"auth":"!!"}}}`,
			`{"auths":{"reg.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}}`,
			`{"credHelpers":{"reg.example":"berthtest-broken"}}`,
		} {
			dir := noDockerConfig(t)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			named, _ := parseImageRef("reg.example/app")
			if _, err := registryAuth(t.Context(), named); err == nil {
				t.Errorf("config %s: no error", config)
			}
		}
	})

	t.Run("build gets every registry's", func(t *testing.T) {
		dir := noDockerConfig(t)
		config := `{"auths":{"reg.example":{"auth":"` + basic("u", "p") + `"},"store.example:5000":{},"empty.example":{}},` +
			`"credsStore":"berthtest-store","credHelpers":{"reg.example":"berthtest-absent"}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		c := &imageClient{stream: messages(`{"aux":{"ID":"sha256:1"}}`)}
		if _, err := NewWithClient(c).BuildImage(t.Context(), service.BuildSpec{}, strings.NewReader(""), nil); err != nil {
			t.Fatal(err)
		}
		want := map[string]registry.AuthConfig{
			"reg.example":        {Username: "u", Password: "p", ServerAddress: "reg.example"},
			"store.example:5000": {Username: "storeuser", Password: "storesecret", ServerAddress: "store.example:5000"},
		}
		if !reflect.DeepEqual(c.build.AuthConfigs, want) {
			t.Errorf("AuthConfigs = %+v, want %+v", c.build.AuthConfigs, want)
		}
	})
}

// TestImageRequests checks what the client sends the engine, through an
// HTTP stub of it: the classic builder's query and the credentials header.
func TestImageRequests(t *testing.T) {
	dir := noDockerConfig(t)
	config := `{"auths":{"reg.example:5000":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:p")) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reqs []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Write([]byte("OK"))
			return
		}
		mu.Lock()
		reqs = append(reqs, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"aux":{"ID":"sha256:1"}}`+"\n"+`{"status":"done"}`+"\n")
	}))
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	b, err := New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	v := "2"
	if _, err := b.BuildImage(t.Context(), service.BuildSpec{
		Tags: []string{"p-web"}, Dockerfile: "sub/Dockerfile", Args: map[string]*string{"V": &v}, Network: "default",
	}, strings.NewReader(""), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.PullImage(t.Context(), "reg.example:5000/app", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.PushImage(t.Context(), "reg.example:5000/app:3", nil); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}

	q := reqs[0].URL.Query()
	want := url.Values{"t": {"p-web"}, "dockerfile": {"sub/Dockerfile"}, "buildargs": {`{"V":"2"}`}, "version": {"1"}, "forcerm": {"1"}}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("build query = %v, want %v", q, want)
	}
	if q := reqs[1].URL.Query(); q.Get("fromImage") != "reg.example:5000/app" || q.Get("tag") != "latest" {
		t.Errorf("pull query = %v", q)
	}
	if !strings.HasSuffix(reqs[2].URL.Path, "/images/reg.example:5000/app/push") || reqs[2].URL.Query().Get("tag") != "3" {
		t.Errorf("push %s?%s", reqs[2].URL.Path, reqs[2].URL.RawQuery)
	}
	wantAuth := registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "reg.example:5000"}
	for _, r := range reqs[1:] {
		if got := decodeAuth(t, r.Header.Get(registry.AuthHeader)); got != wantAuth {
			t.Errorf("%s: credentials %+v, want %+v", r.URL.Path, got, wantAuth)
		}
	}
	var buildAuth map[string]registry.AuthConfig
	b64, _ := base64.URLEncoding.DecodeString(reqs[0].Header.Get("X-Registry-Config"))
	if err := json.Unmarshal(b64, &buildAuth); err != nil || buildAuth["reg.example:5000"] != wantAuth {
		t.Errorf("build's X-Registry-Config = %s (%v), want the credentials of reg.example:5000", b64, err)
	}
}
