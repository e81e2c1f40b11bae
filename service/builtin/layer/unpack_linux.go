//go:build linux

package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueMarker   = ".wh..wh..opq"
	xattrPrefix    = "SCHILY.xattr."
)

// Unpack reads an uncompressed tar stream from r and applies it to the
// directory root (created if missing), confining every path to root as the
// package documentation describes. It returns what was created; on error,
// root may hold part of the layer.
func Unpack(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	var st Stats
	if err := os.MkdirAll(root, 0o755); err != nil {
		return st, fmt.Errorf("layer: %w", err)
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, fmt.Errorf("layer: open root %s: %w", root, err)
	}
	defer unix.Close(rootfd)

	u := &unpacker{
		rootfd: rootfd,
		opts:   opts,
		st:     &st,
		seen:   map[string]bool{},
		dirs:   map[string]*tar.Header{},
	}
	// Probe openat2 once so an old kernel fails clearly.
	fd, err := u.openInRoot(".")
	if errors.Is(err, unix.EPERM) {
		err = errors.New("layer: openat2 unavailable (blocked by a seccomp filter?): kernel 5.6+ required")
	}
	if err != nil {
		return st, err
	}
	unix.Close(fd)

	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("layer: read tar: %w", err)
		}
		if err := u.entry(ctx, hdr, tr); err != nil {
			return st, err
		}
	}
	if err := u.finishDirs(); err != nil {
		return st, err
	}
	return st, nil
}

type unpacker struct {
	rootfd int
	opts   Options
	st     *Stats
	// seen holds the paths created by this layer (for opaque dirs).
	seen map[string]bool
	// dirs holds the directory headers whose mode and times are applied
	// in the final pass.
	dirs map[string]*tar.Header
}

// cleanName normalises a tar name: leading "/" and "." components removed,
// ".." components rejected. It returns "." for the root itself.
func cleanName(name string) (string, error) {
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q has a \"..\" component", ErrUnsafePath, name)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return ".", nil
	}
	return strings.Join(out, "/"), nil
}

func (u *unpacker) skip(format string, args ...any) {
	u.st.Skipped = append(u.st.Skipped, fmt.Sprintf(format, args...))
}

// openInRoot resolves p (relative to the root, "." for the root) as a
// directory with the kernel confining the walk to the root.
func (u *unpacker) openInRoot(p string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(u.rootfd, p, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOSYS):
			return -1, errors.New("layer: openat2 unavailable: kernel 5.6+ required")
		}
		return -1, err
	}
}

// parent returns an fd for the directory holding name (a cleaned,
// non-root name) and the last component, creating missing parents.
func (u *unpacker) parent(name string) (int, string, error) {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	fd, err := u.ensureDir(dir, 0)
	if err != nil {
		return -1, "", fmt.Errorf("layer: %s: resolve parent %s: %w", name, dir, err)
	}
	return fd, base, nil
}

// maxLinkDepth bounds the dangling symlinks ensureDir follows.
const maxLinkDepth = 40

// ensureDir resolves the directory p inside the root, creating what is
// missing (mode 0755) one component at a time. A component that is a
// dangling symlink is followed the way the kernel would, inside the root:
// its target is created, so that "evil -> /etc" then "evil/passwd" makes
// <root>/etc/passwd.
func (u *unpacker) ensureDir(p string, depth int) (int, error) {
	fd, err := u.openInRoot(p)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	if depth > maxLinkDepth {
		return -1, unix.ELOOP
	}
	var comps []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	prev, err := u.openInRoot(".")
	if err != nil {
		return -1, err
	}
	for i, c := range comps {
		sub := strings.Join(comps[:i+1], "/")
		fd, err := u.openInRoot(sub)
		if errors.Is(err, unix.ENOENT) {
			err = unix.Mkdirat(prev, c, 0o755)
			if errors.Is(err, unix.EEXIST) {
				err = u.followDangling(prev, comps[:i], c, depth)
			}
			if err == nil {
				fd, err = u.openInRoot(sub)
			}
		}
		unix.Close(prev)
		if err != nil {
			return -1, err
		}
		prev = fd
	}
	return prev, nil
}

// followDangling creates the target directory of the dangling symlink c in
// dirfd (whose path in the root is dir).
func (u *unpacker) followDangling(dirfd int, dir []string, c string, depth int) error {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, c, buf)
	if err != nil {
		return fmt.Errorf("%s exists and is not a directory: %w", c, err)
	}
	target := string(buf[:n])
	if !strings.HasPrefix(target, "/") && len(dir) > 0 {
		// Not lexically cleaned: the kernel resolves ".." in the root.
		target = strings.Join(dir, "/") + "/" + target
	}
	target = strings.TrimRight(target, "/")
	if target == "" {
		target = "."
	}
	fd, err := u.ensureDir(target, depth+1)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

