package service

import (
	"fmt"
	"time"
)

// StatusText is docker's Status column for a container in state ("Up 3
// minutes (healthy)", "Exited (0) 2 seconds ago", "Created", ...), as the
// engine's list writes it: the one rendering every backend and the CLI use.
// c needs State, Health, ExitCode, StartedAt and FinishedAt.
func StatusText(c Container, now time.Time) string {
	switch c.State {
	case StateCreated:
		return "Created"
	case StateRunning, StatePaused:
		s := "Up " + HumanDuration(now.Sub(c.StartedAt))
		if c.State == StatePaused {
			return s + " (Paused)"
		}
		switch c.Health {
		case HealthStarting:
			s += " (health: starting)"
		case HealthHealthy, HealthUnhealthy:
			s += " (" + c.Health + ")"
		}
		return s
	case StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, HumanDuration(now.Sub(c.FinishedAt)))
	case StateExited:
		if c.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", c.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, HumanDuration(now.Sub(c.FinishedAt)))
	case StateRemoving:
		return "Removal In Progress"
	case StateDead:
		return "Dead"
	}
	return c.State
}

// HumanDuration renders an age as docker does (go-units' HumanDuration:
// "Less than a second", "About a minute", "3 hours", ...); the service
// contract keeps to the standard library, and a test checks it against
// go-units.
func HumanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Hours() + 0.5); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", int(d.Hours())/24/365)
	}
}
