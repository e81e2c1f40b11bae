package supervise

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

const runCompose = `
name: rn
services:
  tool:
    image: busybox
    environment: {GREETING: hi}
`

// attachRecorder is the fake with a terminal that can be resized and
// Attach calls recorded (what stdin they got).
type attachRecorder struct {
	*servicetest.Fake
	mu      sync.Mutex
	stdins  []io.Reader
	resized []service.TerminalSize
}

func (a *attachRecorder) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) (func() error, error) {
	a.mu.Lock()
	a.stdins = append(a.stdins, stdin)
	a.mu.Unlock()
	return a.Fake.Attach(ctx, id, stdin, stdout, stderr)
}

func (a *attachRecorder) ResizeTTY(ctx context.Context, id string, size service.TerminalSize) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resized = append(a.resized, size)
	return nil
}

// TestRun runs one-off containers on the fake: exit codes, --rm, -d,
// dry runs and failures, and what each leaves.
func TestRun(t *testing.T) {
	tests := []struct {
		name string
		o    RunOptions
		// exit is the code the container exits with once running (-1:
		// left running)
		exit     int
		fail     string // an operation of the fake that fails
		wantCode int
		wantErr  string
		wantOut  string
		// wantLeft: the container is still there afterwards
		wantLeft bool
		wantOps  []string
	}{
		{name: "exit code", o: RunOptions{}, exit: 3, wantCode: 3, wantLeft: true,
			wantOut: "hello\n", wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1"}},
		{name: "--rm removes", o: RunOptions{Remove: true}, exit: 0, wantOut: "hello\n",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1", "RemoveContainer rn-tool-run-s1"}},
		{name: "-d prints the ID", o: RunOptions{Detach: true}, exit: -1, wantLeft: true, wantOut: "ID\n",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1"}},
		{name: "-d --rm leaves it running", o: RunOptions{Detach: true, Remove: true}, exit: -1, wantLeft: true, wantOut: "ID\n",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1"}},
		{name: "-d --rm, start fails: removed", o: RunOptions{Detach: true, Remove: true}, fail: "StartContainer", wantErr: "boom",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1", "RemoveContainer rn-tool-run-s1"}},
		{name: "create fails", o: RunOptions{Remove: true}, fail: "CreateContainer", wantErr: "boom",
			wantOps: []string{"CreateContainer rn-tool-run-s1"}},
		{name: "attach fails, --rm: removed", o: RunOptions{Remove: true}, fail: "Attach", wantErr: "attach to rn-tool-run-s1: boom",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "RemoveContainer rn-tool-run-s1"}},
		{name: "start fails, --rm: removed", o: RunOptions{Remove: true}, fail: "StartContainer", wantErr: "boom",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1", "RemoveContainer rn-tool-run-s1"}},
		{name: "wait fails", o: RunOptions{}, fail: "WaitContainer", wantErr: "boom", wantLeft: true, wantOut: "hello\n",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1"}},
		{name: "wait cancelled: 130", o: RunOptions{}, fail: "WaitContainer canceled", wantCode: 130, wantLeft: true, wantOut: "hello\n",
			wantOps: []string{"CreateContainer rn-tool-run-s1", "StartContainer rn-tool-run-s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			p := load(t, runCompose)
			up(t, f, p)
			f.ResetCalls()
			switch tt.fail {
			case "":
			case "WaitContainer canceled":
				f.Fail("WaitContainer", "", context.Canceled)
			default:
				f.Fail(tt.fail, "", errors.New("boom"))
			}
			out := &syncBuffer{}
			created := 0
			o := tt.o
			o.OneOff = reconcile.OneOffOptions{Slug: "s1", Command: []string{"echo", "hello"}, Attach: !o.Detach, OpenStdin: true}
			o.Stdin, o.Stdout, o.Stderr = strings.NewReader(""), out, out
			o.Created = func() { created++ }
			type result struct {
				code int
				err  error
			}
			res := make(chan result, 1)
			go func() {
				code, err := Run(t.Context(), f, p, p.Service("tool"), o)
				res <- result{code, err}
			}()
			if tt.exit >= 0 && (tt.fail == "" || strings.HasPrefix(tt.fail, "WaitContainer")) {
				waitFor(t, "the one-off to run", running(f, "rn-tool-run-s1"))
				_ = f.Log("rn-tool-run-s1", "stdout", "hello")
				time.Sleep(20 * time.Millisecond)
				if err := f.Exit("rn-tool-run-s1", tt.exit); err != nil {
					t.Fatal(err)
				}
			}
			var r result
			select {
			case r = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			if r.code != tt.wantCode || (r.err == nil) != (tt.wantErr == "") || r.err != nil && !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Errorf("Run = %d, %v; want %d, %q", r.code, r.err, tt.wantCode, tt.wantErr)
			}
			if created != 1 {
				t.Errorf("Created called %d times, want once", created)
			}
			c, left := f.Container("rn-tool-run-s1")
			if left != tt.wantLeft {
				t.Errorf("container left: %v, want %v", left, tt.wantLeft)
			}
			wantOut := strings.ReplaceAll(tt.wantOut, "ID", c.ID)
			if out.String() != wantOut {
				t.Errorf("output %q, want %q", out.String(), wantOut)
			}
			if got := ops(f, "CreateContainer", "StartContainer", "RemoveContainer"); !slices.Equal(got, tt.wantOps) {
				t.Errorf("calls %v, want %v", got, tt.wantOps)
			}
			if left && (c.Labels[service.LabelOneoff] != service.OneoffTrue || strings.Join(must(f.ContainerSpec(c.Name)).Command, " ") != "echo hello") {
				t.Errorf("the one-off's labels %v", c.Labels)
			}
		})
	}
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("not found")
	}
	return v
}

// TestRunDryRun: the plan is printed, nothing changes.
func TestRunDryRun(t *testing.T) {
	f := newFake()
	p := load(t, runCompose)
	up(t, f, p)
	f.ResetCalls()
	var printed string
	code, err := Run(t.Context(), f, p, p.Service("tool"), RunOptions{DryRun: true, Detach: true,
		OneOff:    reconcile.OneOffOptions{Slug: "s1"},
		PrintPlan: func(plan *reconcile.Plan) { printed = plan.String() }})
	if code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if want := "#1 create container rn-tool-run-s1: one-off run of tool\n#2 start container rn-tool-run-s1 (after #1)\n"; printed != want {
		t.Errorf("plan:\n%s\nwant:\n%s", printed, want)
	}
	if calls := ops(f); len(calls) != 0 {
		t.Errorf("a dry run called %v", calls)
	}
}

// TestRunStreams: stdin goes to a container that keeps it open only; a
// TTY container puts the terminal in raw mode and follows its size.
func TestRunStreams(t *testing.T) {
	tests := []struct {
		name      string
		oneOff    reconcile.OneOffOptions
		wantStdin bool
		// raw, restored, sized, size stopped
		wantTerm    [4]int
		wantResized int
	}{
		{"stdin open", reconcile.OneOffOptions{OpenStdin: true, Attach: true}, true, [4]int{}, 0},
		{"stdin closed", reconcile.OneOffOptions{Attach: true}, false, [4]int{}, 0},
		{"tty", reconcile.OneOffOptions{OpenStdin: true, Attach: true, Tty: true}, true, [4]int{1, 1, 1, 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			b := &attachRecorder{Fake: f}
			p := load(t, runCompose)
			up(t, f, p)
			term := &fakeTerminal{resize: make(chan service.TerminalSize, 1)}
			term.resize <- service.TerminalSize{Rows: 50, Cols: 100}
			close(term.resize)
			stdin := strings.NewReader("input")
			tt.oneOff.Slug = "s1"
			done := make(chan error, 1)
			go func() {
				_, err := Run(t.Context(), b, p, p.Service("tool"), RunOptions{OneOff: tt.oneOff, Remove: true, Stdin: stdin, Stdout: io.Discard, Stderr: io.Discard, Terminal: term})
				done <- err
			}()
			waitFor(t, "the one-off to run", running(f, "rn-tool-run-s1"))
			waitFor(t, "the resizes", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.resized) >= tt.wantResized })
			_ = f.Exit("rn-tool-run-s1", 0)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := b.stdins[0] != nil; got != tt.wantStdin {
				t.Errorf("stdin given: %v, want %v", got, tt.wantStdin)
			}
			if got := term.counts(); got != tt.wantTerm {
				t.Errorf("terminal raw, restored, sized, stopped = %v, want %v", got, tt.wantTerm)
			}
			if len(b.resized) != tt.wantResized || tt.wantResized > 0 && b.resized[1] != (service.TerminalSize{Rows: 50, Cols: 100}) {
				t.Errorf("resized %v", b.resized)
			}
		})
	}
}

// TestRunUnsupported: a backend that cannot attach refuses an attached
// run, and --rm removes the container it made.
func TestRunUnsupported(t *testing.T) {
	f := newFake()
	p := load(t, runCompose)
	up(t, f, p)
	_, err := Run(t.Context(), bare{f}, p, p.Service("tool"), RunOptions{Remove: true, OneOff: reconcile.OneOffOptions{Slug: "s1", Attach: true}})
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "use -d") {
		t.Errorf("err = %v", err)
	}
	if _, ok := f.Container("rn-tool-run-s1"); ok {
		t.Error("--rm left the container")
	}
	if _, err := Run(t.Context(), f, p, p.Service("tool"), RunOptions{OneOff: reconcile.OneOffOptions{Publish: []string{"x:y:z:w"}}}); err == nil || !strings.Contains(err.Error(), "invalid -p") {
		t.Errorf("bad -p: %v", err)
	}
}
