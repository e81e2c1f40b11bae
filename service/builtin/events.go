package builtin

import (
	"context"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/eventlog"
	"github.com/berthdev/berth/service/builtin/records"
)

func (b *Backend) eventLog() string { return filepath.Join(b.root, "events.jsonl") }

// emit appends an event about r to the event log. Losing an event is not
// worth failing the operation that caused it, so errors are dropped.
func (b *Backend) emit(r *records.Container, action string, exitCode int) {
	eventlog.Append(b.eventLog(), eventlog.Line{Time: time.Now().UTC(), Action: action, ID: r.ID, Name: r.Name, Labels: r.Spec.Labels, ExitCode: exitCode, Image: r.Spec.Image})
}

// emitKill appends the kill event of signal sig sent to r.
func (b *Backend) emitKill(r *records.Container, sig int) {
	eventlog.Append(b.eventLog(), eventlog.Line{Time: time.Now().UTC(), Action: "kill", ID: r.ID, Name: r.Name, Labels: r.Spec.Labels, Image: r.Spec.Image, Signal: strconv.Itoa(sig)})
}

// Events implements service.EventSource by following the event log from
// its current end.
func (b *Backend) Events(ctx context.Context, f service.Filter) (<-chan service.Event, <-chan error) {
	return eventlog.Follow(ctx, b.eventLog(), f, time.Time{}, time.Time{})
}

// EventsBetween implements service.EventHistory with the event log: the
// events it still holds (it keeps the last 8 to 16 MiB: the current file
// and the one before) from since, then those that come, until until.
func (b *Backend) EventsBetween(ctx context.Context, f service.Filter, since, until time.Time) (<-chan service.Event, <-chan error) {
	return eventlog.Follow(ctx, b.eventLog(), f, since, until)
}
