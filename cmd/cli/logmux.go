package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/berthdev/berth/service"
)

// colors are the ANSI colours of log prefixes, in docker compose's order
// (cmd/formatter/colors.go: cyan, yellow, green, magenta, blue, then the
// same bold).
var colors = []string{"36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"}

// logMux prints the output of several containers on one writer, each line
// behind a "service-1  | " prefix, as docker compose's log printer does.
type logMux struct {
	mu sync.Mutex
	w  io.Writer
	// errW gets the containers' standard error where it is kept apart
	// (attached up, as docker compose); nil: w gets it.
	errW       io.Writer
	width      int
	color      bool
	noPrefix   bool
	timestamps bool
	assigned   map[string]string
}

func newLogMux(g *globals, names []string, noColor, noPrefix, timestamps bool) *logMux {
	return newLogMuxOn(g, g.stdio.Out, names, noColor, noPrefix, timestamps)
}

// newLogMuxOn is newLogMux writing to w (standard error, for build output).
func newLogMuxOn(g *globals, w io.Writer, names []string, noColor, noPrefix, timestamps bool) *logMux {
	m := &logMux{w: w, noPrefix: noPrefix, timestamps: timestamps, assigned: map[string]string{}}
	for _, n := range names {
		m.width = max(m.width, len(n)+1) // "web-1  | ", as docker compose
	}
	m.color = !noColor && g.ansi != "never" && os.Getenv("NO_COLOR") == ""
	if g.ansi != "always" {
		f, ok := w.(*os.File)
		m.color = m.color && ok && term.IsTerminal(int(f.Fd()))
	}
	for i, n := range names {
		m.assigned[n] = colors[i%len(colors)]
	}
	return m
}

// prefix is the "name  | " in front of each line of name.
func (m *logMux) prefix(name string) string {
	if m.noPrefix {
		return ""
	}
	p := fmt.Sprintf("%-*s | ", m.width, name)
	if m.color {
		return "\x1b[" + m.assigned[name] + "m" + p + "\x1b[0m"
	}
	return p
}

// writer returns a writer whose lines are printed behind name's prefix.
func (m *logMux) writer(name string) io.WriteCloser {
	return m.writerTracking(m.w, name, nil)
}

// writerTracking is writer, to out, for lines that start with their
// timestamp: seen gets each one, which is shown only with --timestamps.
func (m *logMux) writerTracking(out io.Writer, name string, seen func(time.Time)) io.WriteCloser {
	pr, pw := io.Pipe()
	lw := &lineWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(lw.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if seen != nil {
				if ts, rest, ok := strings.Cut(line, " "); ok {
					if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
						seen(t)
						if !m.timestamps {
							line = rest
						}
					}
				}
			}
			m.mu.Lock()
			fmt.Fprintf(out, "%s%s\n", m.prefix(name), line)
			m.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return lw
}

// lineWriter feeds a prefixing goroutine; Close waits until it has printed
// everything written.
type lineWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (l *lineWriter) Write(b []byte) (int, error) { return l.pw.Write(b) }

func (l *lineWriter) Close() error {
	err := l.pw.Close()
	<-l.done
	return err
}

// status prints a line about a container as docker compose's log printer
// does ("\r\x1b[Kweb-1 exited with code 0", in the container's colour), on
// the output writer whatever the prefix flags.
func (m *logMux) status(name, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	line := "\r\x1b[K" + name + " " + msg + "\n"
	if m.color {
		line = "\x1b[" + m.assigned[name] + "m" + line + "\x1b[0m"
	}
	_, _ = io.WriteString(m.w, line)
}

// followTracked streams the logs of c until ctx is done or the container
// stops, and returns the time of the last line shown
// (zero when none was), so that a caller following a container across
// restarts can go on right after it.
func (m *logMux) followTracked(ctx context.Context, l service.Logger, c service.Container, opts service.LogOptions) (time.Time, error) {
	var last time.Time
	var mu sync.Mutex
	seen := func(t time.Time) {
		mu.Lock()
		if t.After(last) {
			last = t
		}
		mu.Unlock()
	}
	w := m.writerTracking(m.w, displayName(c), seen)
	ew := io.WriteCloser(w)
	if m.errW != nil {
		ew = m.writerTracking(m.errW, displayName(c), seen)
	}
	opts.Stdout, opts.Stderr, opts.Timestamps = true, true, true
	err := l.Logs(ctx, c.ID, opts, w, ew)
	w.Close()
	if ew != w {
		ew.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	return last, err
}

// displayName is how docker compose names a container in logs and ps:
// service-N for replicas, the container name otherwise.
func displayName(c service.Container) string {
	svc := c.Labels[service.LabelService]
	n := c.Labels[service.LabelContainerNumber]
	if svc != "" && n != "" && c.Labels[service.LabelOneoff] != service.OneoffTrue && strings.HasSuffix(c.Name, "-"+svc+"-"+n) {
		return svc + "-" + n
	}
	return c.Name
}
