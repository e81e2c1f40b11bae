package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	units "github.com/docker/go-units"
)

// helloSource is a program for a FROM scratch image: it says hello and
// waits to be killed.
const helloSource = `package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Println("hello from scratch")
	time.Sleep(time.Hour)
}
`

// buildStatic compiles a static Go program from source into path.
func buildStatic(t *testing.T, source, path string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-trimpath")
	if r := command(ctx, filepath.Dir(src), env, nil, "go", "build", "-o", path, src); r.code != 0 {
		t.Fatalf("go build: exit %d: %s", r.code, r.stderr)
	}
	if err := checkStatic(path); err != nil {
		t.Fatal(err)
	}
}

// contextSizes returns the sizes of the build contexts a --progress plain
// run reports ("Building web: context 12.3kB"), by service.
func contextSizes(t *testing.T, stderr string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, m := range regexp.MustCompile(`(?m)^Building (\S+): context (\S+)$`).FindAllStringSubmatch(stderr, -1) {
		n, err := units.FromHumanSize(m[2])
		if err != nil {
			t.Fatalf("context size %q: %v", m[2], err)
		}
		out[m[1]] = n
	}
	return out
}

// imageID returns the ID of a local image, "" if there is none.
func imageID(ref string) string {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	id, err := runDocker(ctx, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		return ""
	}
	return id
}

// containerIDs returns the IDs of the project's containers by name.
func (p *testProject) containerIDs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, e := range p.ps(t, "-a") {
		out[name] = e.ID
	}
	return out
}

