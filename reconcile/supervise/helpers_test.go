package supervise

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// load writes compose into a temporary project directory and loads it.
func load(t *testing.T, compose string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(t.Context(), project.Options{WorkingDir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newFake returns a fake with busybox.
func newFake() *servicetest.Fake {
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	return f
}

// up converges p on b: every service's containers created and running.
func up(t *testing.T, b service.Backend, p *project.Project) {
	t.Helper()
	if err := reconcile.Converge(t.Context(), b, p, reconcile.Options{}, reconcile.ApplyOptions{}, false, nil); err != nil {
		t.Fatalf("up: %v", err)
	}
}

// ops lists the fake's calls as "Op Object [Detail]", those of the ops
// named only (all when none).
func ops(f *servicetest.Fake, only ...string) []string {
	var out []string
	for _, c := range f.Calls() {
		if len(only) == 0 || contains(only, c.Op) {
			out = append(out, c.String())
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running reports whether the fake's container name runs.
func running(f *servicetest.Fake, name string) func() bool {
	return func() bool {
		c, ok := f.Container(name)
		return ok && c.State == service.StateRunning
	}
}

// recorder is an Output that keeps what it is given: "name: line" for
// each line, "name status" for each status.
type recorder struct {
	mu    sync.Mutex
	shown []string
	lines []string
}

func (r *recorder) start(shown []service.Container) Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range shown {
		r.shown = append(r.shown, c.Name)
	}
	return r
}

func (r *recorder) Follow(ctx context.Context, l service.Logger, c service.Container, opts service.LogOptions) (time.Time, error) {
	if !opts.Timestamps {
		panic("Follow without timestamps")
	}
	pr, pw := io.Pipe()
	var last time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ts, line, _ := strings.Cut(sc.Text(), " ")
			if tm, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				last = tm
			}
			r.mu.Lock()
			r.lines = append(r.lines, c.Name+": "+line)
			r.mu.Unlock()
		}
	}()
	err := l.Logs(ctx, c.ID, opts, pw, pw)
	pw.Close()
	<-done
	return last, err
}

func (r *recorder) Status(c service.Container, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, c.Name+" "+msg)
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// bare is a backend with the contract's methods only (no logs, attach,
// exec, signals or waits).
type bare struct{ service.Backend }

// fakeTerminal is a Terminal that records what it is asked.
type fakeTerminal struct {
	mu                 sync.Mutex
	raw, restored      int
	sized, sizeStopped int
	resize             chan service.TerminalSize
}

func (t *fakeTerminal) MakeRaw() func() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.raw++
	return func() { t.mu.Lock(); t.restored++; t.mu.Unlock() }
}

func (t *fakeTerminal) Size() (service.TerminalSize, <-chan service.TerminalSize, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sized++
	return service.TerminalSize{Rows: 24, Cols: 80}, t.resize, func() { t.mu.Lock(); t.sizeStopped++; t.mu.Unlock() }
}

func (t *fakeTerminal) counts() [4]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return [4]int{t.raw, t.restored, t.sized, t.sizeStopped}
}
