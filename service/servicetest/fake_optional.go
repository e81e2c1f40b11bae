package servicetest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthdev/berth/service"
)

// KillContainer sends signal ("SIGKILL" when empty; a name with or without
// "SIG", or a number) to a running or paused container with a "kill" event.
// The container exits with 128 + the signal's number ("die"), unless the
// signal's default action is to ignore or to stop a process. ErrNotFound if
// there is no such container, ErrConflict if it is not running; an error
// wrapping neither for an unknown signal.
func (f *Fake) KillContainer(ctx context.Context, id, signal string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "KillContainer", Call{Object: name, Detail: signal}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	sig, ok := signalNumber(signal)
	if !ok {
		return fmt.Errorf("container %q: invalid signal %q", c.name, signal)
	}
	if !c.running() {
		return conflict("container", c.name, "is not running")
	}
	f.emitLocked(c, "kill")
	if signalTerminates(sig) {
		f.exitLocked(c, 128+sig)
		f.afterExitLocked(c)
	}
	return nil
}

// PauseContainer pauses a running container with a "pause" event.
// ErrNotFound if there is none, ErrConflict if it is not running or paused
// already.
func (f *Fake) PauseContainer(ctx context.Context, id string) error {
	return f.setPaused(ctx, "PauseContainer", id, true)
}

// UnpauseContainer resumes a paused container with an "unpause" event.
// ErrNotFound if there is none, ErrConflict if it is not paused.
func (f *Fake) UnpauseContainer(ctx context.Context, id string) error {
	return f.setPaused(ctx, "UnpauseContainer", id, false)
}

func (f *Fake) setPaused(ctx context.Context, op, id string, pause bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, op, Call{Object: name}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	from, to, action := service.StateRunning, service.StatePaused, "pause"
	if !pause {
		from, to, action = service.StatePaused, service.StateRunning, "unpause"
	}
	if c.state != from {
		return conflict("container", c.name, "is "+c.state+", not "+from)
	}
	c.state = to
	f.emitLocked(c, action)
	f.broadcastLocked()
	return nil
}

// RestartContainer stops a running or paused container as StopContainer
// does (without waiting) and starts it again, or just starts a created or
// exited one; it sends the events of both and "restart". ErrNotFound if
// there is none.
func (f *Fake) RestartContainer(ctx context.Context, id string, timeout *time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "RestartContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if c.running() {
		f.stopLocked(c)
	}
	f.startLocked(c)
	f.emitLocked(c, "restart")
	return nil
}

// WaitContainer blocks until the container is neither running nor paused
// and returns its exit code: at once for a created or exited container (0
// for one never started). A container removed while waited for gives the
// code it exited with. ErrNotFound if there is none; ctx's error, wrapped,
// if ctx is done first.
func (f *Fake) WaitContainer(ctx context.Context, id string) (int, error) {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "WaitContainer", Call{Object: name}, containerNames(id, c)...); err != nil {
		f.mu.Unlock()
		return 0, err
	}
	if c == nil {
		f.mu.Unlock()
		return 0, notFound("container", id)
	}
	for c.running() {
		changed := f.changed
		f.waiting++
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			f.mu.Lock()
			f.waiting--
			f.mu.Unlock()
			return 0, fmt.Errorf("container %q: wait: %w", name, ctx.Err())
		}
		f.mu.Lock()
		f.waiting--
	}
	code := c.exitCode
	f.mu.Unlock()
	return code, nil
}

// subscriber is one Events stream.
type subscriber struct {
	filter service.Filter
	wake   chan struct{} // capacity 1: a change to queue

	mu    sync.Mutex
	queue []service.Event
}

