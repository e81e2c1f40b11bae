// Package dockercp is docker cp's semantics for berth cp, between the
// host and a service's container through the backend's CopyTo/CopyFrom:
// which end is the container (SplitArg), how paths are read (ContainerPath,
// LocalPath: relative container paths from the root, a trailing "/" or
// "/." kept), where a copy lands (a directory into an existing directory
// goes inside it, "/." stands for its contents, a missing destination is
// created, a DEST ending in "/" must exist), symbolic links (kept, or
// followed with -L, at most 10 in a row), which replicas a copy reads from
// or writes to (Targets), and the host side: the tar stream of a local
// path (reconcile/hosttar, root-owned unless -a) and the extraction of a
// container's stream beneath the destination (never outside it, through
// links or ".."; devices and pipes not created).
package dockercp

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/reconcile/hosttar"
	"github.com/berthdev/berth/service"
)

// SplitArg splits a cp argument into a service and a path. A local path
// is one that is absolute, has no colon, or starts with "." ("./a:b").
func SplitArg(arg string) (svc, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	svc, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(svc, ".") {
		return "", arg
	}
	return svc, p
}

// LocalPath makes a local path absolute from the working directory wd,
// keeping a trailing "/" or "/.", which cp gives a meaning; "-" is kept.
func LocalPath(wd, p string) string {
	if p == "-" || filepath.IsAbs(p) {
		return p
	}
	return preserveTrailing(filepath.Join(wd, p), p)
}

// ContainerPath makes a path in a container absolute (docker cp takes
// relative ones from the root), keeping a trailing "/" or "/.".
func ContainerPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return preserveTrailing(path.Join("/", p), p)
}

// preserveTrailing appends to clean, a cleaned form of orig, the "/." or "/"
// that orig ends with.
func preserveTrailing(clean, orig string) string {
	if path.Base(orig) == "." && path.Base(clean) != "." {
		clean = strings.TrimSuffix(clean, "/") + "/."
	}
	if strings.HasSuffix(orig, "/") && !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	return clean
}

// splitPathEntry splits a path into its directory and its last element,
// which is "." for a path ending in "/." and "/" for the root. (Host paths
// are slash-separated on the platforms berth runs on.)
func splitPathEntry(p string) (dir, base string) {
	clean := path.Clean(p)
	if path.Base(p) == "." && clean != "." {
		clean = strings.TrimSuffix(clean, "/") + "/."
	}
	return path.Dir(clean), path.Base(clean)
}

// assertsDirectory reports whether p says it is a directory: it ends with
// "/" or "/.".
func assertsDirectory(p string) bool {
	return strings.HasSuffix(p, "/") || path.Base(p) == "."
}

// rebasedLink returns resolved, the target p's symbolic links resolve to,
// with p's trailing "/." or "/", and the name the copy must take when the
// links changed the last element ("" when they did not).
func rebasedLink(p, resolved string) (string, string) {
	resolved = preserveTrailing(resolved, p)
	if path.Base(p) != path.Base(resolved) {
		return resolved, path.Base(p)
	}
	return resolved, ""
}

// Info is what cp knows of one end of a copy.
type Info struct {
	path   string // symbolic links resolved
	exists bool
	isDir  bool
	rebase string // the name the copy takes instead of path's last element, if any
}

// maxLinks bounds the symbolic links cp follows in a row.
const maxLinks = 10

// prepareCopy decides, as docker cp does, where an archive of src must be
// extracted for the copy to land at dst, and the new name of the archive's
// first path element ("" to keep the source's own).
func prepareCopy(src, dst Info, what string) (dir, name string, err error) {
	dstDir, dstBase := splitPathEntry(dst.path)
	switch {
	case dst.exists && dst.isDir:
		return dst.path, src.rebase, nil
	case dst.exists && src.isDir:
		return "", "", fmt.Errorf("cannot copy a directory to %s: it is a file", what)
	case dst.exists, src.isDir:
		return dstDir, dstBase, nil
	case assertsDirectory(dst.path):
		return "", "", fmt.Errorf("directory %s does not exist", what)
	}
	return dstDir, dstBase, nil
}

