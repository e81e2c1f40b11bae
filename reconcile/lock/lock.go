// Package lock serializes the berth commands that change one project on
// one container runtime: every mutating command (up, down, create, start,
// stop, restart, kill, rm, pause, unpause, run, scale, build, pull) holds
// the project's lock while it changes things, so that a second one waits
// for the first, then observes what the first left and converges from
// there (for a second up of the same files: a no-op).
//
// # The lock file
//
// A lock is an flock(2) on a file named after the project and the runtime
// (the engine's endpoint, the built-in runtime's state root). flock is
// released by the kernel when its holder dies, SIGKILL included, so that a
// killed berth never leaves a project locked; files are never deleted
// (deleting a lock file races with a process that just opened it), they are
// a few bytes each. While it holds the lock, a berth writes its PID, its
// command and the time into the file, so that the one waiting can say whom
// it waits for, and the operations it has under way (Lock.Begin). Release
// empties the file: a file found non-empty by the next holder was left by
// a berth that was killed (Lock.Interrupted), and its operations under
// way may still be carried out by the runtime (the engine finishes a
// request whose client died, a shim a stop), which the next holder waits
// for before it observes.
//
// Where the files live is the caller's choice (Options.Dir): berth keeps
// the built-in runtime's locks under its state root (<root>/locks), since
// the root is what the processes sharing a runtime share, two roots are two
// runtimes (tests give each its own) and only root uses it anyway; the
// engine's under DefaultDir, a runtime directory of the host (tmpfs,
// emptied at boot), keyed by endpoint. Processes of different users talking
// to one engine use different directories and do not exclude each other,
// nor do berths on different hosts sharing a remote engine: docker compose
// has no lock at all, this one covers the common case of one user (or CI
// job runner) on one host.
package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often a waiting Acquire tries the lock again.
const pollInterval = 50 * time.Millisecond

// announceAfter is how long a waiting Acquire waits for the holder to
// write its PID before it says it waits without one.
const announceAfter = time.Second

// ErrTimeout is what a TimeoutError matches with errors.Is.
var ErrTimeout = errors.New("timed out waiting for another berth")

// Options say which lock to take and how long to wait for it.
type Options struct {
	// Dir holds the lock files; it is created (0700) when missing.
	Dir string
	// Runtime identifies the container runtime the project lives on (the
	// engine's endpoint, the built-in runtime's state root): two runtimes'
	// projects of one name do not exclude each other.
	Runtime string
	// Project is the compose project name.
	Project string
	// Command is what the holder does ("up"), shown to those who wait.
	Command string
	// Timeout bounds the wait; zero or less waits as long as the context.
	Timeout time.Duration
	// Waiting, when set, is called once if the lock is held by another: with
	// the holder as its lock file says (PID 0 when it has not said yet).
	Waiting func(Holder)
}

// Holder is who holds a lock, as written in its file.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command,omitempty"`
	Since   time.Time `json:"since"`
	// Steps are the operations it has under way.
	Steps []Step `json:"steps,omitempty"`
}

// Step is an operation under way, as a holder records it.
type Step struct {
	// Op names it ("stop container"), Target what it acts on (an ID or a
	// name).
	Op     string `json:"op"`
	Target string `json:"target"`
	// Started is when it started.
	Started time.Time `json:"started"`
}

// String is "pid N" or "pid N, up" (or "an unknown pid").
func (h Holder) String() string {
	if h.PID <= 0 {
		return "an unknown pid"
	}
	s := "pid " + strconv.Itoa(h.PID)
	if h.Command != "" {
		s += ", " + h.Command
	}
	return s
}

// TimeoutError is returned by Acquire when Options.Timeout passed.
type TimeoutError struct {
	Project string
	Holder  Holder
	Waited  time.Duration
	Path    string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("project %s is locked by another berth (%s): gave up after %v (lock file %s)", e.Project, e.Holder, e.Waited.Round(time.Millisecond), e.Path)
}

// Is makes errors.Is(err, ErrTimeout) hold.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// Lock is a held project lock. Release it when done; the process's end
// releases it too, however it ends.
type Lock struct {
	f    *os.File
	path string
	once sync.Once
	err  error

	mu          sync.Mutex
	self        Holder
	next        int          // key of the next step
	steps       map[int]Step // under way
	prev        Holder       // what a killed holder left in the file
	interrupted bool         // whether it left anything
}

// Interrupted returns what the previous holder left in the lock file when
// it ended without releasing the lock (it was killed): its PID, command
// and the steps it had under way. ok is false when it released the lock.
func (l *Lock) Interrupted() (h Holder, ok bool) {
	return l.prev, l.interrupted
}

// Begin records s as under way in the lock file until the returned done
// is called. done(true) says that the step was abandoned (its caller
// cancelled, the runtime may still be carrying it out): it stays recorded,
// and Release leaves the record for the next holder, as a killed holder
// does. Begin is safe for concurrent use.
func (l *Lock) Begin(s Step) (done func(abandoned bool)) {
	l.mu.Lock()
	key := l.next
	l.next++
	if s.Started.IsZero() {
		s.Started = time.Now().UTC()
	}
	l.steps[key] = s
	l.writeLocked()
	l.mu.Unlock()
	var once sync.Once
	return func(abandoned bool) {
		once.Do(func() {
			if abandoned {
				return
			}
			l.mu.Lock()
			delete(l.steps, key)
			l.writeLocked()
			l.mu.Unlock()
		})
	}
}