// emitLocked queues an event about c for every subscriber whose filter
// matches c's labels. Queues are unbounded, so a slow reader never blocks
// the Fake.
func (f *Fake) emitLocked(c *fakeContainer, action string) {
	ev := service.Event{
		Time:          f.now(),
		Action:        action,
		ContainerID:   c.id,
		ContainerName: c.name,
		Attributes:    map[string]string{"image": c.spec.Image},
	}
	if action == "die" {
		ev.ExitCode = c.exitCode
		ev.Attributes["exitCode"] = strconv.Itoa(c.exitCode)
	}
	f.keepLocked(ev, c.spec.Labels)
	if len(f.subs) == 0 {
		return
	}
	for s := range f.subs {
		if !s.filter.Matches(c.spec.Labels) {
			continue
		}
		e := ev
		e.Labels = maps.Clone(c.spec.Labels)
		s.mu.Lock()
		s.queue = append(s.queue, e)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Events sends, in order, the events of the containers whose labels match
// filter (filter.All does not matter) from now on, until ctx is done: then
// it sends ctx's error on the error channel, as the engine's client does,
// and closes both channels. An injected fault is sent on the error channel
// at once.
func (f *Fake) Events(ctx context.Context, filter service.Filter) (<-chan service.Event, <-chan error) {
	out := make(chan service.Event)
	errc := make(chan error, 1)
	f.mu.Lock()
	if err := f.enterLocked(ctx, "Events", Call{}); err != nil {
		f.mu.Unlock()
		errc <- err
		close(errc)
		close(out)
		return out, errc
	}
	s := &subscriber{filter: service.Filter{Labels: maps.Clone(filter.Labels)}, wake: make(chan struct{}, 1)}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	go f.forward(ctx, s, out, errc)
	return out, errc
}

// forward moves s's queued events to out until ctx is done.
func (f *Fake) forward(ctx context.Context, s *subscriber, out chan<- service.Event, errc chan<- error) {
	defer func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
		errc <- ctx.Err()
		close(errc)
		close(out)
	}()
	for {
		s.mu.Lock()
		queue := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range queue {
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
		if len(queue) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}

// logSelection is what LogOptions select.
type logSelection struct {
	stdout, stderr bool
	timestamps     bool
	since, until   time.Time
}

func newLogSelection(opts service.LogOptions, now time.Time) (logSelection, error) {
	sel := logSelection{stdout: opts.Stdout, stderr: opts.Stderr, timestamps: opts.Timestamps}
	if !sel.stdout && !sel.stderr {
		sel.stdout, sel.stderr = true, true
	}
	var err error
	if sel.since, err = parseLogTime(opts.Since, now); err != nil {
		return sel, fmt.Errorf("since: %w", err)
	}
	if sel.until, err = parseLogTime(opts.Until, now); err != nil {
		return sel, fmt.Errorf("until: %w", err)
	}
	return sel, nil
}

func (sel logSelection) keep(e logEntry) bool {
	if e.stderr && !sel.stderr || !e.stderr && !sel.stdout {
		return false
	}
	if !sel.since.IsZero() && e.time.Before(sel.since) {
		return false
	}
	return sel.until.IsZero() || !e.time.After(sel.until)
}

func (sel logSelection) filter(entries []logEntry) []logEntry {
	var out []logEntry
	for _, e := range entries {
		if sel.keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// parseLogTime reads Since and Until as the engine does: empty (no bound),
// a duration back from now ("10m"), a Unix time in seconds ("1700000000.5")
// or an RFC 3339 time.
func parseLogTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, ok := parseUnixTime(s); ok {
		return t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q", s)
}

// parseUnixTime reads "seconds[.fraction]" exactly, to the nanosecond, as
// the engine does (a float64 would round a time of today by ~100ns).
func parseUnixTime(s string) (time.Time, bool) {
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
		return time.Time{}, false
	}
	nsec, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	return time.Unix(sec, nsec), true
}

// writeLogs writes entries to stdout and stderr (nil: discarded).
func writeLogs(entries []logEntry, timestamps bool, stdout, stderr io.Writer) error {
	for _, e := range entries {
		w := stdout
		if e.stderr {
			w = stderr
		}
		if w == nil {
			continue
		}
		line := e.line
		if timestamps {
			line = e.time.UTC().Format(time.RFC3339Nano) + " " + line
		}
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	return nil
}

// Logs writes the lines given to Log for the container, each to its stream,
// selected by opts: Stdout and Stderr (neither means both), Since and Until
// (durations back from now, Unix times or RFC 3339 times), Tail ("all",
// empty or a count of lines from the end) and Timestamps (an RFC 3339 time
// and a space before each line). With Follow and a running container it then
// writes new lines as they come until the container stops (nil) or ctx is
// done (ctx's error). ErrNotFound if there is no such container.
func (f *Fake) Logs(ctx context.Context, id string, opts service.LogOptions, stdout, stderr io.Writer) error {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "Logs", Call{Object: name}, containerNames(id, c)...); err != nil {
		f.mu.Unlock()
		return err
	}
	if c == nil {
		f.mu.Unlock()
		return notFound("container", id)
	}
	sel, err := newLogSelection(opts, f.now())
	if err != nil {
		f.mu.Unlock()
		return fmt.Errorf("container %q: logs: %w", name, err)
	}
	entries := sel.filter(c.logs)
	if opts.Tail != "" && opts.Tail != "all" {
		n, err := strconv.Atoi(opts.Tail)
		if err != nil || n < 0 {
			f.mu.Unlock()
			return fmt.Errorf("container %q: logs: invalid tail %q", name, opts.Tail)
		}
		entries = entries[max(0, len(entries)-n):]
	}
	next := len(c.logs)
	follow := opts.Follow && c.running()
	f.mu.Unlock()

	if err := writeLogs(entries, sel.timestamps, stdout, stderr); err != nil {
		return fmt.Errorf("container %q: logs: %w", name, err)
	}
	if !follow {
		return nil
	}
	return f.stream(ctx, c, next, sel, stdout, stderr, func(c *fakeContainer) bool { return !c.running() })
}

// stream writes c's log lines from index next on, selected by sel, until
// done(c) (checked with the Fake's mutex held) or ctx is done.
func (f *Fake) stream(ctx context.Context, c *fakeContainer, next int, sel logSelection, stdout, stderr io.Writer, done func(*fakeContainer) bool) error {
	for {
		f.mu.Lock()
		batch := sel.filter(c.logs[next:])
		next = len(c.logs)
		finished := done(c)
		changed := f.changed
		name := c.name
		f.mu.Unlock()
		if err := writeLogs(batch, sel.timestamps, stdout, stderr); err != nil {
			return fmt.Errorf("container %q: %w", name, err)
		}
		if finished {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("container %q: %w", name, ctx.Err())
		}
	}
}

// Attach writes the lines given to Log for the container after this call,
// each to its stream, until the container has run and stopped or is
// removed; the returned function waits for that (nil) or for ctx to be done
// (ctx's error). A container that is exited when attached gives nothing;
// stdin is not read. ErrNotFound if there is no such container.
func (f *Fake) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) (func() error, error) {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "Attach", Call{Object: name}, containerNames(id, c)...); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	if c == nil {
		f.mu.Unlock()
		return nil, notFound("container", id)
	}
	next := len(c.logs)
	f.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		done <- f.stream(ctx, c, next, logSelection{stdout: true, stderr: true}, stdout, stderr, func(c *fakeContainer) bool {
			return c.removed || c.state == service.StateExited || c.state == service.StateDead
		})
	}()
	var once sync.Once
	var result error
	return func() error {
		once.Do(func() { result = <-done })
		return result
	}, nil
}

// Exec runs spec in a running container through ExecHook, or, when there
// is none, succeeds at once with exit code 0 and no output. With
// spec.Detach the hook still runs before Exec returns, and the code is 0.
// ErrNotFound if there is no such container, ErrConflict if it is not
// running (a paused container included).
func (f *Fake) Exec(ctx context.Context, id string, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "Exec", Call{Object: name, Detail: strings.Join(spec.Cmd, " ")}, containerNames(id, c)...); err != nil {
		f.mu.Unlock()
		return 0, err
	}
	if c == nil {
		f.mu.Unlock()
		return 0, notFound("container", id)
	}
	if c.state != service.StateRunning {
		f.mu.Unlock()
		return 0, conflict("container", c.name, "is "+c.state+", not running")
	}
	view := f.viewLocked(c, true)
	hook := f.ExecHook
	f.mu.Unlock()

	if hook == nil {
		return 0, nil
	}
	spec.Cmd, spec.Env = slices.Clone(spec.Cmd), slices.Clone(spec.Env)
	code, err := hook(ctx, view, spec, stdin, stdout, stderr)
	if err != nil {
		return 0, fmt.Errorf("container %q: exec: %w", name, err)
	}
	if spec.Detach {
		return 0, nil
	}
	return code, nil
}