func (u *unpacker) entry(ctx context.Context, hdr *tar.Header, tr *tar.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return fmt.Errorf("layer: entry %q: %w", hdr.Name, err)
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("layer: entry %q: the root can only be a directory", hdr.Name)
		}
		u.dirs["."] = hdr
		if err := u.owner(u.rootfd, ".", hdr, name); err != nil {
			return err
		}
		return u.xattrs(u.rootfd, ".", hdr, name)
	}
	base := path.Base(name)

	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(name, base)
	}

	pfd, base, err := u.parent(name)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	switch hdr.Typeflag {
	case tar.TypeDir:
		var s unix.Stat_t
		err := unix.Fstatat(pfd, base, &s, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && s.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := removeAt(pfd, base); err != nil {
				return fmt.Errorf("layer: %s: replace: %w", name, err)
			}
			err = unix.ENOENT
		}
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("layer: %s: mkdir: %w", name, err)
			}
		} else if err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		u.st.Dirs++
		u.dirs[name] = hdr
		u.seen[name] = true
		if err := u.owner(pfd, base, hdr, name); err != nil {
			return err
		}
		return u.xattrs(pfd, base, hdr, name)

	case tar.TypeReg, tar.TypeGNUSparse: // archive/tar reads the old TypeRegA as TypeReg
		if err := u.clear(pfd, base, name); err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("layer: %s: create: %w", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		// io.Copy uses tar.Reader.WriteTo, which seeks over the holes
		// of sparse entries instead of writing zeros.
		n, err := io.Copy(ctxFile{ctx, f}, tr)
		u.st.Bytes += n
		if err != nil {
			f.Close()
			return fmt.Errorf("layer: %s: write: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		u.st.Files++

	case tar.TypeSymlink:
		if err := u.clear(pfd, base, name); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("layer: %s: symlink: %w", name, err)
		}
		u.st.Symlinks++

	case tar.TypeLink:
		if err := u.hardlink(pfd, base, name, hdr); err != nil {
			return err
		}
		u.st.Hardlinks++
		u.seen[name] = true
		// A hard link shares the target's inode and attributes.
		return nil

	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			kind = unix.S_IFCHR
		case tar.TypeBlock:
			kind = unix.S_IFBLK
		}
		if kind != unix.S_IFIFO && !u.opts.AllowDevices {
			u.skip("%s: device node not allowed", name)
			return nil
		}
		if err := u.clear(pfd, base, name); err != nil {
			return err
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|0o600, int(dev)); err != nil {
			return fmt.Errorf("layer: %s: mknod: %w", name, err)
		}
		u.st.Files++

	case tar.TypeXGlobalHeader:
		return nil

	default:
		u.skip("%s: unsupported tar entry type %q", name, hdr.Typeflag)
		return nil
	}

	u.seen[name] = true
	if err := u.owner(pfd, base, hdr, name); err != nil {
		return err
	}
	if err := u.xattrs(pfd, base, hdr, name); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// The entry was created just now by us and is not a symlink.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("layer: %s: chmod: %w", name, err)
		}
	}
	return setTimes(pfd, base, hdr, name)
}

// clear removes whatever is at base in pfd so that a non-directory can be
// created there.
func (u *unpacker) clear(pfd int, base, name string) error {
	var s unix.Stat_t
	err := unix.Fstatat(pfd, base, &s, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("layer: %s: %w", name, err)
	}
	if err := removeAt(pfd, base); err != nil {
		return fmt.Errorf("layer: %s: replace: %w", name, err)
	}
	return nil
}

func (u *unpacker) hardlink(pfd int, base, name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("layer: hardlink %q -> %q: %w", hdr.Name, hdr.Linkname, err)
	}
	if target == "." {
		return fmt.Errorf("layer: hardlink %q -> %q: %w: target is the root", hdr.Name, hdr.Linkname, ErrUnsafePath)
	}
	tdir, tbase := path.Split(target)
	tdir = strings.TrimSuffix(tdir, "/")
	if tdir == "" {
		tdir = "."
	}
	tfd, err := u.openInRoot(tdir)
	if err != nil {
		return fmt.Errorf("layer: hardlink %q -> %q: target not found inside root: %w", hdr.Name, hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	var s unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &s, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer: hardlink %q -> %q: target not found inside root: %w", hdr.Name, hdr.Linkname, err)
	}
	if s.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("layer: hardlink %q -> %q: target is a directory", hdr.Name, hdr.Linkname)
	}
	var cur unix.Stat_t
	if err := unix.Fstatat(pfd, base, &cur, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if cur.Dev == s.Dev && cur.Ino == s.Ino {
			return nil // already this file
		}
	}
	if err := u.clear(pfd, base, name); err != nil {
		return err
	}
	// flags 0: a symlink target is linked itself, never followed.
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("layer: hardlink %q -> %q: %w", hdr.Name, hdr.Linkname, err)
	}
	return nil
}

