package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/service"
)

const pullProject = `name: shop
services:
  web:
    image: reg.example/web:1
    build: .
    depends_on: [db]
  db:
    image: reg.example/db:2
  cache:
    image: reg.example/cache:3
    pull_policy: never
`

func TestPullCommand(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		present []string // local images before
		remote  []string // in the fake's registry
		code    int
		pulled  []string
		stderr  []string // lines stderr has
		stdout  string   // stdout, exactly
	}{
		{name: "all", args: []string{"pull"}, remote: []string{"reg.example/web:1", "reg.example/db:2"},
			pulled: []string{"reg.example/db:2", "reg.example/web:1"},
			stderr: []string{"Image reg.example/db:2 Pulled", "Service cache Skipped - pull policy never", "db     | Digest: "}},
		{name: "one service", args: []string{"pull", "db"}, remote: []string{"reg.example/db:2"}, pulled: []string{"reg.example/db:2"}},
		{name: "named, without its dependencies", args: []string{"pull", "web"}, remote: []string{"reg.example/web:1", "reg.example/db:2"},
			pulled: []string{"reg.example/web:1"}},
		{name: "--include-deps", args: []string{"pull", "--include-deps", "web"}, remote: []string{"reg.example/web:1", "reg.example/db:2"},
			pulled: []string{"reg.example/db:2", "reg.example/web:1"}},
		{name: "failure names service and image", args: []string{"pull", "db"}, code: 1,
			stderr: []string{"service db: pull image \"reg.example/db:2\": manifest unknown"}},
		{name: "a buildable image's failure is a warning", args: []string{"pull", "web"}, code: 0, pulled: []string{"reg.example/web:1"},
			stderr: []string{"Image reg.example/web:1 Warning service web: pull image"}},
		{name: "--ignore-pull-failures", args: []string{"pull", "--ignore-pull-failures"}, remote: []string{"reg.example/web:1"},
			pulled: []string{"reg.example/db:2", "reg.example/web:1"}, stderr: []string{"Image reg.example/db:2 Warning service db"}},
		{name: "every failure reported", args: []string{"pull", "--ignore-buildable", "db", "cache", "--policy", "always"}, code: 1,
			stderr: []string{"service cache: pull image \"reg.example/cache:3\"", "service db: pull image \"reg.example/db:2\""}},
		{name: "--policy missing skips what is present", args: []string{"pull", "--policy", "missing"}, present: []string{"reg.example/db:2"},
			remote: []string{"reg.example/web:1", "reg.example/db:2", "reg.example/cache:3"}, pulled: []string{"reg.example/cache:3", "reg.example/web:1"},
			stderr: []string{"Service db Skipped - image is already present"}},
		{name: "--policy always pulls what is present", args: []string{"pull", "--policy", "always", "db"}, present: []string{"reg.example/db:2"},
			remote: []string{"reg.example/db:2"}, pulled: []string{"reg.example/db:2"}},
		{name: "bad --policy", args: []string{"pull", "--policy", "never"}, code: 1, stderr: []string{`invalid --policy "never"`}},
		{name: "-q", args: []string{"pull", "-q", "db"}, remote: []string{"reg.example/db:2"}, pulled: []string{"reg.example/db:2"}},
		{name: "--dry-run", args: []string{"--dry-run", "pull"}, remote: []string{"reg.example/web:1", "reg.example/db:2"},
			stdout: "#1 pull image reg.example/db:2: requested\n#2 pull image reg.example/web:1: requested\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCLIFiles(t, map[string]string{"compose.yaml": pullProject, "Dockerfile": "FROM scratch\n"})
			for _, ref := range tt.present {
				c.f.AddImage(ref, "sha256:old")
			}
			for _, ref := range tt.remote {
				c.f.AddRemoteImage(ref, "sha256:new")
			}
			out, errOut, code := c.run(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			if got := c.calls("PullImage"); tt.code == 0 && !slices.Equal(got, tt.pulled) {
				t.Errorf("pulled %q, want %q", got, tt.pulled)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			if slices.Contains(tt.args, "-q") && errOut != "" {
				t.Errorf("-q printed %q", errOut)
			}
			if tt.stdout != "" || slices.Contains(tt.args, "--dry-run") {
				if out != tt.stdout {
					t.Errorf("stdout\n%s\nwant\n%s", out, tt.stdout)
				}
			}
		})
	}
}

const buildProject = `name: shop
services:
  web:
    image: reg.example/web:1
    build:
      context: .
      tags: ["reg.example/web:latest"]
      args: {VERSION: "1"}
  api:
    build:
      context: api
      additional_contexts: {base: "service:web"}
  db:
    image: reg.example/db:2
`