// peekArchive opens the archive of p in container c and reads its first
// entry, which describes p itself. r replays the archive from its start.
// The backend's error is returned as is.
func peekArchive(ctx context.Context, cf service.CopierFrom, c service.Container, p string) (rc io.ReadCloser, first *tar.Header, r io.Reader, err error) {
	rc, err = cf.CopyFrom(ctx, c.ID, p)
	if err != nil {
		return nil, nil, nil, err
	}
	var head bytes.Buffer
	first, err = tar.NewReader(io.TeeReader(rc, &head)).Next()
	if err != nil {
		rc.Close()
		return nil, nil, nil, fmt.Errorf("path %s in container %s: reading its archive: %w", p, c.Name, err)
	}
	return rc, first, io.MultiReader(&head, rc), nil
}

// linkTarget returns where a symbolic link at p, with target link, leads.
func linkTarget(p, link string) string {
	if path.IsAbs(link) {
		return link
	}
	dir, _ := splitPathEntry(p)
	return path.Join(dir, link)
}

// notInContainer returns err, or for ErrNotFound a plain message naming
// path p and container c.
func notInContainer(err error, p string, c service.Container) error {
	if errors.Is(err, service.ErrNotFound) {
		return fmt.Errorf("path %s not found in container %s", p, c.Name)
	}
	return err
}

// CopyOut copies src, an absolute path in container c (ContainerPath), to
// the local path dst (relative to wd), or with dst "-" writes its tar
// stream to stdout, by docker cp's rules: a directory copied into an
// existing directory goes inside it under its own name, one copied to a
// path that does not exist is created there, "/." stands for a
// directory's contents, a symbolic link at the end of src is copied as a
// link unless followLink. What is extracted belongs to the user who runs
// berth; devices and pipes are not created, and their names are returned.
func CopyOut(ctx context.Context, cf service.CopierFrom, c service.Container, src, dst, wd string, stdout io.Writer, followLink bool) (skipped []string, err error) {
	rc, first, r, err := peekArchive(ctx, cf, c, src)
	if err != nil {
		return nil, notInContainer(err, src, c)
	}
	rebase := ""
	for n := 0; followLink && first.Typeflag == tar.TypeSymlink; n++ {
		rc.Close()
		if n == maxLinks {
			return nil, fmt.Errorf("path %s in container %s: too many symbolic links", src, c.Name)
		}
		resolved, name := rebasedLink(src, linkTarget(src, first.Linkname))
		if rebase == "" {
			rebase = name
		}
		src = resolved
		if rc, first, r, err = peekArchive(ctx, cf, c, src); err != nil {
			return nil, notInContainer(err, src, c)
		}
	}
	defer rc.Close()
	if dst == "-" {
		_, err := io.Copy(stdout, r)
		return nil, err
	}

	dstInfo, err := LocalDestination(LocalPath(wd, dst))
	if err != nil {
		return nil, err
	}
	srcInfo := Info{path: src, exists: true, isDir: first.Typeflag == tar.TypeDir, rebase: rebase}
	dir, name, err := prepareCopy(srcInfo, dstInfo, dst)
	if err != nil {
		return nil, err
	}
	_, base := splitPathEntry(src)
	skipped, err = extract(r, dir, base, name)
	if err != nil {
		return skipped, fmt.Errorf("copy %s:%s to %s: %w", c.Name, src, dst, err)
	}
	return skipped, nil
}

// LocalDestination describes the local destination p of a copy, following
// symbolic links: it need not exist, but its directory must.
func LocalDestination(p string) (Info, error) {
	fi, err := os.Lstat(p)
	for n := 0; err == nil && fi.Mode()&fs.ModeSymlink != 0; n++ {
		if n == maxLinks {
			return Info{}, fmt.Errorf("%s: too many symbolic links", p)
		}
		var link string
		if link, err = os.Readlink(p); err != nil {
			return Info{}, err
		}
		p = linkTarget(p, link)
		fi, err = os.Lstat(p)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir, _ := splitPathEntry(p)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return Info{}, fmt.Errorf("directory %s does not exist", dir)
		}
		return Info{path: p}, nil
	case err != nil:
		return Info{}, err
	case !fi.IsDir() && !fi.Mode().IsRegular():
		return Info{}, fmt.Errorf("destination %s must be a directory or a regular file", p)
	}
	return Info{path: p, exists: true, isDir: fi.IsDir()}, nil
}