func (u *unpacker) whiteout(name, base string) error {
	u.st.Whiteouts++
	if base == opaqueMarker {
		dir := path.Dir(name)
		dfd, err := u.dirForOpaque(dir)
		if err != nil {
			return fmt.Errorf("layer: opaque marker %s: %w", name, err)
		}
		defer unix.Close(dfd)
		if u.opts.Overlay {
			fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("layer: opaque marker %s: %w", name, err)
			}
			defer unix.Close(fd)
			if err := unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return fmt.Errorf("layer: opaque marker %s: set trusted.overlay.opaque: %w", name, err)
			}
			return nil
		}
		return u.clearOpaque(dfd, dir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		u.st.Whiteouts--
		u.skip("%s: whiteout metadata ignored", name)
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("layer: whiteout %s: %w: bad target", name, ErrUnsafePath)
	}
	if !u.opts.Overlay {
		// Flattened: nothing to remove when the parent does not exist.
		dir := path.Dir(name)
		pfd, err := u.openInRoot(dir)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer: whiteout %s: resolve parent: %w", name, err)
		}
		defer unix.Close(pfd)
		if err := removeAt(pfd, target); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("layer: whiteout %s: %w", name, err)
		}
		return nil
	}
	pfd, _, err := u.parent(name)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := u.clear(pfd, target, name); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("layer: whiteout %s: mknod: %w", name, err)
	}
	return nil
}

// dirForOpaque resolves (creating if needed) the directory of an opaque
// marker.
func (u *unpacker) dirForOpaque(dir string) (int, error) {
	if dir == "." {
		return u.openInRoot(".")
	}
	// Resolve (and create) dir as the parent of a dummy last component.
	pfd, _, err := u.parent(dir + "/x")
	return pfd, err
}

// clearOpaque removes the entries of the directory dfd (at rel) that this
// layer did not create, recursing into the directories it did create.
func (u *unpacker) clearOpaque(dfd int, rel string) error {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		p := n
		if rel != "." {
			p = rel + "/" + n
		}
		if !u.seen[p] {
			if err := removeAt(dfd, n); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %s: %w", p, err)
			}
			continue
		}
		sub, err := unix.Openat(dfd, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // not a directory
		}
		err = u.clearOpaque(sub, p)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// removeAt removes name in dirfd, recursively if it is a directory, never
// following symlinks.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || !(errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM)) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	for {
		names, rerr := f.Readdirnames(256)
		for _, n := range names {
			if err := removeAt(fd, n); err != nil && !errors.Is(err, unix.ENOENT) {
				f.Close()
				return err
			}
		}
		if rerr != nil || len(names) == 0 {
			break
		}
	}
	f.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

func (u *unpacker) owner(pfd int, base string, hdr *tar.Header, name string) error {
	if u.opts.IgnoreOwnership {
		return nil
	}
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer: %s: chown %d:%d: %w", name, hdr.Uid, hdr.Gid, err)
	}
	return nil
}

func (u *unpacker) xattrs(pfd int, base string, hdr *tar.Header, name string) error {
	keys := make([]string, 0, len(hdr.PAXRecords))
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, xattrPrefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	// /proc/self/fd/<parent> is the parent directory; Lsetxattr does not
	// follow the last component.
	p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
	for _, k := range keys {
		attr := strings.TrimPrefix(k, xattrPrefix)
		err := unix.Lsetxattr(p, attr, []byte(hdr.PAXRecords[k]), 0)
		switch {
		case err == nil:
		case errors.Is(err, unix.EOPNOTSUPP):
			u.skip("%s: xattr %s not supported by the filesystem", name, attr)
		case errors.Is(err, unix.EPERM) && u.opts.IgnoreOwnership:
			u.skip("%s: xattr %s not permitted", name, attr)
		default:
			return fmt.Errorf("layer: %s: set xattr %s: %w", name, attr, err)
		}
	}
	return nil
}

func setTimes(pfd int, base string, hdr *tar.Header, name string) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer: %s: set times: %w", name, err)
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// finishDirs applies directory modes and times after their contents were
// written, deepest first.
func (u *unpacker) finishDirs() error {
	names := make([]string, 0, len(u.dirs))
	for n := range u.dirs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ci, cj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if names[i] == "." {
			ci = -1
		}
		if names[j] == "." {
			cj = -1
		}
		if ci != cj {
			return ci > cj
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		hdr := u.dirs[n]
		var pfd int
		var base string
		if n == "." {
			fd, err := u.openInRoot(".")
			if err != nil {
				return err
			}
			pfd, base = fd, "."
		} else {
			dir, b := path.Split(n)
			dir = strings.TrimSuffix(dir, "/")
			if dir == "" {
				dir = "."
			}
			fd, err := u.openInRoot(dir)
			if err != nil {
				continue // removed or replaced by a later entry
			}
			pfd, base = fd, b
		}
		var s unix.Stat_t
		if err := unix.Fstatat(pfd, base, &s, unix.AT_SYMLINK_NOFOLLOW); err != nil || s.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(pfd)
			continue
		}
		err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0)
		if err == nil {
			err = setTimes(pfd, base, hdr, n)
		}
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("layer: %s: %w", n, err)
		}
	}
	return nil
}

// ctxFile is an io.WriteSeeker that stops writing once ctx is done.
type ctxFile struct {
	ctx context.Context
	f   *os.File
}

func (c ctxFile) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.f.Write(p)
}

func (c ctxFile) Seek(off int64, whence int) (int64, error) {
	return c.f.Seek(off, whence)
}