func TestBuildCommand(t *testing.T) {
	files := map[string]string{"compose.yaml": buildProject, "Dockerfile": "FROM scratch\nLABEL a=b\n", "api/Dockerfile": "FROM scratch\n"}
	c := newFakeCLIFiles(t, files)
	out, errOut := c.mustRun("build", "--no-cache", "--pull", "--build-arg", "VERSION=2", "--build-arg", "EXTRA=x")
	builds := c.f.Builds()
	if len(builds) != 2 || builds[0].Tags[0] != "reg.example/web:1" || builds[1].Tags[0] != "shop-api" {
		t.Fatalf("builds %+v: want web, then api (it uses web's image)", builds)
	}
	web := builds[0]
	if !web.NoCache || !web.Pull || *web.Args["VERSION"] != "2" || *web.Args["EXTRA"] != "x" {
		t.Errorf("web's build %+v: want no-cache, pull, VERSION=2 and EXTRA=x", web)
	}
	for _, want := range []string{"Building web: context ", "Image reg.example/web:1 Built", "Building api: context ", "Image shop-api Built"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "Building web: context "); n != 1 {
		t.Errorf("the build of web started %d times, want once with its context's size:\n%s", n, errOut)
	}
	if !strings.Contains(out, "web  | Step 1/2 : FROM scratch") {
		t.Errorf("the build output is not on stdout behind the service:\n%s", out)
	}
	if pushed := c.calls("PushImage"); len(pushed) > 0 {
		t.Errorf("build without --push pushed %q", pushed)
	}

	// -q prints nothing; --push pushes the image and its tags
	out, errOut = c.mustRun("build", "-q", "--push", "web")
	if out != "" || errOut != "" {
		t.Errorf("build -q printed %q %q", out, errOut)
	}
	if got, want := c.calls("PushImage"), []string{"reg.example/web:1", "reg.example/web:latest"}; !slices.Equal(got, want) {
		t.Errorf("build --push pushed %q, want %q", got, want)
	}

	// --dry-run: the plan, nothing built
	c.f.ResetCalls()
	out, _ = c.mustRun("--dry-run", "build")
	if want := "#1 build image reg.example/web:1: requested\n#2 build image shop-api: requested (after #1)\n"; out != want {
		t.Errorf("--dry-run build printed\n%s\nwant\n%s", out, want)
	}
	if n := len(c.f.Builds()); n != 3 {
		t.Errorf("--dry-run built: %d builds in all", n)
	}

	// a failed build names the service and fails the command
	c.f.Fail("BuildImage", "shop-api", errors.New("no space left"))
	if _, errOut, code := c.run("build", "api"); code != 1 || !strings.Contains(errOut, "service api: no space left") {
		t.Errorf("failed build: exit %d, stderr %s", code, errOut)
	}
	if _, errOut, code := c.run("build", "--memory", "lots"); code != 1 || !strings.Contains(errOut, `invalid -m/--memory "lots"`) {
		t.Errorf("bad --memory: exit %d, stderr %s", code, errOut)
	}
	if _, errOut, code := c.run("build", "--memory", "64m", "--ssh", "default"); code != 1 || !strings.Contains(errOut, "--ssh") {
		t.Errorf("--ssh: exit %d, stderr %s", code, errOut)
	}
}