// CopyTo extracts the tar stream into the container at dir, which it
// assumes exists: it keeps the regular files and directories (their
// content, permission bits and modification time), each replacing what was
// stored at its path, and reads and drops the other entries (links,
// devices). Nothing is kept unless the whole stream is read. ErrNotFound if
// there is no such container; an error wrapping no sentinel if the stream
// is not a tar or an entry would land outside dir ("../x").
func (f *Fake) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	err := f.enterLocked(ctx, "CopyTo", Call{Object: name, Detail: dir}, containerNames(id, c)...)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	base := path.Clean("/" + dir)
	type stored struct {
		path string
		file fakeFile
	}
	var got []stored
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("container %q: copy to %s: %w", name, dir, err)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("container %q: copy to %s: %w", name, dir, err)
		}
		p := path.Join(base, h.Name)
		if base != "/" && p != base && !strings.HasPrefix(p, base+"/") {
			return fmt.Errorf("container %q: copy to %s: entry %q is outside the directory", name, dir, h.Name)
		}
		file := fakeFile{mode: h.Mode & 0o7777, modTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeDir:
			file.dir = true
		case tar.TypeReg:
			if file.data, err = io.ReadAll(tr); err != nil {
				return fmt.Errorf("container %q: copy to %s: %w", name, dir, err)
			}
		default:
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return fmt.Errorf("container %q: copy to %s: %w", name, dir, err)
			}
			continue
		}
		got = append(got, stored{p, file})
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if c.removed {
		return notFound("container", id)
	}
	if c.files == nil {
		c.files = make(map[string]fakeFile)
	}
	for _, s := range got {
		c.files[s.path] = s.file
	}
	return nil
}

