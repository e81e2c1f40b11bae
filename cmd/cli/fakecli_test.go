package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// testCompose is the project the command tests run: web (two replicas, a
// published port) depends on db (a volume, a profile-less service), and a
// tool in a profile.
const testCompose = `name: t
services:
  web:
    image: busybox
    command: ["httpd", "-f"]
    ports: ["80"]
    depends_on: [db]
    deploy: {replicas: 2}
  db:
    image: busybox
    environment: {MODE: "${MODE:-dev}"}
    volumes: [data:/data]
  tool:
    image: alpine
    profiles: [tools]
volumes:
  data: {}
`

// fakeCLI runs berth's commands in a project directory on one in-memory
// fake.
type fakeCLI struct {
	t   *testing.T
	f   *servicetest.Fake
	b   service.Backend // f, or a wrapper of it
	dir string
	env []string
	in  string
}

// newFakeCLI writes compose in a new directory; the fake has busybox and
// alpine.
func newFakeCLI(t *testing.T, compose string) *fakeCLI {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	f.AddImage("alpine", "sha256:a0")
	return &fakeCLI{t: t, f: f, b: f, dir: dir, env: []string{"BERTH_NO_CACHE=1", "HOME=" + t.TempDir()}}
}

// newFakeCLIFiles writes files (compose.yaml, a Dockerfile, ...) in a new
// directory and returns a CLI on a new fake there, with no images.
func newFakeCLIFiles(t *testing.T, files map[string]string) *fakeCLI {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := servicetest.NewFake()
	return &fakeCLI{t: t, f: f, b: f, dir: dir, env: []string{"BERTH_NO_CACHE=1", "HOME=" + t.TempDir()}}
}

// upFakeCLI is newFakeCLI with testCompose brought up (up -d).
func upFakeCLI(t *testing.T) *fakeCLI {
	t.Helper()
	c := newFakeCLI(t, testCompose)
	c.ok("up", "-d")
	c.f.ResetCalls()
	return c
}

// run runs berth with args (bounded by 20s) and returns its output and
// exit code.
func (c *fakeCLI) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.runCtx(ctx, args...)
}

func (c *fakeCLI) runCtx(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errOut syncBuffer // progress and pull output write at once
	g := &globals{stdio: Stdio{In: strings.NewReader(c.in), Out: &out, Err: &errOut}, env: c.env, wd: c.dir,
		newBackend: func(context.Context) (service.Backend, func(), error) { return c.b, func() {}, nil }}
	code = runWith(ctx, g, args)
	return out.String(), errOut.String(), code
}

// ok runs berth and fails the test unless it exits 0; it returns stdout.
func (c *fakeCLI) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// mustRun is ok returning both outputs.
func (c *fakeCLI) mustRun(args ...string) (stdout, stderr string) {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// syncBuffer is a buffer several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fails runs berth, wants exit code, and a stderr containing msg.
func (c *fakeCLI) fails(code int, msg string, args ...string) {
	c.t.Helper()
	out, errOut, got := c.run(args...)
	if got != code || !strings.Contains(errOut, msg) {
		c.t.Errorf("berth %s: exit %d, stderr %q (stdout %q); want exit %d and %q", strings.Join(args, " "), got, errOut, out, code, msg)
	}
}

// calls are the fake's calls of op since the last reset, by object.
func (c *fakeCLI) calls(op string) []string {
	var out []string
	for _, call := range c.f.Calls() {
		if call.Op == op {
			out = append(out, call.Object)
		}
	}
	slices.Sort(out)
	return out
}

// state is a container's state on the fake ("" when it has none).
func (c *fakeCLI) state(name string) string {
	ct, ok := c.f.Container(name)
	if !ok {
		return ""
	}
	return ct.State
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// cliResult is what a command printed and its exit code.
type cliResult struct {
	out, err *syncBuffer
	code     int
	done     chan struct{}
}

// start runs berth with args in the background, stdin given, with plain
// progress.
func (c *fakeCLI) start(ctx context.Context, stdin string, args ...string) *cliResult {
	r := &cliResult{out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{})}
	g := &globals{stdio: Stdio{In: strings.NewReader(stdin), Out: r.out, Err: r.err}, env: append(slices.Clip(c.env), "COMPOSE_PROGRESS=plain"), wd: c.dir,
		newBackend: func(context.Context) (service.Backend, func(), error) { return c.b, func() {}, nil }}
	go func() {
		defer close(r.done)
		r.code = runWith(ctx, g, args)
	}()
	return r
}

// result runs berth with args and waits for it.
func (c *fakeCLI) result(args ...string) *cliResult {
	c.t.Helper()
	r := c.start(c.t.Context(), "", args...)
	r.wait(c.t)
	return r
}

// wait waits for the command to end.
func (r *cliResult) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the command did not end\nstdout:\n%s\nstderr:\n%s", r.out, r.err)
	}
}

// ops lists the fake's mutating calls of the ops named, "Op Object".
func (c *fakeCLI) ops(only ...string) []string {
	var out []string
	for _, call := range c.f.Calls() {
		if contains(only, call.Op) {
			out = append(out, call.Op+" "+call.Object)
		}
	}
	return out
}

// waitRunning waits until the container runs.
func (c *fakeCLI) waitRunning(name string) {
	c.t.Helper()
	waitUntil(c.t, name+" running", func() bool { return c.state(name) == service.StateRunning })
}

// oneOff is the name of the project's one-off container (waiting for
// there to be one).
func (c *fakeCLI) oneOff() string {
	c.t.Helper()
	var name string
	waitUntil(c.t, "a one-off container", func() bool {
		cs, _ := c.f.ListContainers(c.t.Context(), service.Filter{All: true, Labels: map[string]string{service.LabelOneoff: service.OneoffTrue}})
		if len(cs) == 1 {
			name = cs[0].Name
		}
		return name != ""
	})
	return name
}

// waitUntil polls cond until it holds, failing the test after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
