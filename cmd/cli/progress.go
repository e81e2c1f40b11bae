package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// ProgressVersion is the version of the --progress json format: one JSON
// object per line, {"version":1,"time":...,"id":...,"kind":...,"status":...}.
const ProgressVersion = 1

// progress renders plan steps as docker compose does: one line per object
// ("Container p-web-1  Started"), updated in place on a terminal, appended
// otherwise, or as JSON objects.
type progress struct {
	mode  string // tty, plain, json, quiet
	w     io.Writer
	mu    sync.Mutex
	lines []string          // tty: the lines shown, in order
	index map[string]int    // tty: line of each object
	state map[string]string // tty: text of each object
	drawn int
}

// newProgress picks the renderer --progress (or COMPOSE_PROGRESS) asks for;
// auto means tty on a terminal, plain otherwise.
func newProgress(g *globals) *progress {
	mode := g.progress
	if mode == "" {
		mode = g.getenv("COMPOSE_PROGRESS")
	}
	if mode == "" || mode == "auto" {
		mode = "plain"
		if f, ok := g.stdio.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) && g.ansi != "never" {
			mode = "tty"
		}
	}
	return &progress{mode: mode, w: g.stdio.Err, index: map[string]int{}, state: map[string]string{}}
}

// words are the verbs of an operation: while working, and when done.
func words(s *reconcile.Step) (kind, name, working, done string, hidden bool) {
	name = s.Object
	switch s.Op {
	case reconcile.OpCreateNetwork:
		return "Network", name, "Creating", "Created", false
	case reconcile.OpRemoveNetwork:
		return "Network", name, "Removing", "Removed", false
	case reconcile.OpConnectNetwork:
		return "Container", name, "Connecting", "Connected", false
	case reconcile.OpDisconnectNetwork:
		return "Container", name, "Disconnecting", "Disconnected", false
	case reconcile.OpCreateVolume:
		return "Volume", name, "Creating", "Created", false
	case reconcile.OpRemoveVolume:
		return "Volume", name, "Removing", "Removed", false
	case reconcile.OpCreateContainer:
		if final := s.Container.Labels[service.LabelReplace]; final != "" {
			return "Container", final, "Recreate", "Recreated", false
		}
		return "Container", name, "Creating", "Created", false
	case reconcile.OpStopContainer:
		return "Container", name, "Stopping", "Stopped", strings.HasPrefix(s.Cause, "replaced by ")
	case reconcile.OpRemoveContainer:
		return "Container", name, "Removing", "Removed", strings.HasPrefix(s.Cause, "replaced by ")
	case reconcile.OpRenameContainer:
		return "Container", s.NewName, "Renaming", "Renamed", true
	case reconcile.OpStartContainer:
		return "Container", name, "Starting", "Started", false
	case reconcile.OpRemoveImage:
		return "Image", name, "Removing", "Removed", false
	case reconcile.OpKillContainer:
		return "Container", name, "Killing", "Killed", false
	case reconcile.OpPauseContainer:
		return "Container", name, "Pausing", "Paused", false
	case reconcile.OpUnpauseContainer:
		return "Container", name, "Unpausing", "Unpaused", false
	case reconcile.OpRunProvider:
		switch s.Provider.Command {
		case "down":
			return "Provider", name, "Removing", "Removed", false
		case "stop":
			return "Provider", name, "Stopping", "Stopped", false
		}
		return "Provider", name, "Creating", "Created", false
	case reconcile.OpWait:
		d := "Healthy"
		switch s.Condition {
		case reconcile.CondCompleted:
			d = "Exited"
		case reconcile.CondRunningOrHealthy:
			d = "Running"
		}
		return "Container", name, "Waiting", d, false
	}
	return "Object", name, "Working", "Done", false
}

// event renders one step event.
func (p *progress) event(e reconcile.Event) {
	kind, name, working, done, hidden := words(e.Step)
	status := working
	if e.Text != "" {
		status = e.Text // what a provider reports
	}
	switch e.Status {
	case reconcile.StatusDone:
		status = done
	case reconcile.StatusWarning:
		status = "Warning: " + e.Err.Error()
	case reconcile.StatusFailed:
		status = "Error: " + e.Err.Error()
	}
	p.line(kind, name, status, hidden && e.Status != reconcile.StatusFailed)
}

// line shows the status of one object.
func (p *progress) line(kind, name, status string, hidden bool) {
	p.lineWith(kind, name, status, hidden, nil)
}

// lineWith is line with extra fields for the json mode.
func (p *progress) lineWith(kind, name, status string, hidden bool, extra map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "quiet":
	case "json":
		fields := map[string]any{"version": ProgressVersion, "time": time.Now().UTC().Format(time.RFC3339Nano), "id": name, "kind": kind, "status": status}
		for k, v := range extra {
			fields[k] = v
		}
		b, _ := json.Marshal(fields)
		fmt.Fprintf(p.w, "%s\n", b)
	case "tty":
		if hidden {
			return
		}
		key := kind + " " + name
		text := fmt.Sprintf(" %s %s  %s", kind, name, status)
		if i, ok := p.index[key]; ok {
			p.lines[i] = text
		} else {
			p.index[key] = len(p.lines)
			p.lines = append(p.lines, text)
		}
		p.redraw()
	default:
		if hidden {
			return
		}
		fmt.Fprintf(p.w, " %s %s  %s\n", kind, name, status)
	}
}

// redraw rewrites the block of lines in place.
func (p *progress) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, l := range p.lines {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", l)
	}
	p.drawn = len(p.lines)
}

// warn prints a warning in the current mode.
func (p *progress) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "quiet":
	case "json":
		b, _ := json.Marshal(map[string]any{"version": ProgressVersion, "time": time.Now().UTC().Format(time.RFC3339Nano), "kind": "warning", "status": msg})
		fmt.Fprintf(p.w, "%s\n", b)
	default:
		fmt.Fprintf(p.w, "WARN %s\n", msg)
	}
}

// notice prints a line that says what berth is doing, in every mode but
// quiet (in json: kind "notice").
func (p *progress) notice(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "quiet":
	case "json":
		b, _ := json.Marshal(map[string]any{"version": ProgressVersion, "time": time.Now().UTC().Format(time.RFC3339Nano), "kind": "notice", "status": msg})
		fmt.Fprintf(p.w, "%s\n", b)
	default:
		fmt.Fprintln(p.w, msg)
	}
}

// text prints a line of text in the plain and tty modes (not updated in
// place: it scrolls).
func (p *progress) text(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "plain" || p.mode == "tty" {
		fmt.Fprintln(p.w, msg)
	}
}
