// Package hosttar writes files and directory trees of the host as tar
// streams: the one writer behind cp (host → container), watch's syncs and
// build contexts, so that the three send the same entries for the same
// tree.
//
// The rules, for every stream:
//
//   - a directory is written with everything below it, in lexical walk
//     order (a directory precedes its contents); directories' names end in
//     "/";
//   - symbolic links are written as links, never followed, and every file
//     is opened beneath the tree written (an os.Root), so nothing outside
//     it is read, even if a directory is swapped for a link mid-walk;
//   - permissions are kept; entries belong to root (uid and gid 0) unless
//     Options.KeepOwner; user and group names are never written (the
//     reader goes by the numbers, as docker's archives do);
//   - modification times are kept to the second, access and change times
//     dropped, the format is PAX: the same tree always gives the same
//     bytes, which the build cache needs;
//   - sockets are left out; devices and named pipes too, unless
//     Options.Special (docker cp sends them);
//   - Options.Exclude are .dockerignore patterns with moby's semantics
//     (github.com/moby/patternmatcher: *, **, ?, a pattern naming a
//     directory excludes what is below it, !exceptions re-include, the last
//     match wins); an excluded directory is not written but still walked
//     when an exception may re-include something below it, as the docker
//     CLI does;
//   - a name is written once per stream.
package hosttar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
)

// Decision is what a Filter makes of an entry.
type Decision int

// The decisions.
const (
	// Include writes the entry (and walks a directory).
	Include Decision = iota
	// Exclude leaves the entry out, and everything below a directory.
	Exclude
	// Descend leaves a directory's own entry out but walks what is below
	// it; for a file it is Exclude.
	Descend
)

// Filter decides about an entry below the root of a tree: rel is its
// slash-separated path relative to the root, d its directory entry (not
// followed). An error stops the stream.
type Filter func(rel string, d fs.DirEntry) (Decision, error)

// Options say which entries a Writer writes, and how.
type Options struct {
	// KeepOwner keeps the files' uid and gid (cp -a, watch); otherwise
	// every entry belongs to root.
	KeepOwner bool
	// Special writes character and block devices and named pipes, as
	// docker cp does; otherwise they are left out.
	Special bool
	// Exclude are .dockerignore patterns matched against the paths
	// relative to each tree's root.
	Exclude []string
	// Filter, when set, decides about the entries the patterns keep.
	Filter Filter
	// Lenient leaves out an entry that vanishes, or cannot be listed or
	// opened, while the stream is written (watch: files come and go),
	// where the default is to fail naming it.
	Lenient bool
}

// Writer writes host trees to a tar stream. It is not safe for
// concurrent use.
type Writer struct {
	tw    *tar.Writer
	opts  Options
	pm    *patternmatcher.PatternMatcher
	seen  map[string]bool
	files int
}

// NewWriter returns a Writer writing to w, or an error when a pattern of
// opts.Exclude is invalid. Close it to end the stream.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	hw := &Writer{tw: tar.NewWriter(w), opts: opts, seen: map[string]bool{}}
	if len(opts.Exclude) > 0 {
		pm, err := patternmatcher.New(opts.Exclude)
		if err != nil {
			return nil, fmt.Errorf("ignore patterns: %w", err)
		}
		hw.pm = pm
	}
	return hw, nil
}

// Files returns how many entries that are not directories were written.
func (w *Writer) Files() int { return w.files }

// Close writes the end of the stream (it does not close the underlying
// writer).
func (w *Writer) Close() error { return w.tw.Close() }

// Header returns the tar header of a host file by the package's rules:
// fi is its (not followed) FileInfo, name its name in the stream, link
// the target of a symbolic link. keepOwner keeps uid and gid.
func Header(fi fs.FileInfo, name, link string, keepOwner bool) (*tar.Header, error) {
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, err
	}
	h.Name = name
	if fi.IsDir() && !strings.HasSuffix(name, "/") {
		h.Name += "/"
	}
	if !keepOwner {
		h.Uid, h.Gid = 0, 0
	}
	h.Uname, h.Gname = "", ""
	h.ModTime = h.ModTime.Truncate(time.Second)
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.Format = tar.FormatPAX
	h.PAXRecords = nil
	return h, nil
}

// WriteFile writes an entry of the given header and content (a file that
// is not on the host, such as a generated Dockerfile). h.Size is set from
// data.
func (w *Writer) WriteFile(h *tar.Header, data []byte) error {
	if w.seen[h.Name] {
		return nil
	}
	h.Size = int64(len(data))
	if err := w.tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := w.tw.Write(data); err != nil {
		return err
	}
	w.seen[h.Name] = true
	w.files++
	return nil
}

