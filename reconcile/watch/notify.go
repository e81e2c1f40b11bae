package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultQuiet is the quiet period that ends a batch of changes: shorter
// than docker compose's 500 ms, long enough to gather an editor's save
// (write, rename, chmod come within a few milliseconds) or a checkout's
// burst (its events keep coming closer than this).
const DefaultQuiet = 100 * time.Millisecond

// watchWith watches the paths (files or directories, recursively) and
// sends every changed path (created, written, removed, renamed, chmod-ed)
// to out until ctx is done or the watcher fails, calling ready once the
// watches are in place. A directory created under a watched one is
// watched too, and its contents are sent as changed. Directories named
// .git are not descended into. A path that does not exist yet is watched
// through its nearest existing parent.
func watchWith(ctx context.Context, paths []string, out chan<- string, ready func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file watcher: %w", err)
	}
	defer w.Close()
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := addExisting(w, filepath.Dir(p)); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("watch %s: %w", p, err)
		case fi.IsDir():
			if err := addTree(w, p, nil); err != nil {
				return err
			}
		default: // a file: watched through its directory
			if err := w.Add(filepath.Dir(p)); err != nil {
				return watchErr(filepath.Dir(p), err)
			}
		}
	}
	ready()
	send := func(p string) bool {
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return fmt.Errorf("file watcher: %w", err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() && watched(paths, ev.Name) {
					var found []string
					_ = addTree(w, ev.Name, &found)
					for _, f := range found {
						if !send(f) {
							return nil
						}
					}
				}
			}
			if !watched(paths, ev.Name) {
				continue
			}
			if !send(ev.Name) {
				return nil
			}
		}
	}
}

// watched reports whether p is one of the paths or below one.
func watched(paths []string, p string) bool {
	for _, root := range paths {
		if _, ok := under(root, p); ok {
			return true
		}
	}
	return false
}

// addExisting watches the nearest existing directory of p.
func addExisting(w *fsnotify.Watcher, p string) error {
	for {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if err := w.Add(p); err != nil {
				return watchErr(p, err)
			}
			return nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// addTree watches root and every directory below it (but .git), adding
// what it finds below root to found when not nil.
func addTree(w *fsnotify.Watcher, root string, found *[]string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // gone meanwhile
		}
		if found != nil && p != root {
			*found = append(*found, p)
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == ".git" && p != root {
			return filepath.SkipDir
		}
		if err := w.Add(p); err != nil {
			return watchErr(p, err)
		}
		return nil
	})
}

func watchErr(p string, err error) error {
	return fmt.Errorf("watch %s: %w (if the system ran out of inotify watches, raise fs.inotify.max_user_watches)", p, err)
}

// Debounce gathers the paths from in into batches (each path once, in
// the order first seen), sending a batch when no path came for quiet. It
// closes out when in is closed or ctx is done.
func Debounce(ctx context.Context, in <-chan string, quiet time.Duration, out chan<- []string) {
	defer close(out)
	var batch []string
	seen := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case out <- batch:
		case <-ctx.Done():
			return false
		}
		batch, seen = nil, map[string]bool{}
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-in:
			if !ok {
				flush()
				return
			}
			if !seen[p] {
				seen[p] = true
				batch = append(batch, p)
			}
			timer.Reset(quiet)
		case <-timer.C:
			if !flush() {
				return
			}
		}
	}
}
