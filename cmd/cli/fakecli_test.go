package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// fakeCLI runs berth's commands on servicetest's fake, in a project
// directory of its own.
type fakeCLI struct {
	t   *testing.T
	dir string
	f   *servicetest.Fake
	b   service.Backend // f, or a wrapper of it
	env []string
}

func newFakeCLI(t *testing.T, compose string) *fakeCLI {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	return &fakeCLI{t: t, dir: dir, f: f, b: f, env: []string{"BERTH_NO_CACHE=1", "HOME=" + t.TempDir(), "COMPOSE_PROGRESS=plain"}}
}

// cliResult is what a command printed and its exit code.
type cliResult struct {
	out, err *lockedBuffer
	code     int
	done     chan struct{}
}

// start runs berth with args in the background, stdin given.
func (c *fakeCLI) start(ctx context.Context, stdin string, args ...string) *cliResult {
	r := &cliResult{out: &lockedBuffer{}, err: &lockedBuffer{}, done: make(chan struct{})}
	g := &globals{stdio: Stdio{In: strings.NewReader(stdin), Out: r.out, Err: r.err}, env: c.env, wd: c.dir,
		newBackend: func(context.Context) (service.Backend, func(), error) { return c.b, func() {}, nil }}
	go func() {
		defer close(r.done)
		r.code = runWith(ctx, g, args)
	}()
	return r
}

// run runs berth with args and waits for it.
func (c *fakeCLI) run(args ...string) *cliResult {
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

// state is the fake's container's state ("" when there is none).
func (c *fakeCLI) state(name string) string {
	ct, ok := c.f.Container(name)
	if !ok {
		return ""
	}
	return ct.State
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

// lockedBuffer is a strings.Builder safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