// AddTree writes the host path p: a file, a symbolic link (as a link) or
// a directory with everything below it. The entry of p is named name and
// those below it name/<path relative to p>; with name "" the entry of p
// itself is not written and those below are named by their relative
// paths (a build context). The patterns and the filter apply to the
// entries below p, never to p.
func (w *Writer) AddTree(p, name string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		if w.opts.Lenient && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !fi.IsDir() {
		root, err := os.OpenRoot(filepath.Dir(p))
		if err != nil {
			return w.lenient(err)
		}
		defer root.Close()
		if name == "" {
			name = filepath.Base(p)
		}
		return w.add(root, filepath.Base(p), name, fi)
	}
	root, err := os.OpenRoot(p)
	if err != nil {
		return w.lenient(err)
	}
	defer root.Close()
	if name != "" {
		if err := w.add(root, ".", name, fi); err != nil {
			return err
		}
	}
	parents := map[string]patternmatcher.MatchInfo{}
	return fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			if w.opts.Lenient && rel != "." {
				return nil
			}
			return fmt.Errorf("%s: %w", filepath.Join(p, rel), err)
		}
		if rel == "." {
			return nil
		}
		switch dec, err := w.decide(rel, d, parents); {
		case err != nil:
			return err
		case dec == Exclude && d.IsDir():
			return fs.SkipDir
		case dec != Include:
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return w.lenient(fmt.Errorf("%s: %w", filepath.Join(p, rel), err))
		}
		entry := rel
		if name != "" {
			entry = strings.TrimSuffix(name, "/") + "/" + rel
		}
		return w.add(root, rel, entry, fi)
	})
}

// lenient returns nil for a vanished or unreadable entry when the options
// are lenient, else err.
func (w *Writer) lenient(err error) error {
	if w.opts.Lenient {
		return nil
	}
	return err
}

// decide applies the patterns, then the filter, to an entry below a root.
func (w *Writer) decide(rel string, d fs.DirEntry, parents map[string]patternmatcher.MatchInfo) (Decision, error) {
	if w.pm != nil {
		skip, info, err := w.pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
		if err != nil {
			return Exclude, err
		}
		if d.IsDir() {
			parents[rel] = info
		}
		if skip {
			if d.IsDir() && w.reincludesBelow(rel) {
				return Descend, nil
			}
			return Exclude, nil
		}
	}
	if w.opts.Filter != nil {
		return w.opts.Filter(rel, d)
	}
	return Include, nil
}

// reincludesBelow reports whether an exception pattern may re-include
// something below the excluded directory rel.
func (w *Writer) reincludesBelow(rel string) bool {
	if !w.pm.Exclusions() {
		return false
	}
	for _, pat := range w.pm.Patterns() {
		if pat.Exclusion() && strings.HasPrefix(pat.String()+"/", rel+"/") {
			return true
		}
	}
	return false
}

// add writes one entry: rel is its path beneath root, name its name in the
// stream.
func (w *Writer) add(root *os.Root, rel, name string, fi fs.FileInfo) error {
	mode := fi.Mode()
	switch {
	case mode&fs.ModeSocket != 0, mode&fs.ModeIrregular != 0:
		return nil
	case mode&(fs.ModeDevice|fs.ModeNamedPipe) != 0 && !w.opts.Special:
		return nil
	}
	if w.seen[name] {
		return nil
	}
	link := ""
	if mode&fs.ModeSymlink != 0 {
		var err error
		if link, err = root.Readlink(rel); err != nil {
			return w.lenient(err)
		}
	}
	h, err := Header(fi, name, link, w.opts.KeepOwner)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !mode.IsRegular() {
		if err := w.tw.WriteHeader(h); err != nil {
			return err
		}
		w.seen[name] = true
		if !mode.IsDir() {
			w.files++
		}
		return nil
	}
	// Opened beneath the root before the header is written: a file swapped
	// for a link to elsewhere since the walk cannot be read through, and a
	// file gone leaves no header without content.
	f, err := root.Open(rel)
	if err != nil {
		return w.lenient(err)
	}
	defer f.Close()
	if err := w.tw.WriteHeader(h); err != nil {
		return err
	}
	if n, err := io.CopyN(w.tw, f, h.Size); err != nil {
		return fmt.Errorf("%s: read %d of %d bytes: %w", name, n, h.Size, err)
	}
	w.seen[name] = true
	w.files++
	return nil
}
