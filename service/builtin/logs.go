package builtin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/state"
	"github.com/docker/go-units"
)

// maxLogLine is where a line without a newline is cut into log entries, as
// docker does (16 KiB).
const maxLogLine = 16 << 10

// logEntry is one line of a json-file log, as docker writes it.
type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// jsonLog is the writer side of a container's json-file log, owned by its
// shim. With max-size, the log is rotated as docker's json-file driver
// does: path.1 ... path.<max-file - 1> hold the older parts.
type jsonLog struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	n       int64 // the current file's size
	maxSize int64
	maxFile int
}

// openLog opens a container's log with docker's json-file options
// (max-size: "10m", "1g", ...; max-file: a count, default 1).
func openLog(path string, opts map[string]string) (*jsonLog, error) {
	l := &jsonLog{path: path, maxFile: 1}
	if v := opts["max-size"]; v != "" && v != "-1" {
		n, err := units.RAMInBytes(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("logging option max-size %q: not a size", v)
		}
		l.maxSize = n
	}
	if v := opts["max-file"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("logging option max-file %q: not a count of at least 1", v)
		}
		l.maxFile = n
	}
	if err := l.open(); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return l, nil
}

func (l *jsonLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.n = f, st.Size()
	return nil
}

// rotate starts a new file, keeping max-file - 1 older ones.
func (l *jsonLog) rotate() {
	l.f.Close()
	if l.maxFile > 1 {
		for i := l.maxFile - 1; i > 1; i-- {
			_ = os.Rename(fmt.Sprintf("%s.%d", l.path, i-1), fmt.Sprintf("%s.%d", l.path, i))
		}
		_ = os.Rename(l.path, l.path+".1")
	} else {
		// A new file, not a truncation: readers notice the change.
		_ = os.Remove(l.path)
	}
	if err := l.open(); err != nil {
		l.f, _ = os.Open(os.DevNull)
	}
}

