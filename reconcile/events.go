package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
)

// ProjectEvent is a container event as docker compose events reports it.
type ProjectEvent struct {
	// Time of the event.
	Time time.Time
	// Service is the container's service; Container its ID.
	Service, Container string
	// Action is the engine's action name ("start", "die", ...).
	Action string
	// Attributes are the event's attributes (name, image, exitCode,
	// signal, ...) and the container's labels, less docker compose's own
	// (com.docker.compose.*).
	Attributes map[string]string
}

// String renders the event as docker compose events does (attributes in
// name order): "2006-01-02 15:04:05.000000 container start <id> (image=x,
// name=p-web-1)".
func (e ProjectEvent) String() string {
	attrs := make([]string, 0, len(e.Attributes))
	for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
		attrs = append(attrs, k+"="+e.Attributes[k])
	}
	return fmt.Sprintf("%s container %s %s (%s)", e.Time.Format("2006-01-02 15:04:05.000000"), e.Action, e.Container, strings.Join(attrs, ", "))
}

// EventsOptions select the events Events reports.
type EventsOptions struct {
	// Services restricts them to these services' containers (none: all).
	Services []string
	// Since replays the past events the backend keeps from then on (zero:
	// from now on); Until ends the stream then (zero: no end).
	Since, Until time.Time
}

// Events calls fn with the events of project's containers (one-off
// containers left out, as docker compose does) until ctx is done, the
// stream ends at opts.Until, fn fails, or the stream fails. Since and
// Until need the backend's EventHistory.
func Events(ctx context.Context, b service.Backend, project string, opts EventsOptions, fn func(ProjectEvent) error) error {
	f := service.Filter{Labels: map[string]string{service.LabelProject: project}}
	var evs <-chan service.Event
	var errs <-chan error
	if !opts.Since.IsZero() || !opts.Until.IsZero() {
		h, ok := b.(service.EventHistory)
		if !ok {
			return fmt.Errorf("events --since and --until: this backend keeps no events: %w", service.ErrUnsupported)
		}
		evs, errs = h.EventsBetween(ctx, f, opts.Since, opts.Until)
	} else {
		es, ok := b.(service.EventSource)
		if !ok {
			return fmt.Errorf("this backend has no event stream: %w", service.ErrUnsupported)
		}
		evs, errs = es.Events(ctx, f)
	}
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				if errs == nil {
					return nil
				}
				select {
				case err := <-errs:
					if err != nil && ctx.Err() == nil {
						return err
					}
				case <-ctx.Done():
				}
				return nil
			}
			if ev.Labels[service.LabelOneoff] == service.OneoffTrue {
				continue
			}
			svc := ev.Labels[service.LabelService]
			if len(opts.Services) > 0 && !slices.Contains(opts.Services, svc) {
				continue
			}
			if err := fn(projectEvent(ev, svc)); err != nil {
				return err
			}
		case err, ok := <-errs:
			if ok && err != nil && ctx.Err() == nil {
				return err
			}
			if !ok {
				errs = nil // the events still queued come next
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// projectEvent is ev as docker compose reports it.
func projectEvent(ev service.Event, svc string) ProjectEvent {
	attrs := map[string]string{}
	for k, v := range ev.Labels {
		if !strings.HasPrefix(k, "com.docker.compose.") {
			attrs[k] = v
		}
	}
	maps.Copy(attrs, ev.Attributes)
	if ev.ContainerName != "" {
		attrs["name"] = ev.ContainerName
	}
	if ev.Action == "die" {
		attrs["exitCode"] = strconv.Itoa(ev.ExitCode)
	}
	return ProjectEvent{Time: ev.Time, Service: svc, Container: ev.ContainerID, Action: ev.Action, Attributes: attrs}
}

// ParseTimestamp reads a --since or --until value as the docker CLI does,
// relative to now: "" is the zero time; a Go duration ("10m", "1h30m")
// counts back from now; an RFC 3339 date and time ("2006-01-02T15:04:05Z",
// with an offset, or in now's zone without one, seconds and the time
// optional: "2006-01-02", "2006-01-02T15", "2006-01-02T15:04"); else Unix
// seconds with an optional fraction ("1700000000.5").
func ParseTimestamp(value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(value); err == nil && value != "0" {
		return now.Add(-d), nil
	}
	if t, ok := parseDate(value, now); ok {
		return t, nil
	}
	if secs, frac, _ := strings.Cut(value, "."); !strings.Contains(value, "-") && digits(secs) && (frac == "" || digits(frac)) && len(frac) <= 9 {
		sec, err := strconv.ParseInt(secs, 10, 64)
		if err == nil {
			ns, _ := strconv.Atoi((frac + "000000000")[:9])
			return time.Unix(sec, int64(ns)), nil
		}
	}
	return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", value)
}

// parseDate reads the date forms of ParseTimestamp.
func parseDate(value string, now time.Time) (time.Time, bool) {
	zoned := strings.ContainsAny(value, "zZ+") || strings.Count(value, "-") == 3
	var layouts []string
	switch {
	case strings.Contains(value, "T") && zoned:
		layouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15Z07:00"}
	case strings.Contains(value, "T"):
		layouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02T15"}
	case zoned:
		layouts = []string{"2006-01-02Z07:00"}
	default:
		layouts = []string{"2006-01-02"}
	}
	for _, l := range layouts {
		var t time.Time
		var err error
		if zoned {
			t, err = time.Parse(l, value)
		} else {
			t, err = time.ParseInLocation(l, value, now.Location())
		}
		if err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