// LocalSource describes the local source p of a copy: symbolic links are
// resolved in its directory, and at its end too with followLink.
func LocalSource(p string, followLink bool) (Info, error) {
	var resolved, rebase string
	if followLink {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return Info{}, err
		}
		resolved, rebase = rebasedLink(p, r)
	} else {
		dir, base := filepath.Split(p)
		r, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return Info{}, err
		}
		resolved = strings.TrimSuffix(r, "/") + "/" + base
		if strings.HasSuffix(p, "/") && filepath.Base(p) != filepath.Base(resolved) {
			rebase = filepath.Base(p)
		}
	}
	fi, err := os.Lstat(resolved)
	if err != nil {
		return Info{}, err
	}
	return Info{path: resolved, exists: true, isDir: fi.IsDir(), rebase: rebase}, nil
}

// containerDestination describes dst, the destination of a copy in
// container c, following symbolic links; it need not exist.
func containerDestination(ctx context.Context, cf service.CopierFrom, c service.Container, dst string) (Info, error) {
	info := Info{path: dst}
	rc, first, _, err := peekArchive(ctx, cf, c, dst)
	for n := 0; err == nil && first.Typeflag == tar.TypeSymlink; n++ {
		rc.Close()
		if n == maxLinks {
			return Info{}, fmt.Errorf("path %s in container %s: too many symbolic links", dst, c.Name)
		}
		info.path = linkTarget(info.path, first.Linkname)
		rc, first, _, err = peekArchive(ctx, cf, c, info.path)
	}
	switch {
	case errors.Is(err, service.ErrNotFound):
		return info, nil
	case err != nil:
		return Info{}, err
	}
	rc.Close()
	if first.Typeflag != tar.TypeDir && first.Typeflag != tar.TypeReg {
		return Info{}, fmt.Errorf("destination %s:%s must be a directory or a regular file", c.Name, dst)
	}
	info.exists, info.isDir = true, first.Typeflag == tar.TypeDir
	return info, nil
}

// CopyIn copies src, a local path (LocalSource), or with a zero src the
// tar stream in, to dst, an absolute path in container c, by docker cp's
// rules (see CopyOut); a stream is extracted into dst, which must be a
// directory. The files belong to root, or with keepOwner to their owner
// here (uid and gid).
func CopyIn(ctx context.Context, cp service.Copier, cf service.CopierFrom, c service.Container, src Info, in io.Reader, dst string, keepOwner bool) error {
	dstInfo, err := containerDestination(ctx, cf, c, dst)
	if err != nil {
		return err
	}
	where := c.Name + ":" + dst
	dir := dstInfo.path
	if in == nil {
		var name string
		if dir, name, err = prepareCopy(src, dstInfo, where); err != nil {
			return err
		}
		if name == "" {
			_, name = splitPathEntry(src.path)
			if src.rebase != "" {
				name = src.rebase
			}
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTar(pw, src.path, name, keepOwner)) }()
		defer pr.Close() // ends writeTar if the copy stops early
		in = pr
	} else if !dstInfo.exists || !dstInfo.isDir {
		return fmt.Errorf("destination %s must be a directory", where)
	}
	if err := cp.CopyTo(ctx, c.ID, dir, in); err != nil {
		if errors.Is(err, service.ErrNotFound) {
			return fmt.Errorf("directory %s not found in container %s", dir, c.Name)
		}
		return err
	}
	return nil
}

// writeTar writes a tar stream of the local path p (a directory with
// everything below it) with name as its first path element, by
// hosttar's rules and, as docker cp, with devices and pipes. The entries
// belong to root unless keepOwner.
func writeTar(w io.Writer, p, name string, keepOwner bool) error {
	tw, err := hosttar.NewWriter(w, hosttar.Options{KeepOwner: keepOwner, Special: true})
	if err != nil {
		return err
	}
	if err := tw.AddTree(p, name); err != nil {
		return err
	}
	return tw.Close()
}

