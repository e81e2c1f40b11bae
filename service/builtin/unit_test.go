package builtin

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/records"
)

func TestParseSignal(t *testing.T) {
	cases := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "term": syscall.SIGTERM, "9": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1, "HUP": syscall.SIGHUP}
	for in, want := range cases {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SIGNOPE", "0", "99"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q): no error", bad)
		}
	}
}

func TestPolicyRestarts(t *testing.T) {
	cases := []struct {
		policy   service.RestartPolicy
		restarts int
		code     int
		want     bool
	}{
		{service.RestartPolicy{}, 0, 1, false},
		{service.RestartPolicy{Name: "no"}, 0, 1, false},
		{service.RestartPolicy{Name: "always"}, 9, 0, true},
		{service.RestartPolicy{Name: "unless-stopped"}, 0, 0, true},
		{service.RestartPolicy{Name: "on-failure"}, 100, 1, true},
		{service.RestartPolicy{Name: "on-failure"}, 0, 0, false},
		{service.RestartPolicy{Name: "on-failure", MaxRetries: 2}, 1, 1, true},
		{service.RestartPolicy{Name: "on-failure", MaxRetries: 2}, 2, 1, false},
	}
	var s shim
	for _, tc := range cases {
		r := &records.Container{Spec: service.ContainerSpec{Restart: tc.policy}, State: records.RunState{Restarts: tc.restarts}}
		if got := s.policyRestarts(r, tc.code); got != tc.want {
			t.Errorf("policy %+v after %d restarts, exit %d: restart %v, want %v", tc.policy, tc.restarts, tc.code, got, tc.want)
		}
	}
}

// TestEvents checks that Events follows the log from now on, filtered.
func TestEvents(t *testing.T) {
	b := &Backend{root: t.TempDir()}
	r := &records.Container{ID: strings.Repeat("a", 64), Name: "c1", Spec: service.ContainerSpec{Labels: map[string]string{"p": "x"}}}
	other := &records.Container{ID: strings.Repeat("b", 64), Name: "c2", Spec: service.ContainerSpec{Labels: map[string]string{"p": "y"}}}
	b.emit(r, "create", 0) // before: not seen
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, errs := b.Events(ctx, service.Filter{Labels: map[string]string{"p": "x"}})
	b.emit(other, "start", 0)
	b.emit(r, "start", 0)
	b.emit(r, "die", 3)
	for _, want := range []service.Event{{Action: "start", ContainerName: "c1"}, {Action: "die", ContainerName: "c1", ExitCode: 3}} {
		select {
		case e := <-evs:
			if e.Action != want.Action || e.ContainerName != want.ContainerName || e.ExitCode != want.ExitCode || e.ContainerID != r.ID {
				t.Errorf("event %+v, want %+v", e, want)
			}
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("no event %s", want.Action)
		}
	}
}