func TestPushCommand(t *testing.T) {
	files := map[string]string{"compose.yaml": buildProject, "Dockerfile": "FROM scratch\n", "api/Dockerfile": "FROM scratch\n"}
	c := newFakeCLIFiles(t, files)
	c.mustRun("build")
	c.f.ResetCalls()
	out, _ := c.mustRun("--dry-run", "push")
	if want := "#1 push image reg.example/web:1: requested\n#2 push image reg.example/web:latest: requested (after #1)\n"; out != want {
		t.Errorf("--dry-run push printed\n%s\nwant\n%s", out, want)
	}
	if got := c.calls("PushImage"); len(got) > 0 {
		t.Errorf("--dry-run pushed %q", got)
	}
	_, errOut := c.mustRun("push")
	if got, want := c.calls("PushImage"), []string{"reg.example/web:1", "reg.example/web:latest"}; !slices.Equal(got, want) {
		t.Errorf("pushed %q, want %q", got, want)
	}
	for _, want := range []string{"Image reg.example/web:1 Pushed", "Service api Skipped - only services with both image and build are pushed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	c.f.Fail("PushImage", "reg.example/web:1", errors.New("denied"))
	if _, errOut, code := c.run("push"); code != 1 || !strings.Contains(errOut, "service web: denied") {
		t.Errorf("failed push: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := c.run("push", "--ignore-push-failures", "-q"); code != 0 || errOut != "" {
		t.Errorf("push --ignore-push-failures -q: exit %d\n%s", code, errOut)
	}
}

func TestImageRmPlan(t *testing.T) {
	c := newFakeCLIFiles(t, map[string]string{"compose.yaml": "name: shop\nservices:\n  web: {image: busybox}\n"})
	c.f.AddImage("busybox", "sha256:b0")
	c.f.AddImage("alpine", "sha256:a0")
	c.mustRun("up", "-d")
	out, _ := c.mustRun("--dry-run", "image", "rm", "-f", "busybox", "alpine")
	if want := "#1 remove image busybox\n#2 remove image alpine (after #1)\n"; out != want {
		t.Errorf("--dry-run image rm printed\n%s\nwant\n%s", out, want)
	}
	var buf bytes.Buffer
	g := &globals{stdio: Stdio{Out: &buf}}
	ctx := context.Background()
	// busybox is used: refused without -f, and alpine after it is not removed
	err := removeImages(ctx, g, c.f, images.RemovePlan([]string{"busybox", "alpine"}, false))
	if err == nil || !strings.Contains(err.Error(), "image busybox: resource is still in use") || buf.String() != "" {
		t.Errorf("image rm of a used image: %v, printed %q", err, buf.String())
	}
	if _, err := c.f.InspectImage(ctx, "alpine"); err != nil {
		t.Errorf("alpine removed after a failure: %v", err)
	}
	if err := removeImages(ctx, g, c.f, images.RemovePlan([]string{"busybox", "alpine"}, true)); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "Untagged: busybox\nUntagged: alpine\n" {
		t.Errorf("image rm -f printed %q", buf.String())
	}
	if err := removeImages(ctx, g, c.f, images.RemovePlan([]string{"nothing"}, false)); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("image rm of a missing image: %v, want ErrNotFound", err)
	}
}

func TestImagesCommand(t *testing.T) {
	c := newFakeCLIFiles(t, map[string]string{"compose.yaml": "name: shop\nservices:\n  web: {image: busybox}\n  db: {image: redis:7}\n"})
	c.f.AddImage("busybox", "sha256:b0b0b0b0b0b0b0b0")
	c.f.AddImage("redis:7", "sha256:7e7e7e7e7e7e7e7e")
	c.mustRun("up", "-d")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"images", "-q"}, "7e7e7e7e7e7e7e7e\nb0b0b0b0b0b0b0b0\n"},
		{[]string{"images", "-q", "web"}, "b0b0b0b0b0b0b0b0\n"},
		{[]string{"images", "--format", "{{.ContainerName}} {{.Repository}}:{{.Tag}}"}, "shop-db-1 redis:7\nshop-web-1 busybox:latest\n"},
	} {
		if out, _ := c.mustRun(tt.args...); out != tt.want {
			t.Errorf("berth %s printed\n%s\nwant\n%s", strings.Join(tt.args, " "), out, tt.want)
		}
	}
	out, _ := c.mustRun("images", "--format", "json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[0]["ContainerName"] != "shop-db-1" || list[1]["Repository"] != "busybox" {
		t.Errorf("images --format json: %v\n%s", err, out)
	}
	out, _ = c.mustRun("images")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "CONTAINER") || !strings.Contains(lines[2], "busybox") {
		t.Errorf("images table:\n%s", out)
	}
}

// TestImageStoreCommands: image load, ls and rm on a built-in runtime's
// store in a temporary BERTH_ROOT.
func TestImageStoreCommands(t *testing.T) {
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference("example.com/berth/app:1")
	if err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := tarball.Write(ref, img, &saved); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := []string{"BERTH_ROOT=" + filepath.Join(dir, "root")}
	cli := func(stdin string, args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, Stdio{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, env, dir)
		return out.String(), errOut.String(), code
	}
	if out, errOut, code := cli(saved.String(), "image", "load"); code != 0 || out != "Loaded image: example.com/berth/app:1\n" {
		t.Fatalf("image load: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "saved.tar"), saved.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cli("", "image", "load", "-q", "-i", "saved.tar"); code != 0 || out != "example.com/berth/app:1\n" {
		t.Errorf("image load -q -i: exit %d\n%s%s", code, out, errOut)
	}
	id, _ := img.ConfigName()
	out, _, _ := cli("", "image", "ls")
	if lines := strings.Split(out, "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "REPOSITORY:TAG") ||
		!strings.HasPrefix(lines[1], "example.com/berth/app:1") || !strings.Contains(lines[1], id.Hex[:12]) || !strings.HasSuffix(lines[1], "kB") {
		t.Errorf("image ls:\n%s", out)
	}
	if out, _, _ := cli("", "image", "ls", "-q"); out != id.Hex[:12]+"\n" {
		t.Errorf("image ls -q: %q", out)
	}
	if out, _, code := cli("", "--dry-run", "image", "rm", "example.com/berth/app:1"); code != 0 || out != "#1 remove image example.com/berth/app:1\n" {
		t.Errorf("--dry-run image rm: %d %q", code, out)
	}
	if _, errOut, code := cli("", "image", "rm", "nothing:1"); code != 1 || !strings.Contains(errOut, "nothing:1") {
		t.Errorf("image rm of a missing image: %d %q", code, errOut)
	}
	if out, errOut, code := cli("", "image", "rm", "example.com/berth/app:1"); code != 0 || out != "Untagged: example.com/berth/app:1\n" {
		t.Errorf("image rm: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := cli("", "image", "ls", "-q"); out != "" {
		t.Errorf("image ls -q after rm: %q", out)
	}
	if _, errOut, code := cli("", "image", "load", "-i", "missing.tar"); code != 1 || !strings.Contains(errOut, "missing.tar") {
		t.Errorf("image load -i missing.tar: %d %q", code, errOut)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 1234567: "1.23MB", 5e12: "5TB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