// rebaseEntry renames the first path element of an archive entry from
// oldBase to newBase ("": unchanged). An archive of "/" has entries
// starting with "/", which become newBase/... .
func rebaseEntry(name, oldBase, newBase string) string {
	if newBase == "" || newBase == oldBase {
		return name
	}
	if oldBase == "/" {
		return newBase + name
	}
	if rest, ok := strings.CutPrefix(name, oldBase); ok && (rest == "" || rest[0] == '/') {
		return newBase + rest
	}
	return name
}

// extract unpacks the tar stream r into dir as docker cp does: ownership
// is not kept, a directory is never replaced by a file nor a file by a
// directory, other files are replaced. The archive's first path element is
// renamed from oldBase to newBase ("": unchanged). Entries that would land
// outside dir, directly or through a symbolic link, are refused; devices
// and pipes are not created, and their names returned.
func extract(r io.Reader, dir, oldBase, newBase string) (skipped []string, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	type dirMeta struct {
		name         string
		mode         fs.FileMode
		atime, mtime time.Time
	}
	var dirs []dirMeta
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return skipped, err
		}
		name := rebaseEntry(h.Name, oldBase, newBase)
		rel := path.Clean(strings.TrimLeft(name, "/"))
		if !filepath.IsLocal(rel) {
			return skipped, fmt.Errorf("archive entry %q is outside the destination", h.Name)
		}
		if parent := path.Dir(rel); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return skipped, err
			}
		}
		isDir := h.Typeflag == tar.TypeDir
		if fi, err := root.Lstat(rel); err == nil {
			switch {
			case fi.IsDir() && isDir:
			case fi.IsDir():
				return skipped, fmt.Errorf("cannot overwrite directory %s with a non-directory", filepath.Join(dir, rel))
			case isDir:
				return skipped, fmt.Errorf("cannot overwrite non-directory %s with a directory", filepath.Join(dir, rel))
			default:
				if err := root.Remove(rel); err != nil {
					return skipped, err
				}
			}
		}
		mode := h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		atime := h.AccessTime
		if atime.IsZero() {
			atime = h.ModTime
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(rel, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return skipped, err
			}
			// Modes and times of directories are set at the end, when
			// nothing more is written in them.
			dirs = append(dirs, dirMeta{rel, mode, atime, h.ModTime})
		case tar.TypeReg:
			f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return skipped, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = root.Chmod(rel, mode)
			}
			if err == nil {
				err = root.Chtimes(rel, atime, h.ModTime)
			}
			if err != nil {
				return skipped, err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return skipped, err
			}
		case tar.TypeLink:
			target := path.Clean(strings.TrimLeft(rebaseEntry(h.Linkname, oldBase, newBase), "/"))
			if !filepath.IsLocal(target) || target == "." {
				return skipped, fmt.Errorf("archive entry %q links outside the destination", h.Name)
			}
			if err := root.Link(target, rel); err != nil {
				return skipped, err
			}
		case tar.TypeXGlobalHeader:
		default:
			skipped = append(skipped, name)
		}
	}
	for _, d := range slices.Backward(dirs) {
		if err := root.Chmod(d.name, d.mode); err != nil {
			return skipped, err
		}
		if err := root.Chtimes(d.name, d.atime, d.mtime); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}

// Targets picks, from cs (the containers of service svc, running or not),
// those a copy reads from (the first) or writes to: the one index names
// (> 0), else with all every one, else replica 1 (the lowest-numbered,
// should 1 be gone), ordered by replica number.
func Targets(cs []service.Container, svc string, index int, all bool) ([]service.Container, error) {
	if len(cs) == 0 {
		return nil, fmt.Errorf("service %s has no container", svc)
	}
	cs = slices.Clone(cs)
	number := func(c service.Container) int {
		n, err := strconv.Atoi(c.Labels[service.LabelContainerNumber])
		if err != nil {
			return int(^uint(0) >> 1)
		}
		return n
	}
	slices.SortStableFunc(cs, func(a, b service.Container) int { return cmp.Compare(number(a), number(b)) })
	switch {
	case index > 0:
		for _, c := range cs {
			if number(c) == index {
				return []service.Container{c}, nil
			}
		}
		return nil, fmt.Errorf("service %s has no container with index %d", svc, index)
	case all:
		return cs, nil
	}
	return cs[:1], nil
}