// TestImagesBuildUpAndDown is the images scenario: up --build of two built
// services (one FROM the test image with an ARG and a RUN step, one FROM
// scratch with a static Go program) and one pulled from a local registry;
// a no-op up that neither builds nor recreates; a changed source file that
// recreates only its service; a .dockerignore'd big file kept out of the
// context; down --rmi local.
func TestImagesBuildUpAndDown(t *testing.T) {
	requireEngine(t)
	reg := startRegistry(t)
	p := newProject(t, nil)
	remote := reg + "/berthe2e/" + p.name + ":1"
	docker(t, "tag", busyboxImage(), remote)
	docker(t, "push", remote)
	docker(t, "rmi", remote)
	built := []string{p.name + "-busy", p.name + "-scratch"}
	t.Cleanup(func() { removeImages(append(built, remote)...) })

	big := make([]byte, 5<<20)
	rand.Read(big)
	files := map[string]string{
		"compose.yaml": fmt.Sprintf(`
services:
  busy:
    build:
      context: busy
      args: {MESSAGE: built by berth}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  scratch:
    build: scratch
    stop_signal: SIGKILL
  pulled:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
`, remote),
		"busy/Dockerfile": fmt.Sprintf(`FROM %s
ARG MESSAGE=default
RUN echo "$MESSAGE" > /message
COPY . /app
`, busyboxImage()),
		"busy/app.txt":          "version 1\n",
		"busy/.dockerignore":    "big.bin\n",
		"busy/big.bin":          string(big),
		"scratch/Dockerfile":    "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n",
		"scratch/.dockerignore": "*.go\n",
	}
	for rel, content := range files {
		path := filepath.Join(p.dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buildStatic(t, helloSource, filepath.Join(p.dir, "scratch", "hello"))

	start := time.Now()
	r := p.mustRun(t, "--progress", "plain", "up", "-d", "--build")
	t.Logf("up -d --build (two builds, one pull): %v", time.Since(start).Round(time.Millisecond))
	sizes := contextSizes(t, r.stderr)
	t.Logf("context sizes: busy %s, scratch %s", units.HumanSize(float64(sizes["busy"])), units.HumanSize(float64(sizes["scratch"])))
	if sizes["busy"] == 0 || sizes["busy"] > 100_000 {
		t.Errorf("busy's context is %d bytes: the ignored 5 MB big.bin was sent (or no size was printed)\n%s", sizes["busy"], r.stderr)
	}
	if sizes["scratch"] < 500_000 {
		t.Errorf("scratch's context is %d bytes, less than its program", sizes["scratch"])
	}
	if !strings.Contains(r.stdout, "busy     | Step 3/8 : RUN echo \"$MESSAGE\" > /message") {
		t.Errorf("the build output is not shown on standard output (as docker compose) behind the service's prefix:\n%s", r.stdout)
	}
	ps := p.ps(t)
	for _, s := range []string{"busy", "scratch", "pulled"} {
		if e := ps[p.name+"-"+s+"-1"]; e.State != "running" {
			t.Errorf("%s is not running: %+v", s, ps)
		}
	}
	if got := docker(t, "exec", p.name+"-busy-1", "cat", "/message"); got != "built by berth" {
		t.Errorf("the build argument did not reach the RUN step: /message is %q", got)
	}
	if got := docker(t, "exec", p.name+"-busy-1", "ls", "-A", "/app"); got != ".dockerignore\nDockerfile\napp.txt" {
		t.Errorf("/app holds %q, want the context less big.bin", got)
	}
	// the program may not have printed yet
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := docker(t, "logs", p.name+"-scratch-1")
		if got == "hello from scratch" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("scratch says %q", got)
			break
		}
	}
	labels := docker(t, "image", "inspect", "--format",
		`{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.image.builder"}}`, p.name+"-busy")
	if labels != p.name+" busy classic" {
		t.Errorf("labels of the built image: %q", labels)
	}
	for _, s := range []string{"busy", "scratch", "pulled"} {
		img := docker(t, "inspect", "--format", "{{.Image}}", p.name+"-"+s+"-1")
		label := docker(t, "inspect", "--format", `{{index .Config.Labels "com.docker.compose.image"}}`, p.name+"-"+s+"-1")
		if img != label {
			t.Errorf("%s: com.docker.compose.image is %q, the container runs %q", s, label, img)
		}
	}
	first := p.containerIDs(t)

	// again: nothing built, pulled or recreated
	start = time.Now()
	r = p.mustRun(t, "--progress", "plain", "up", "-d")
	t.Logf("no-op up -d: %v", time.Since(start).Round(time.Millisecond))
	if strings.Contains(r.stderr, "Building") || strings.Contains(r.stderr, "Pulling") {
		t.Errorf("a second up built or pulled:\n%s", r.stderr)
	}
	if got := p.containerIDs(t); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Errorf("a second up recreated containers: %v → %v", first, got)
	}
	// up --build with nothing changed: rebuilt from the cache, same
	// images, nothing recreated
	start = time.Now()
	p.mustRun(t, "--progress", "plain", "up", "-d", "--build")
	t.Logf("up -d --build, nothing changed (cached builds): %v", time.Since(start).Round(time.Millisecond))
	if got := p.containerIDs(t); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Errorf("up --build of unchanged sources recreated containers: %v → %v", first, got)
	}

	// a changed source file: only its service is recreated (and the old
	// image, untagged, is the test's to remove)
	oldBusy := imageID(p.name + "-busy")
	t.Cleanup(func() { removeImages(oldBusy) })
	p.writeFile(t, "busy/app.txt", "version 2\n")
	r = p.mustRun(t, "--progress", "plain", "up", "-d", "--build")
	after := p.containerIDs(t)
	if after[p.name+"-busy-1"] == first[p.name+"-busy-1"] {
		t.Errorf("busy was not recreated after its source changed:\n%s", r.stderr)
	}
	for _, s := range []string{"scratch", "pulled"} {
		if n := p.name + "-" + s + "-1"; after[n] != first[n] {
			t.Errorf("%s was recreated, though its image did not change", s)
		}
	}
	if got := docker(t, "exec", p.name+"-busy-1", "cat", "/app/app.txt"); got != "version 2" {
		t.Errorf("the new busy has app.txt %q", got)
	}

	// down --rmi local: the built images go, the pulled one stays
	p.mustRun(t, "down", "--rmi", "local")
	for _, ref := range built {
		if id := imageID(ref); id != "" {
			t.Errorf("image %s is still there after down --rmi local", ref)
		}
	}
	if imageID(remote) == "" {
		t.Errorf("down --rmi local removed the pulled image %s", remote)
	}
}

