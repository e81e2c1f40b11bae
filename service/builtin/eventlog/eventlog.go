package eventlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/state"
)

// maxSize is the size beyond which the event log is started afresh
// (the previous one is kept as events.jsonl.1).
const maxSize = 8 << 20

// Line is one line of the event log (events.jsonl).
type Line struct {
	Time     time.Time         `json:"time"`
	Action   string            `json:"action"`
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	ExitCode int               `json:"exitCode,omitempty"`
	Image    string            `json:"image,omitempty"`
	// Signal is the number of the signal of a kill event, as the engine
	// gives it ("15").
	Signal string `json:"signal,omitempty"`
}

// Append appends e to the event log at path, starting it afresh (the
// previous one kept as path.1) when it grew beyond 8 MiB. Losing an event
// is not worth failing the operation that caused it, so errors are
// dropped.
func Append(path string, e Line) {
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	if st, err := os.Stat(path); err == nil && st.Size() > maxSize {
		if unlock, err := state.Lock(path + ".lock"); err == nil {
			if st, err := os.Stat(path); err == nil && st.Size() > maxSize {
				_ = os.Rename(path, path+".1")
			}
			unlock()
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	// One write of a whole line with O_APPEND: lines of concurrent
	// writers do not interleave.
	_, _ = f.Write(append(line, '\n'))
	f.Close()
}

// Event is the event a log line records, as the service contract has it.
func (e Line) Event() service.Event {
	ev := service.Event{Time: e.Time, Action: e.Action, ContainerID: e.ID, ContainerName: e.Name, Labels: e.Labels, ExitCode: e.ExitCode}
	if e.Image != "" || e.Signal != "" {
		ev.Attributes = map[string]string{}
	}
	if e.Image != "" {
		ev.Attributes["image"] = e.Image
	}
	if e.Signal != "" {
		ev.Attributes["signal"] = e.Signal
	}
	if e.Action == "die" {
		if ev.Attributes == nil {
			ev.Attributes = map[string]string{}
		}
		ev.Attributes["exitCode"] = strconv.Itoa(e.ExitCode)
	}
	return ev
}

// replay sends the events of the rotated log at path with times from
// since on, and reports whether to go on (ctx not done, until not
// passed).
func replay(ctx context.Context, path string, f service.Filter, since, until time.Time, evs chan<- service.Event) bool {
	file, err := os.Open(path)
	if err != nil {
		return true
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), maxSize)
	for sc.Scan() {
		var e Line
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Time.Before(since) || !f.Matches(e.Labels) {
			continue
		}
		if !until.IsZero() && e.Time.After(until) {
			return false
		}
		select {
		case evs <- e.Event():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Follow follows the event log at path: from its start (after the events
// of the rotated log, path.1) when since is set, else from its end; events
// before since or not matching f are skipped, and the stream ends at until
// (when set) with no error, or when ctx is done. It follows the log across
// a rotation by Append.
func Follow(ctx context.Context, path string, f service.Filter, since, until time.Time) (<-chan service.Event, <-chan error) {
	evs, errs := make(chan service.Event), make(chan error, 1)
	file, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err == nil && since.IsZero() {
		_, err = file.Seek(0, io.SeekEnd)
	}
	if err != nil {
		errs <- err
		close(evs)
		close(errs)
		return evs, errs
	}
	go func() {
		defer close(errs)
		defer close(evs)
		defer func() { file.Close() }()
		if !since.IsZero() && !replay(ctx, path+".1", f, since, until, evs) {
			return
		}
		rd := bufio.NewReader(file)
		var partial []byte
		rotated := false
		for {
			line, err := rd.ReadBytes('\n')
			partial = append(partial, line...)
			if err == nil {
				var e Line
				ok := json.Unmarshal(partial, &e) == nil
				if ok && !until.IsZero() && e.Time.After(until) {
					return
				}
				if ok && !e.Time.Before(since) && f.Matches(e.Labels) {
					select {
					case evs <- e.Event():
					case <-ctx.Done():
						return
					}
				}
				partial = partial[:0]
				continue
			}
			if !errors.Is(err, io.EOF) {
				errs <- err
				return
			}
			if !until.IsZero() && time.Now().After(until) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			// The log was rotated: once the old file is drained (one more
			// read came back empty), continue with the new one.
			if rotated && len(partial) == 0 {
				if nf, err := os.Open(path); err == nil {
					file.Close()
					file, rd, rotated = nf, bufio.NewReader(nf), false
				}
				continue
			}
			if st, err := os.Stat(path); err == nil {
				if cur, err := file.Stat(); err == nil && !os.SameFile(st, cur) {
					rotated = true
				}
			}
		}
	}()
	return evs, errs
}
