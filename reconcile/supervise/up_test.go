package supervise

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

const upCompose = `
name: sv
services:
  server:
    image: busybox
    restart: always
  migrate:
    image: busybox
  tests:
    image: busybox
    restart: on-failure
    depends_on: [server, migrate]
`

// upRun is an Up running in the background.
type upRun struct {
	code    int
	err     error
	done    chan struct{}
	out     *recorder
	notices *syncBuffer
}

func startUp(t *testing.T, ctx context.Context, b service.Backend, o UpOptions) *upRun {
	t.Helper()
	p := load(t, upCompose)
	r := &upRun{done: make(chan struct{}), out: &recorder{}, notices: &syncBuffer{}}
	o.Output = r.out.start
	o.Notices = r.notices
	if o.Since.IsZero() {
		o.Since = time.Now().Add(-time.Second)
	}
	if o.RestartGrace == 0 {
		o.RestartGrace = 20 * time.Millisecond
	}
	go func() {
		defer close(r.done)
		r.code, r.err = Up(ctx, b, p, o)
	}()
	return r
}

func (r *upRun) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Up did not return")
	}
}

// waitShown waits until Up has listed the containers it shows.
func (r *upRun) waitShown(t *testing.T) {
	t.Helper()
	waitFor(t, "the containers shown", func() bool { r.out.mu.Lock(); defer r.out.mu.Unlock(); return len(r.out.shown) > 0 })
}

// TestUpEnds drives an attached up on the fake: which exit ends it, with
// which code, and what is stopped.
func TestUpEnds(t *testing.T) {
	tests := []struct {
		name string
		o    UpOptions
		// exits are the containers that exit, in order, with their codes
		exits []struct {
			name string
			code int
		}
		wantCode    int
		wantStopped bool
		wantNotice  string
	}{
		{name: "exit-code-from", o: UpOptions{ExitCodeFrom: "tests"},
			exits: []struct {
				name string
				code int
			}{{"sv-tests-1", 7}},
			wantCode: 7, wantStopped: true, wantNotice: reasonExit},
		{name: "exit-code-from after a one-shot that completed", o: UpOptions{ExitCodeFrom: "tests"},
			exits: []struct {
				name string
				code int
			}{{"sv-migrate-1", 0}, {"sv-tests-1", 4}},
			wantCode: 4, wantStopped: true, wantNotice: reasonExit},
		{name: "exit-code-from, another service stops first", o: UpOptions{ExitCodeFrom: "tests"},
			exits: []struct {
				name string
				code int
			}{{"sv-server-1", 1}},
			wantCode: 143, wantStopped: true, wantNotice: reasonExit}, // tests then stopped: SIGTERM
		{name: "abort-on-container-exit", o: UpOptions{AbortOnExit: true},
			exits: []struct {
				name string
				code int
			}{{"sv-server-1", 3}},
			wantCode: 3, wantStopped: true, wantNotice: reasonExit},
		{name: "abort-on-container-failure, success goes on", o: UpOptions{AbortOnFailure: true},
			exits: []struct {
				name string
				code int
			}{{"sv-migrate-1", 0}, {"sv-server-1", 2}},
			wantCode: 2, wantStopped: true, wantNotice: reasonExit},
		{name: "no abort: all stop", o: UpOptions{},
			exits: []struct {
				name string
				code int
			}{{"sv-migrate-1", 0}, {"sv-server-1", 5}, {"sv-tests-1", 6}},
			wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			up(t, f, load(t, upCompose))
			f.ResetCalls()
			r := startUp(t, t.Context(), f, tt.o)
			for _, e := range tt.exits {
				if err := f.Exit(e.name, e.code); err != nil {
					t.Fatal(err)
				}
				status := e.name + " exited with code " + strconv.Itoa(e.code)
				waitFor(t, status, func() bool { return strings.Contains(r.out.text(), status) })
			}
			r.wait(t)
			if r.err != nil || r.code != tt.wantCode {
				t.Errorf("Up = %d, %v; want %d", r.code, r.err, tt.wantCode)
			}
			stops := ops(f, "StopContainer")
			if tt.wantStopped != (len(stops) > 0) {
				t.Errorf("stops %v, want some: %v", stops, tt.wantStopped)
			}
			for _, name := range []string{"sv-server-1", "sv-tests-1", "sv-migrate-1"} {
				if tt.wantStopped && running(f, name)() {
					t.Errorf("%s still runs after the abort", name)
				}
			}
			if got := strings.TrimSpace(r.notices.String()); got != tt.wantNotice {
				t.Errorf("notices %q, want %q", got, tt.wantNotice)
			}
		})
	}
}

