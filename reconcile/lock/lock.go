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
// it waits for.
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
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release empties the lock file (so that no one reads a stale PID) and
// releases the lock. Calling it again does nothing.
func (l *Lock) Release() error {
	l.once.Do(func() {
		terr := l.f.Truncate(0)
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
	rec, _ := json.Marshal(Holder{PID: os.Getpid(), Command: o.Command, Since: time.Now().UTC()})
	if err := writeHolder(f, append(rec, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock of project %s: write %s: %w", o.Project, path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// readHolder reads the holder a lock file names.
func readHolder(f *os.File) (Holder, bool) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 4096))
	if err != nil || len(b) == 0 {
		return Holder{}, false
	}
	var h Holder
	if json.Unmarshal(b, &h) != nil || h.PID <= 0 {
		return Holder{}, false
	}
	return h, true
}

// writeHolder replaces the lock file's content with rec.
func writeHolder(f *os.File, rec []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt(rec, 0)
	return err
}
