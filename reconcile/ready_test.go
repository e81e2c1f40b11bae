package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

func TestWaitConditions(t *testing.T) {
	p := load(t, `
services:
  migrate: {image: busybox}
  seed: {image: busybox, restart: "no"}
  db: {image: busybox, restart: always}
  worker: {image: busybox, deploy: {restart_policy: {condition: on-failure}}}
  job: {image: busybox, deploy: {restart_policy: {condition: none}}, restart: always}
  app:
    image: busybox
    restart: unless-stopped
    depends_on:
      seed: {condition: service_completed_successfully}
`)
	var cs []service.Container
	for _, s := range []string{"migrate", "seed", "db", "worker", "job", "app"} {
		cs = append(cs, service.Container{Name: "p-" + s + "-1", Labels: map[string]string{service.LabelService: s}})
	}
	got := WaitConditions(p, cs)
	want := map[string]string{"p-migrate-1": CondReady, "p-seed-1": CondCompleted, "p-db-1": CondRunningOrHealthy,
		"p-worker-1": CondRunningOrHealthy, "p-job-1": CondReady, "p-app-1": CondRunningOrHealthy}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func TestCheckReady(t *testing.T) {
	for _, tt := range []struct {
		c       service.Container
		ok, err bool
	}{
		{service.Container{State: service.StateExited, ExitCode: 0}, true, false},
		{service.Container{State: service.StateExited, ExitCode: 2}, false, true},
		{service.Container{State: service.StateRunning}, true, false},
		{service.Container{State: service.StateRunning, Health: service.HealthStarting}, false, false},
		{service.Container{State: service.StateRunning, Health: service.HealthUnhealthy}, false, true},
		{service.Container{State: service.StateCreated}, false, false},
	} {
		ok, err := Check(tt.c, CondReady)
		if ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("Check(%+v, ready) = %v, %v", tt.c, ok, err)
		}
	}
}

// TestWaitUpReport: a container that will never be ready is reported with
// its state, health, last probe output and last log lines.
func TestWaitUpReport(t *testing.T) {
	f := newFake(t)
	p := load(t, "services:\n  web: {image: busybox, restart: always}\n")
	if err := Converge(context.Background(), f, p, Options{}, ApplyOptions{}, false, nil); err != nil {
		t.Fatal(err)
	}
	c, _ := f.Container(p.Name + "-web-1")
	for i := 0; i < 25; i++ {
		_ = f.Log(c.ID, "stdout", "line "+string(rune('a'+i)))
	}
	if err := f.Exit(c.ID, 3); err != nil {
		t.Fatal(err)
	}
	err := WaitUp(context.Background(), f, p.Name, map[string]string{c.Name: CondRunningOrHealthy})
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("WaitUp: %v, want a NotReadyError", err)
	}
	msg := err.Error()
	for _, want := range []string{"service web is not ready", "container " + c.Name + ": exited, exit code 3", "last 20 log lines:", "line y"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "line e\n") {
		t.Errorf("more than 20 lines:\n%s", msg)
	}
}