// size is the log's current length.
func (l *jsonLog) size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// copy logs r, line by line, as stream, until EOF; it closes r.
func (l *jsonLog) copy(stream string, r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			l.write(stream, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (l *jsonLog) write(stream string, line []byte) {
	b, err := json.Marshal(logEntry{Log: string(line), Stream: stream, Time: time.Now().UTC()})
	if err != nil {
		return
	}
	l.mu.Lock()
	n, _ := l.f.Write(append(b, '\n'))
	l.n += int64(n)
	if l.maxSize > 0 && l.n >= l.maxSize {
		l.rotate()
	}
	l.mu.Unlock()
}

// logCursor reads a container's log across rotations: it starts with the
// older files (when asked), and, following, moves to the new file when the
// current one is replaced.
type logCursor struct {
	path string
	f    *os.File
	rd   *bufio.Reader
	// older are the rotated files still to read, oldest first.
	older []string
}

// openCursor opens the log at path; with all, the rotated parts first.
func openCursor(path string, all bool, offset int64) (*logCursor, error) {
	c := &logCursor{path: path}
	if all {
		for i := 1; ; i++ {
			p := fmt.Sprintf("%s.%d", path, i)
			if !state.Exists(p) {
				break
			}
			c.older = append([]string{p}, c.older...)
		}
	}
	first := path
	if len(c.older) > 0 {
		first, c.older = c.older[0], append(c.older[1:], path)
		offset = 0
	} else {
		c.older = nil
	}
	f, err := os.OpenFile(first, os.O_RDONLY|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	c.f, c.rd = f, bufio.NewReader(f)
	return c, nil
}

func (c *logCursor) Close() error { return c.f.Close() }

// read calls fn for each complete entry there is now, moving on to the
// next file at the end of one that is not the live log any more.
func (c *logCursor) read(fn func(logEntry) error) error {
	for {
		if err := readEntries(c.rd, fn); err != nil {
			return err
		}
		next := ""
		switch {
		case len(c.older) > 0:
			next, c.older = c.older[0], c.older[1:]
		default:
			cur, err1 := c.f.Stat()
			live, err2 := os.Stat(c.path)
			if err1 != nil || err2 != nil || os.SameFile(cur, live) {
				return nil
			}
			next = c.path // rotated: the live log is a new file
		}
		f, err := os.Open(next)
		if err != nil {
			return nil
		}
		c.f.Close()
		c.f, c.rd = f, bufio.NewReader(f)
	}
}

// Logs implements service.Logger.
func (b *Backend) Logs(ctx context.Context, ref string, opts service.LogOptions, stdout, stderr io.Writer) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	since, err := parseLogTime(opts.Since)
	if err != nil {
		return fmt.Errorf("logs of %s: since: %w", r.Name, err)
	}
	until, err := parseLogTime(opts.Until)
	if err != nil {
		return fmt.Errorf("logs of %s: until: %w", r.Name, err)
	}
	tail := -1
	if t := opts.Tail; t != "" && t != "all" {
		if tail, err = strconv.Atoi(t); err != nil || tail < 0 {
			return fmt.Errorf("logs of %s: tail %q is not a number", r.Name, t)
		}
	}
	cur, err := openCursor(b.logPath(r.ID), true, 0)
	if err != nil {
		return fmt.Errorf("logs of %s: %w", r.Name, err)
	}
	defer cur.Close()
	out := &logPrinter{opts: opts, stdout: stdout, stderr: stderr, since: since, until: until}
	if tail >= 0 {
		var last []logEntry
		if err := cur.read(func(e logEntry) error {
			if out.wants(e) {
				last = append(last, e)
				if len(last) > tail {
					last = last[1:]
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for _, e := range last {
			if err := out.print(e); err != nil {
				return err
			}
		}
	} else if err := cur.read(out.print); err != nil {
		return err
	}
	if !opts.Follow || !until.IsZero() {
		return nil
	}
	return b.follow(ctx, r.ID, cur, -1, out.print)
}

// follow reads new log entries from rd until the container stops running
// (when waitRun >= 0, only after a run later than waitRun has started),
// the log is drained, or ctx is done.
func (b *Backend) follow(ctx context.Context, id string, cur *logCursor, waitRun int, fn func(logEntry) error) error {
	for {
		if err := cur.read(fn); err != nil {
			return err
		}
		r, err := b.get(id)
		if errors.Is(err, service.ErrNotFound) {
			return cur.read(fn)
		} else if err != nil {
			return err
		}
		started := waitRun < 0 || r.State.Runs > waitRun
		if started && r.State.Status != service.StateRunning && r.State.Status != service.StatePaused {
			return cur.read(fn)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readEntries calls fn for each complete entry rd holds now; a partial
// last line is left for the next call.
func readEntries(rd *bufio.Reader, fn func(logEntry) error) error {
	for {
		line, err := rd.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				// Put the partial line back: bufio cannot unread it, so
				// keep it in a reader chained in front.
				*rd = *bufio.NewReader(io.MultiReader(strings.NewReader(string(line)), rd))
			}
			return nil
		}
		if err != nil {
			return err
		}
		var e logEntry
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// logPrinter writes entries the options select.
type logPrinter struct {
	opts           service.LogOptions
	stdout, stderr io.Writer
	since, until   time.Time
}

func (p *logPrinter) wants(e logEntry) bool {
	if !p.since.IsZero() && e.Time.Before(p.since) {
		return false
	}
	if !p.until.IsZero() && e.Time.After(p.until) {
		return false
	}
	both := !p.opts.Stdout && !p.opts.Stderr
	return both || (e.Stream == "stdout" && p.opts.Stdout) || (e.Stream == "stderr" && p.opts.Stderr)
}

func (p *logPrinter) print(e logEntry) error {
	if !p.wants(e) {
		return nil
	}
	w := p.stdout
	if e.Stream == "stderr" {
		w = p.stderr
	}
	if w == nil {
		return nil
	}
	line := e.Log
	if p.opts.Timestamps {
		line = e.Time.Format("2006-01-02T15:04:05.000000000Z07:00") + " " + line
	}
	_, err := io.WriteString(w, line)
	return err
}

// parseLogTime reads docker's --since/--until: "" and "0" are unset, a
// number is Unix seconds, a duration counts back from now, else RFC 3339
// or a date.
func parseLogTime(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	// "<seconds>[.<fraction>]", exactly (a float64 would round nanoseconds)
	if secs, frac, _ := strings.Cut(s, "."); secs != "" && isDigits(secs) && (frac == "" || isDigits(frac)) && len(frac) <= 9 {
		sec, err := strconv.ParseInt(secs, 10, 64)
		if err == nil {
			ns, _ := strconv.Atoi((frac + "000000000")[:9])
			return time.Unix(sec, int64(ns)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp, a duration or a date", s)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Attach implements service.Attacher: the output is the log from the
// start of the container's next run (the current one, when it is
// running), so that nothing is lost between Attach and StartContainer;
// stdin, when the container keeps it open, goes through the shim.
func (b *Backend) Attach(ctx context.Context, ref string, stdin io.Reader, stdout, stderr io.Writer) (func() error, error) {
	r, err := b.get(ref)
	if err != nil {
		return nil, err
	}
	offset, after := r.State.LogStart, -1
	if !r.State.Active() {
		after = r.State.Runs
		offset = 0
		if st, err := os.Stat(b.logPath(r.ID)); err == nil {
			offset = st.Size()
		}
	}
	cur, err := openCursor(b.logPath(r.ID), false, offset)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", r.Name, err)
	}
	if stdin != nil && r.Spec.OpenStdin {
		go b.feedStdin(ctx, r.ID, after, stdin)
	}
	out := &logPrinter{opts: service.LogOptions{Stdout: true, Stderr: true}, stdout: stdout, stderr: stderr}
	return func() error {
		defer cur.Close()
		return b.follow(ctx, r.ID, cur, after, out.print)
	}, nil
}

// feedStdin waits for the container's run after `after` and copies stdin
// to it through the shim; the container sees EOF when stdin ends.
func (b *Backend) feedStdin(ctx context.Context, id string, after int, stdin io.Reader) {
	for {
		r, err := b.get(id)
		if err != nil {
			return
		}
		if r.State.Runs > after && r.State.Status == service.StateRunning {
			conn, err := b.dial(ctx, r)
			if err != nil {
				return
			}
			defer conn.Close()
			if err := json.NewEncoder(conn).Encode(request{Op: "stdin"}); err != nil {
				return
			}
			var resp response
			if err := json.NewDecoder(io.LimitReader(conn, 4096)).Decode(&resp); err != nil || resp.Error != "" {
				return
			}
			_, _ = io.Copy(conn, stdin)
			if uc, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = uc.CloseWrite()
			}
			// Hold the connection until the container is done with it.
			_, _ = io.Copy(io.Discard, conn)
			return
		}
		if r.State.Runs > after {
			return // it ran and ended already
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