// TestUpInterrupted: Ctrl+C (ctx done) stops every container gracefully
// and the code is 130; a second one kills them (plan steps) and cuts the
// stop short.
func TestUpInterrupted(t *testing.T) {
	for _, second := range []bool{false, true} {
		t.Run(map[bool]string{false: "once", true: "twice"}[second], func(t *testing.T) {
			f := newFake()
			up(t, f, load(t, upCompose))
			f.ResetCalls()
			ctx, cancel := context.WithCancel(t.Context())
			sigs := make(chan os.Signal, 1)
			listening, stopped := make(chan struct{}), make(chan struct{})
			o := UpOptions{Interrupts: func() (<-chan os.Signal, func()) {
				close(listening)
				return sigs, func() { close(stopped) }
			}}
			stopCalled := make(chan []string, 1)
			if second {
				// a stop that hangs until cut short
				o.Stop = func(ctx context.Context, services []string) error {
					stopCalled <- services
					<-ctx.Done()
					return ctx.Err()
				}
			}
			r := startUp(t, ctx, f, o)
			r.waitShown(t)
			cancel()
			if second {
				select {
				case got := <-stopCalled:
					if strings.Join(got, ",") != "migrate,server,tests" {
						t.Errorf("Stop(%v), want every service", got)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Ctrl+C did not stop the services")
				}
				<-listening // before Stop
				sigs <- syscall.SIGINT
			}
			r.wait(t)
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				t.Fatal("Up still listens to interrupts")
			}
			if r.err != nil || r.code != 130 {
				t.Errorf("Up = %d, %v; want 130", r.code, r.err)
			}
			wantNotice := reasonInterrupt
			want := "StopContainer"
			if second {
				wantNotice += "\nKilling..."
				want = "KillContainer"
			}
			if got := strings.TrimSpace(r.notices.String()); got != wantNotice {
				t.Errorf("notices %q, want %q", got, wantNotice)
			}
			calls := ops(f, want)
			if len(calls) != 3 {
				t.Errorf("%s calls %v, want one per container", want, calls)
			}
			if second && !slices.ContainsFunc(calls, func(c string) bool { return strings.HasSuffix(c, "SIGKILL") }) {
				t.Errorf("kills %v: want SIGKILL", calls)
			}
			for _, name := range []string{"sv-server-1", "sv-tests-1", "sv-migrate-1"} {
				if running(f, name)() {
					t.Errorf("%s still runs", name)
				}
			}
		})
	}
}

// TestUpOutput: the output shown is the lines after Since, each run of a
// container a restart policy brings back once, then its last exit.
func TestUpOutput(t *testing.T) {
	f := newFake()
	up(t, f, load(t, upCompose))
	_ = f.Log("sv-tests-1", "stdout", "old line")
	time.Sleep(1100 * time.Millisecond) // Since has a second's precision
	r := startUp(t, t.Context(), f, UpOptions{ExitCodeFrom: "tests", Services: []string{"tests"}, RestartGrace: time.Second, Since: time.Now()})
	r.waitShown(t)
	_ = f.Log("sv-tests-1", "stdout", "run 1")
	waitFor(t, "run 1", func() bool { return strings.Contains(r.out.text(), "run 1") })
	// exits and is restarted at once, as by its restart policy
	if err := f.Exit("sv-tests-1", 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // seen to stop; not yet inspected
	if err := f.StartContainer(t.Context(), "sv-tests-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart", func() bool { return strings.Contains(r.out.text(), "restarting") })
	_ = f.Log("sv-tests-1", "stderr", "run 2")
	waitFor(t, "run 2", func() bool { return strings.Contains(r.out.text(), "run 2") })
	if err := f.Exit("sv-tests-1", 0); err != nil {
		t.Fatal(err)
	}
	r.wait(t)
	if r.err != nil || r.code != 0 {
		t.Errorf("Up = %d, %v; want 0", r.code, r.err)
	}
	want := "sv-tests-1: run 1\nsv-tests-1 exited with code 1 (restarting)\nsv-tests-1: run 2\nsv-tests-1 exited with code 0"
	if got := r.out.text(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if got := strings.Join(r.out.shown, ","); got != "sv-tests-1" {
		t.Errorf("shown %s: up tests shows tests only", got)
	}
}

// TestUpUnsupported: a backend that can neither follow logs nor wait is
// refused with ErrUnsupported, before anything is listed.
func TestUpUnsupported(t *testing.T) {
	f := newFake()
	_, err := Up(t.Context(), bare{f}, load(t, upCompose), UpOptions{Output: (&recorder{}).start})
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "use -d") {
		t.Errorf("err = %v", err)
	}
	if _, err := Up(t.Context(), f, load(t, upCompose), UpOptions{}); err == nil {
		t.Error("Up without Output: no error")
	}
	f.Fail("ListContainers", "", errors.New("boom"))
	if _, err := Up(t.Context(), f, load(t, upCompose), UpOptions{Output: (&recorder{}).start}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failed listing: %v", err)
	}
}

// TestShown picks the containers whose output an attached up shows.
func TestShown(t *testing.T) {
	p := load(t, upCompose+`
  quiet:
    image: busybox
    attach: false
`)
	var cs []service.Container
	for _, s := range []string{"migrate", "quiet", "server", "tests"} {
		cs = append(cs, service.Container{Name: "sv-" + s + "-1", Labels: map[string]string{service.LabelService: s}})
	}
	tests := []struct {
		name string
		o    UpOptions
		want string
	}{
		{"all but attach: false", UpOptions{}, "migrate,server,tests"},
		{"the services named", UpOptions{Services: []string{"tests"}}, "tests"},
		{"with their dependencies", UpOptions{Services: []string{"tests"}, AttachDependencies: true}, "migrate,server,tests"},
		{"--attach", UpOptions{Attach: []string{"server", "quiet"}}, "quiet,server"},
		{"--no-attach", UpOptions{NoAttach: []string{"server"}}, "migrate,tests"},
		{"--exit-code-from is always shown", UpOptions{NoAttach: []string{"tests"}, ExitCodeFrom: "tests"}, "migrate,server,tests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Shown(p, cs, tt.o) {
				got = append(got, c.Labels[service.LabelService])
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("Shown = %v, want %s", got, tt.want)
			}
		})
	}
}

var _ service.Backend = bare{servicetest.NewFake()}