// TestImagesPullFailure: an image that no registry has fails pull and up
// with a message that names the service and the image.
func TestImagesPullFailure(t *testing.T) {
	requireEngine(t)
	reg := startRegistry(t)
	p := newProject(t, nil)
	missing := reg + "/berthe2e/" + p.name + "-missing:1"
	p.writeFile(t, "compose.yaml", fmt.Sprintf("services:\n  ghost:\n    image: %s\n  fine:\n    image: %s\n", missing, busyboxImage()))
	for _, args := range [][]string{{"pull"}, {"up", "-d"}} {
		r := p.run(args...)
		if r.code == 0 {
			t.Errorf("berth %s succeeded with a missing image", args[0])
			continue
		}
		if !strings.Contains(r.stderr, "service ghost") || !strings.Contains(r.stderr, missing) {
			t.Errorf("berth %s: the error does not name the service and the image:\n%s", args[0], r.stderr)
		}
	}
	if r := p.run("pull", "--ignore-pull-failures"); r.code != 0 {
		t.Errorf("pull --ignore-pull-failures: exit %d\n%s", r.code, r.stderr)
	}
	if ps := p.ps(t, "-a"); len(ps) != 0 {
		t.Errorf("a failed up created containers: %+v", ps)
	}
}

// TestImagesPushRoundTrip: build, push to the local registry, remove the
// local image, pull it back: the same image.
func TestImagesPushRoundTrip(t *testing.T) {
	requireEngine(t)
	reg := startRegistry(t)
	p := newProject(t, nil)
	ref := reg + "/berthe2e/" + p.name + ":1"
	extra := reg + "/berthe2e/" + p.name + ":extra"
	// db runs a tag of its own of the test image, which down --rmi all
	// removes (the test image itself keeps its other tags)
	dbImage := p.name + "-db:1"
	docker(t, "tag", busyboxImage(), dbImage)
	t.Cleanup(func() { removeImages(ref, extra, dbImage) })
	p.writeFile(t, "compose.yaml", fmt.Sprintf(`
services:
  app:
    image: %s
    build:
      context: .
      dockerfile_inline: |
        FROM %s
        RUN echo pushed > /where
      tags: [%q]
  db:
    image: %s
`, ref, busyboxImage(), extra, dbImage))

	p.mustRun(t, "build", "-q")
	id := imageID(ref)
	if id == "" || imageID(extra) != id {
		t.Fatalf("build made %q (%s) and %q (%s)", ref, id, extra, imageID(extra))
	}
	r := p.mustRun(t, "--progress", "plain", "push")
	if !strings.Contains(r.stderr, "Skipped") {
		t.Errorf("push does not say it skipped db:\n%s", r.stderr)
	}
	docker(t, "rmi", ref, extra)
	r = p.mustRun(t, "--progress", "plain", "pull", "app")
	if !strings.Contains(r.stderr, " Image "+ref+" Pulled \n") {
		t.Errorf("pull output:\n%s", r.stderr)
	}
	if got := imageID(ref); got != id {
		t.Errorf("pulled back %q, pushed %q", got, id)
	}
	// up uses it as it is: no build (the image is present)
	r = p.mustRun(t, "--progress", "plain", "run", "--rm", "app", "cat", "/where")
	if r.stdout != "pushed\n" || strings.Contains(r.stderr, "Building") {
		t.Errorf("run: stdout %q, stderr:\n%s", r.stdout, r.stderr)
	}
	// down --rmi all removes every service's image, and the build's tags
	p.mustRun(t, "down", "--rmi", "all")
	for _, r := range []string{ref, extra, dbImage} {
		if imageID(r) != "" {
			t.Errorf("%s is still there after down --rmi all", r)
		}
	}
	if imageID(busyboxImage()) == "" {
		t.Fatalf("down --rmi all removed the shared test image")
	}
}