// CopyFrom returns a tar stream of what CopyTo stored at path in the
// container, named as service.CopierFrom says: a regular file as one entry,
// a directory ("/" and those stored paths go through included) as itself
// followed by everything stored below it, in the order of their paths.
// Directories CopyTo did not get themselves have mode 0755 and the zero
// time; every entry is owned by root. ErrNotFound if there is no such
// container or nothing at path.
func (f *Fake) CopyFrom(ctx context.Context, id, p string) (io.ReadCloser, error) {
	f.mu.Lock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "CopyFrom", Call{Object: name, Detail: p}, containerNames(id, c)...); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	if c == nil {
		f.mu.Unlock()
		return nil, notFound("container", id)
	}
	clean := path.Clean("/" + p)
	tree := fileTree(c.files)
	f.mu.Unlock()

	root, ok := tree[clean]
	if !ok {
		return nil, fmt.Errorf("container %q: path %q: %w", name, p, service.ErrNotFound)
	}
	// The engine names entries after the path as given: its last element,
	// "." for a path ending in "/.", and "/" for the root.
	base := path.Base(clean)
	if p == "." || strings.HasSuffix(p, "/.") {
		base = "."
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(name string, file fakeFile) error {
		h := &tar.Header{Name: name, Mode: file.mode, ModTime: file.modTime, Typeflag: tar.TypeReg, Size: int64(len(file.data))}
		if file.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
			if !strings.HasSuffix(h.Name, "/") {
				h.Name += "/"
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(file.data)
		return err
	}
	if err := write(base, root); err != nil {
		return nil, fmt.Errorf("container %q: copy from %s: %w", name, p, err)
	}
	if root.dir {
		prefix := strings.TrimSuffix(clean, "/") + "/"
		var below []string
		for q := range tree {
			if q != clean && strings.HasPrefix(q, prefix) {
				below = append(below, q)
			}
		}
		slices.Sort(below)
		for _, q := range below {
			entry := strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(q, prefix)
			if err := write(entry, tree[q]); err != nil {
				return nil, fmt.Errorf("container %q: copy from %s: %w", name, p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("container %q: copy from %s: %w", name, p, err)
	}
	return io.NopCloser(&buf), nil
}

// fileTree returns the stored files plus "/" and every directory a stored
// path goes through that was not stored itself.
func fileTree(files map[string]fakeFile) map[string]fakeFile {
	tree := map[string]fakeFile{"/": {dir: true, mode: 0o755}}
	for p, file := range files {
		tree[p] = file
	}
	for p := range files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := tree[d]; !ok {
				tree[d] = fakeFile{dir: true, mode: 0o755}
			}
		}
	}
	return tree
}

// topTitles are the columns of ps -ef, which the engine runs by default.
var topTitles = []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}

// Top returns, for a running or paused container, the titles of ps -ef and
// one process: UID the spec's user (without a group; "root" when empty), a
// PID made from the container's ID, PPID and C 0, STIME the start time
// (15:04), TTY "?", TIME 00:00:00 and CMD the container's command
// (Container.Command). psArgs are ignored. ErrNotFound if there is no such
// container, ErrConflict if it is not running.
func (f *Fake) Top(ctx context.Context, id string, psArgs []string) ([]string, [][]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, name := f.resolveContainerLocked(id)
	if err := f.enterLocked(ctx, "Top", Call{Object: name}, containerNames(id, c)...); err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, notFound("container", id)
	}
	if !c.running() {
		return nil, nil, conflict("container", c.name, "is not running")
	}
	user, _, _ := strings.Cut(c.spec.User, ":")
	if user == "" {
		user = "root"
	}
	pid, _ := strconv.ParseUint(c.id[:4], 16, 32)
	proc := []string{
		user, strconv.FormatUint(1000+pid, 10), "0", "0", c.started.Format("15:04"), "?", "00:00:00",
		strings.Join(slices.Concat(c.spec.Entrypoint, c.spec.Command), " "),
	}
	return slices.Clone(topTitles), [][]string{proc}, nil
}
