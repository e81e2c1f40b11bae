package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuiltinBuild builds a project's images on the built-in runtime: one
// FROM the test image with an ARG, WORKDIR, USER, COPY --chown and RUN
// steps (on a network of their own), one FROM scratch holding a static Go
// program. A second build is served from the cache; a failing RUN step
// fails the up with docker's message and leaves nothing behind.
func TestBuiltinBuild(t *testing.T) {
	files := map[string]string{
		"compose.yaml": `services:
  busy:
    build:
      context: busy
      args: {MESSAGE: built by berth}
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  scratch:
    build: scratch
    stop_signal: SIGKILL
  broken:
    build: broken
    profiles: [broken]
`,
		"busy/Dockerfile": `FROM ` + busyboxImage() + `
ARG MESSAGE=default
WORKDIR /work
RUN echo "$MESSAGE" > message && ip -4 -o addr show eth0 > net
COPY --chown=1000:1000 app.txt /app/
USER 1000
RUN id -u > /app/uid
`,
		"busy/app.txt":       "version 1\n",
		"scratch/Dockerfile": "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n",
		"broken/Dockerfile":  "FROM " + busyboxImage() + "\nRUN echo going wrong && false\n",
	}
	p := newBuiltinProject(t, files)
	buildStatic(t, helloSource, filepath.Join(p.dir, "scratch", "hello"))

	r := p.mustRun(t, "--progress", "plain", "up", "-d", "--build")
	if !strings.Contains(r.stdout, `Step 4/7 : RUN echo "$MESSAGE" > message`) {
		t.Errorf("the build output (standard output, as docker compose) does not show the RUN step:\n%s", r.stdout)
	}
	if got := p.mustRun(t, "exec", "-T", "busy", "cat", "/work/message").stdout; got != "built by berth\n" {
		t.Errorf("/work/message = %q: the build argument did not reach the RUN step", got)
	}
	if got := p.mustRun(t, "exec", "-T", "busy", "cat", "/work/net").stdout; !strings.Contains(got, "inet 10.") {
		t.Errorf("the RUN step had no bridge network: eth0 is %q", got)
	}
	if got := p.mustRun(t, "exec", "-T", "busy", "sh", "-c", "id -u; cat /app/uid; stat -c %u /app/app.txt").stdout; got != "1000\n1000\n1000\n" {
		t.Errorf("USER and COPY --chown: id, the RUN step's id, the owner are %q; want 1000 each", got)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := p.run("logs", "--no-log-prefix", "scratch").stdout
		if got == "hello from scratch\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("scratch says %q", got)
			break
		}
	}

	// Built again: every step from the cache, the same images.
	before := p.mustRun(t, "images", "-q").stdout
	r = p.mustRun(t, "--progress", "plain", "build")
	if n := strings.Count(r.stdout, "Using cache"); n < 2 {
		t.Errorf("a second build used the cache %d times, want the 2 RUN steps at least:\n%s", n, r.stdout)
	}
	if after := p.mustRun(t, "images", "-q").stdout; after != before {
		t.Errorf("a second build changed the images: %q, then %q", before, after)
	}

	r = p.run("--profile", "broken", "up", "-d", "--build", "broken")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "The command '/bin/sh -c echo going wrong && false' returned a non-zero code: 1") {
		t.Errorf("up of a failing build: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if ls := p.mustRun(t, "image", "ls").stdout; strings.Contains(ls, "berth-build") || strings.Contains(ls, p.name+"-broken") {
		t.Errorf("the builds left images behind:\n%s", ls)
	}
	p.mustRun(t, "down", "-t", "0", "--rmi", "local")
	if ls := p.mustRun(t, "image", "ls").stdout; strings.Contains(ls, p.name) {
		t.Errorf("down --rmi local left the built images:\n%s", ls)
	}
	if _, err := os.Stat(filepath.Join(builtinRootOf(p), "dns.pid")); err == nil {
		t.Errorf("the DNS server still runs after the build network went")
	}
}

// TestBuiltinPush builds an image on the built-in runtime, pushes it to a
// local registry, and runs it from another state root that pulls it; a
// third root builds FROM it, the build pulling the missing base.
func TestBuiltinPush(t *testing.T) {
	addr := startRegistry(t)
	ref := addr + "/berth-e2e/pushed:" + strings.ToLower(projectName("push"))
	p := newBuiltinProject(t, map[string]string{
		"compose.yaml": "services:\n  app:\n    build: .\n    image: " + ref + "\n",
		"Dockerfile":   "FROM " + busyboxImage() + "\nRUN echo built here > /built\nCMD [\"cat\", \"/built\"]\n",
	})
	p.mustRun(t, "build")
	r := p.mustRun(t, "push")
	if !strings.Contains(r.stderr+r.stdout, "digest: sha256:") {
		t.Errorf("push printed no digest:\n%s%s", r.stdout, r.stderr)
	}
	q := newBuiltinProject(t, map[string]string{"compose.yaml": "services:\n  app:\n    image: " + ref + "\n"})
	if out := q.mustRun(t, "run", "--rm", "app").stdout; out != "built here\n" {
		t.Errorf("the pulled image printed %q, want what its build wrote", out)
	}
	q.mustRun(t, "down", "--rmi", "all")
	// A build FROM an image the store lacks pulls it, as docker build.
	b := newBuiltinProject(t, map[string]string{
		"compose.yaml": "services:\n  app:\n    build: .\n",
		"Dockerfile":   "FROM " + ref + "\nRUN cat /built > /again\nCMD [\"cat\", \"/again\"]\n",
	})
	// (the build's output comes first on standard output, as docker compose)
	if out := b.mustRun(t, "run", "--rm", "--build", "app").stdout; !strings.HasSuffix(out, "\nbuilt here\n") {
		t.Errorf("an image built FROM a base pulled by the build printed %q", out)
	}
	b.mustRun(t, "down", "--rmi", "all")
	p.mustRun(t, "down", "--rmi", "all")
}
