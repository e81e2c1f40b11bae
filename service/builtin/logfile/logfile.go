package logfile

import (
	"bufio"
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

// maxLine is where a line without a newline is cut into log entries, as
// docker does (16 KiB).
const maxLine = 16 << 10

// Entry is one line of a json-file log, as docker writes it.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Writer is the writer side of a container's json-file log, owned by its
// shim. With max-size, the log is rotated as docker's json-file driver
// does: path.1 ... path.<max-file - 1> hold the older parts.
type Writer struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	n       int64 // the current file's size
	maxSize int64
	maxFile int
}

// Open opens a container's log with docker's json-file options
// (max-size: "10m", "1g", ...; max-file: a count, default 1).
func Open(path string, opts map[string]string) (*Writer, error) {
	l := &Writer{path: path, maxFile: 1}
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

// open opens (or creates) the live file for appending.
func (l *Writer) open() error {
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
func (l *Writer) rotate() {
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

// Size is the log's current length.
func (l *Writer) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Copy logs r, line by line, as stream, until EOF; it closes r.
func (l *Writer) Copy(stream string, r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLine)
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

// write logs one line (or a maxLine part of one) as stream, rotating
// the file when it reached max-size.
func (l *Writer) write(stream string, line []byte) {
	b, err := json.Marshal(Entry{Log: string(line), Stream: stream, Time: time.Now().UTC()})
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

// Cursor reads a container's log across rotations: it starts with the
// older files (when asked), and, following, moves to the new file when the
// current one is replaced.
type Cursor struct {
	path string
	f    *os.File
	rd   *bufio.Reader
	// older are the rotated files still to read, oldest first.
	older []string
}

// OpenCursor opens the log at path at offset; with all, the rotated parts
// first (from their start).
func OpenCursor(path string, all bool, offset int64) (*Cursor, error) {
	c := &Cursor{path: path}
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

// Close closes the file the cursor reads.
func (c *Cursor) Close() error { return c.f.Close() }

// Read calls fn for each complete entry there is now, moving on to the
// next file at the end of one that is not the live log any more.
func (c *Cursor) Read(fn func(Entry) error) error {
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

// readEntries calls fn for each complete entry rd holds now; a partial
// last line is left for the next call.
func readEntries(rd *bufio.Reader, fn func(Entry) error) error {
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
		var e Entry
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Printer writes the entries the options select to Stdout or Stderr
// (a nil one drops its stream).
type Printer struct {
	// Opts selects the streams (neither: both) and asks for timestamps.
	Opts           service.LogOptions
	Stdout, Stderr io.Writer
	// Since and Until, when set, bound the entries' times.
	Since, Until time.Time
}

// Wants reports whether the options select e.
func (p *Printer) Wants(e Entry) bool {
	if !p.Since.IsZero() && e.Time.Before(p.Since) {
		return false
	}
	if !p.Until.IsZero() && e.Time.After(p.Until) {
		return false
	}
	both := !p.Opts.Stdout && !p.Opts.Stderr
	return both || (e.Stream == "stdout" && p.Opts.Stdout) || (e.Stream == "stderr" && p.Opts.Stderr)
}

// Print writes e, when the options select it, with its timestamp when
// asked.
func (p *Printer) Print(e Entry) error {
	if !p.Wants(e) {
		return nil
	}
	w := p.Stdout
	if e.Stream == "stderr" {
		w = p.Stderr
	}
	if w == nil {
		return nil
	}
	line := e.Log
	if p.Opts.Timestamps {
		line = e.Time.Format("2006-01-02T15:04:05.000000000Z07:00") + " " + line
	}
	_, err := io.WriteString(w, line)
	return err
}

// ParseTime reads docker's --since/--until: "" and "0" are unset, a
// number is Unix seconds, a duration counts back from now, else RFC 3339
// or a date.
func ParseTime(s string) (time.Time, error) {
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

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
