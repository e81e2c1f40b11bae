package service

import (
	"testing"
	"time"

	units "github.com/docker/go-units"
)

// TestHumanDuration: the same text as go-units, which the engine uses, at
// every boundary and around it.
func TestHumanDuration(t *testing.T) {
	var ds []time.Duration
	for _, b := range []time.Duration{0, time.Second, time.Minute, time.Hour, 48 * time.Hour, 14 * 24 * time.Hour, 60 * 24 * time.Hour, 730 * 24 * time.Hour} {
		for _, delta := range []time.Duration{-time.Second, -time.Millisecond, 0, time.Millisecond, time.Second, 29 * time.Minute, 31 * time.Minute} {
			if d := b + delta; d >= 0 {
				ds = append(ds, d)
			}
		}
	}
	for d := time.Duration(0); d < 3*365*24*time.Hour; d = d*3/2 + 7*time.Second {
		ds = append(ds, d)
	}
	for _, d := range ds {
		if got, want := HumanDuration(d), units.HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, go-units says %q", d, got, want)
		}
	}
}

func TestStatusText(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		c    Container
		want string
	}{
		{Container{State: "created"}, "Created"},
		{Container{State: "running", StartedAt: now.Add(-3 * time.Second)}, "Up 3 seconds"},
		{Container{State: "running", StartedAt: now.Add(-time.Minute), Health: "starting"}, "Up About a minute (health: starting)"},
		{Container{State: "running", StartedAt: now.Add(-time.Minute), Health: "unhealthy"}, "Up About a minute (unhealthy)"},
		{Container{State: "paused", StartedAt: now.Add(-time.Hour)}, "Up About an hour (Paused)"},
		{Container{State: "exited", ExitCode: 3, FinishedAt: now.Add(-2 * time.Minute)}, "Exited (3) 2 minutes ago"},
		{Container{State: "exited", ExitCode: 1}, "Exited (1)"},
		{Container{State: "restarting", ExitCode: 1, FinishedAt: now.Add(-time.Second)}, "Restarting (1) 1 second ago"},
		{Container{State: "dead"}, "Dead"},
	} {
		if got := StatusText(tt.c, now); got != tt.want {
			t.Errorf("StatusText(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}
