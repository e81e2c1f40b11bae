package supervise

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

// TestAttach attaches to a running container on the fake: its exit code,
// Ctrl+C passed on as SIGINT (a plan step) or detaching, and a second
// Ctrl+C when the container ignores the first.
func TestAttach(t *testing.T) {
	tests := []struct {
		name     string
		sigProxy bool
		// interrupt cancels ctx; killFails makes KillContainer fail
		interrupt bool
		killFails error
		second    bool
		wantCode  int
		wantErr   string
		wantKill  bool
	}{
		{name: "exit code", wantCode: 5},
		{name: "Ctrl+C passed on", sigProxy: true, interrupt: true, wantCode: 130, wantKill: true}, // 128+SIGINT
		{name: "Ctrl+C detaches", interrupt: true, wantCode: 0},
		{name: "signal ignored, second Ctrl+C", sigProxy: true, interrupt: true, killFails: service.ErrConflict, second: true, wantCode: 130, wantKill: true},
		{name: "signal fails", sigProxy: true, interrupt: true, killFails: errors.New("boom"), wantErr: "pass Ctrl+C to at-web-1: boom", wantKill: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			p := load(t, "name: at\nservices:\n  web:\n    image: busybox\n")
			up(t, f, p)
			f.ResetCalls()
			if tt.killFails != nil {
				f.Fail("KillContainer", "", tt.killFails)
			}
			c, _ := f.Container("at-web-1")
			b := &attachRecorder{Fake: f}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := &syncBuffer{}
			sigs := make(chan os.Signal, 1)
			listening := make(chan struct{})
			o := AttachOptions{Stdout: out, Stderr: out, SigProxy: tt.sigProxy,
				Interrupts: func() (<-chan os.Signal, func()) { close(listening); return sigs, func() {} }}
			type result struct {
				code int
				err  error
			}
			res := make(chan result, 1)
			go func() {
				code, err := Attach(ctx, b, c, o)
				res <- result{code, err}
			}()
			waitFor(t, "the attach", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.stdins) > 0 })
			_ = f.Log("at-web-1", "stdout", "live")
			waitFor(t, "the output", func() bool { return out.String() == "live\n" })
			if tt.interrupt {
				cancel()
			} else {
				_ = f.Exit("at-web-1", 5)
			}
			if tt.second {
				<-listening
				sigs <- syscall.SIGINT
			}
			var r result
			select {
			case r = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("Attach did not return")
			}
			if r.code != tt.wantCode || (r.err == nil) != (tt.wantErr == "") || r.err != nil && !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Errorf("Attach = %d, %v; want %d, %q", r.code, r.err, tt.wantCode, tt.wantErr)
			}
			kills := ops(f, "KillContainer")
			if tt.wantKill != slices.Equal(kills, []string{"KillContainer at-web-1 SIGINT"}) {
				t.Errorf("kills %v, want SIGINT: %v", kills, tt.wantKill)
			}
		})
	}
}

// TestAttachUnsupported: a backend that cannot attach says so.
func TestAttachUnsupported(t *testing.T) {
	_, err := Attach(t.Context(), bare{newFake()}, service.Container{ID: "x"}, AttachOptions{})
	if !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("err = %v", err)
	}
	f := newFake()
	if _, err := Attach(t.Context(), f, service.Container{ID: "nosuch", Name: "nosuch"}, AttachOptions{}); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), "attach to nosuch") {
		t.Errorf("attach to a missing container: %v", err)
	}
}

// TestExec runs commands on the fake's ExecHook: the spec given, stdin,
// the terminal, the exit code.
func TestExec(t *testing.T) {
	tests := []struct {
		name      string
		spec      service.ExecSpec
		wantStdin bool
		wantTerm  [4]int
		wantCode  int
	}{
		{"exit code", service.ExecSpec{Cmd: []string{"false"}}, true, [4]int{}, 1},
		{"tty", service.ExecSpec{Cmd: []string{"sh"}, Tty: true}, true, [4]int{1, 1, 1, 1}, 0},
		{"detached", service.ExecSpec{Cmd: []string{"sh"}, Tty: true, Detach: true}, false, [4]int{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			p := load(t, "name: ex\nservices:\n  web:\n    image: busybox\n")
			up(t, f, p)
			var got service.ExecSpec
			var gotStdin io.Reader
			f.ExecHook = func(ctx context.Context, c service.Container, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
				got, gotStdin = spec, stdin
				if spec.Cmd[0] == "false" {
					return 1, nil
				}
				return 0, nil
			}
			c, _ := f.Container("ex-web-1")
			term := &fakeTerminal{}
			code, err := Exec(t.Context(), f, c, ExecOptions{Spec: tt.spec, Stdin: strings.NewReader("x"), Stdout: io.Discard, Stderr: io.Discard, Terminal: term})
			if err != nil || code != tt.wantCode {
				t.Errorf("Exec = %d, %v; want %d", code, err, tt.wantCode)
			}
			if (gotStdin != nil) != tt.wantStdin {
				t.Errorf("stdin given: %v, want %v", gotStdin != nil, tt.wantStdin)
			}
			if term.counts() != tt.wantTerm {
				t.Errorf("terminal %v, want %v", term.counts(), tt.wantTerm)
			}
			if tt.wantTerm[2] > 0 && got.Size != (service.TerminalSize{Rows: 24, Cols: 80}) {
				t.Errorf("size %v: the terminal's is given", got.Size)
			}
		})
	}
	if _, err := Exec(t.Context(), bare{newFake()}, service.Container{}, ExecOptions{}); !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("a backend without exec: %v", err)
	}
}