// writeLocked writes the holder record with the steps under way; errors
// are ignored (the record is advice for the next holder).
func (l *Lock) writeLocked() {
	h := l.self
	keys := make([]int, 0, len(l.steps))
	for k := range l.steps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Steps = append(h.Steps, l.steps[k])
	}
	rec, _ := json.Marshal(h)
	_ = writeHolder(l.f, append(rec, '\n'))
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release empties the lock file (so that no one reads a stale PID) and
// releases the lock. When steps are still recorded (abandoned ones, see
// Begin), the record stays, for the next holder to wait for them. Calling
// it again does nothing.
func (l *Lock) Release() error {
	l.once.Do(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		var terr error
		if len(l.steps) == 0 {
			terr = l.f.Truncate(0)
		}
		cerr := l.f.Close() // closing the only descriptor releases the flock
		if err := errors.Join(terr, cerr); err != nil {
			l.err = fmt.Errorf("release lock %s: %w", l.path, err)
		}
	})
	return l.err
}

// File returns the path of the lock file of o's project on o's runtime:
// Dir/<project>-<hash of runtime and project>.lock, the project's name
// reduced to [a-z0-9_.-] for reading (the hash keeps names apart).
func File(o Options) string {
	sum := sha256.Sum256([]byte(o.Runtime + "\x00" + o.Project))
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '_', r == '-', r == '.':
			return r
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '_'
	}, o.Project)
	if len(name) > 64 {
		name = name[:64]
	}
	return filepath.Join(o.Dir, strings.TrimLeft(name, ".")+"-"+hex.EncodeToString(sum[:6])+".lock")
}

// DefaultDir is where locks of projects on an engine live: /run/berth/locks
// for root, else $XDG_RUNTIME_DIR/berth/locks, else berth-<uid>/locks in
// the temporary directory. getenv reads the environment.
func DefaultDir(getenv func(string) string) string {
	uid := os.Geteuid()
	switch {
	case uid == 0:
		return "/run/berth/locks"
	case getenv("XDG_RUNTIME_DIR") != "":
		return filepath.Join(getenv("XDG_RUNTIME_DIR"), "berth", "locks")
	}
	return filepath.Join(os.TempDir(), "berth-"+strconv.Itoa(uid), "locks")
}

// Acquire takes the lock of o's project, waiting while another holds it:
// until it is free, ctx is done (the error wraps the context's cause), or
// o.Timeout passed (a *TimeoutError naming the holder).
func Acquire(ctx context.Context, o Options) (*Lock, error) {
	if o.Project == "" {
		return nil, errors.New("lock: no project name")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock of project %s: %w", o.Project, err)
	}
	// The directory may be in a shared place (the temporary directory):
	// it must be a directory of this user's or root's, not a link another
	// user planted.
	var st unix.Stat_t
	if err := unix.Lstat(o.Dir, &st); err != nil {
		return nil, fmt.Errorf("lock of project %s: %w", o.Project, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || (int(st.Uid) != os.Geteuid() && st.Uid != 0) {
		return nil, fmt.Errorf("lock of project %s: %s is not a directory of uid %d or root: remove it", o.Project, o.Dir, os.Geteuid())
	}
	path := File(o)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock of project %s: %w", o.Project, err)
	}
	start := time.Now()
	announced := false
	var holder Holder
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock of project %s: flock %s: %w", o.Project, path, err)
		}
		if h, ok := readHolder(f); ok {
			holder = h
		}
		if !announced && (holder.PID > 0 || time.Since(start) >= announceAfter) {
			announced = true
			if o.Waiting != nil {
				o.Waiting(holder)
			}
		}
		if o.Timeout > 0 && time.Since(start) >= o.Timeout {
			f.Close()
			return nil, &TimeoutError{Project: o.Project, Holder: holder, Waited: time.Since(start), Path: path}
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for another berth (%s) working on project %s: %w", holder, o.Project, context.Cause(ctx))
		case <-t.C:
		}
	}
	l := &Lock{f: f, path: path, steps: map[int]Step{}, self: Holder{PID: os.Getpid(), Command: o.Command, Since: time.Now().UTC()}}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		l.interrupted = true
		l.prev, _ = readHolder(f)
	}
	rec, _ := json.Marshal(l.self)
	if err := writeHolder(f, append(rec, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock of project %s: write %s: %w", o.Project, path, err)
	}
	return l, nil
}

// readHolder reads the holder a lock file names: its first JSON value
// (what follows may be the end of a longer record, see writeHolder).
func readHolder(f *os.File) (Holder, bool) {
	var h Holder
	if json.NewDecoder(io.NewSectionReader(f, 0, 1<<20)).Decode(&h) != nil || h.PID <= 0 {
		return Holder{}, false
	}
	return h, true
}

// writeHolder replaces the lock file's content with rec: written over the
// old one, then cut to its length, so that the file is never empty while
// held (an empty file means released).
func writeHolder(f *os.File, rec []byte) error {
	if _, err := f.WriteAt(rec, 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(rec)))
}
