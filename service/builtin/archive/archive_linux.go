//go:build linux

package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/layer"
	"golang.org/x/sys/unix"
)

// maxLinks bounds the symbolic links followed while resolving a path.
const maxLinks = 40

// capXattr is the one extended attribute archived, as Docker does.
const capXattr = "security.capability"

// openRoot opens root as the anchor of the resolutions inside it.
func openRoot(root string) (int, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, notFound(&os.PathError{Op: "open root", Path: root, Err: err})
	}
	return fd, nil
}

// openIn opens p, relative to the root ("." for the root itself), with the
// kernel confining the walk, symbolic links included, to the root.
func openIn(rootfd int, p string, flags uint64) (int, error) {
	how := &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(rootfd, p, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOSYS):
			return -1, errors.New("openat2 unavailable: kernel 5.6+ required")
		}
		return -1, &os.PathError{Op: "open", Path: path.Join("/", p), Err: err}
	}
}

// notFound marks err, when it says that a path does not exist, as
// service.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w: %w", service.ErrNotFound, err)
	}
	return err
}

// split returns the container path p relative to the root ("." for the
// root), the name of its entry in the archive, and whether a symbolic link
// as its last element is followed.
func split(p string) (rel, name string, follow bool) {
	clean := path.Clean("/" + p)
	rel = strings.TrimPrefix(clean, "/")
	if rel == "" {
		rel = "."
	}
	switch {
	case p != "" && path.Base(p) == ".":
		return rel, ".", true
	case clean == "/":
		return rel, "/", true
	}
	return rel, path.Base(clean), strings.HasSuffix(p, "/")
}

func archive(ctx context.Context, root, p string) (io.ReadCloser, error) {
	rel, name, follow := split(p)
	rootfd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	// The walk starts at base in dirfd: "." in the directory itself when
	// the last element is followed, its name in its parent otherwise.
	dirfd, base := -1, "."
	if follow {
		dirfd, err = openIn(rootfd, rel, unix.O_PATH|unix.O_DIRECTORY)
	} else {
		dirfd, err = openIn(rootfd, path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
		base = path.Base(rel)
	}
	if err != nil {
		return nil, notFound(err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(dirfd)
		return nil, notFound(&os.PathError{Op: "lstat", Path: path.Join("/", rel), Err: err})
	}

	pr, pw := io.Pipe()
	go func() {
		defer unix.Close(dirfd)
		stop := context.AfterFunc(ctx, func() { pw.CloseWithError(fmt.Errorf("copy from %s: %w", p, ctx.Err())) })
		defer stop()
		a := &archiver{ctx: ctx, tw: tar.NewWriter(pw), links: map[[2]uint64]string{}}
		err := a.add(dirfd, base, name, true)
		if err == nil {
			err = a.tw.Close()
		}
		if err != nil {
			err = fmt.Errorf("copy from %s: %w", p, err)
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// archiver writes a tree to a tar stream.
type archiver struct {
	ctx context.Context
	tw  *tar.Writer
	// links maps the device and inode of the multiply-linked files
	// archived to their entry names.
	links map[[2]uint64]string
}

// add archives base in the directory dirfd (and below it) as name. top
// says base is the path asked for: anything else that vanishes meanwhile
// (a running container changes its files) is left out.
func (a *archiver) add(dirfd int, base, name string, top bool) error {
	if err := a.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return a.vanished(&os.PathError{Op: "lstat", Path: name, Err: err}, top)
	}
	sec, _ := st.Mtim.Unix()
	h := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(sec, 0),
	}
	kind := st.Mode & unix.S_IFMT
	switch kind {
	case unix.S_IFDIR:
		return a.dir(dirfd, base, h, top)
	case unix.S_IFSOCK:
		return nil // as Docker does: tar has no sockets
	}
	if st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := a.links[key]; ok {
			h.Typeflag, h.Linkname = tar.TypeLink, first
			return a.tw.WriteHeader(h)
		}
		a.links[key] = name
	}
	switch kind {
	case unix.S_IFREG:
		return a.file(dirfd, base, h, &st, top)
	case unix.S_IFLNK:
		h.Typeflag = tar.TypeSymlink
		target, err := readlink(dirfd, base)
		if err != nil {
			return a.vanished(&os.PathError{Op: "readlink", Path: name, Err: err}, top)
		}
		h.Linkname = target
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if kind == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	default:
		return nil
	}
	return a.tw.WriteHeader(h)
}

// vanished returns nil for an entry below the path asked for that no
// longer exists, err otherwise.
func (a *archiver) vanished(err error, top bool) error {
	if !top && errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// dir archives the directory base in dirfd and its contents.
func (a *archiver) dir(dirfd int, base string, h *tar.Header, top bool) error {
	fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return a.vanished(&os.PathError{Op: "open", Path: h.Name, Err: err}, top)
	}
	f := os.NewFile(uintptr(fd), h.Name)
	defer f.Close()
	h.Typeflag = tar.TypeDir
	if !strings.HasSuffix(h.Name, "/") {
		h.Name += "/"
	}
	if err := a.tw.WriteHeader(h); err != nil {
		return err
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err == nil && (fs.Type == unix.PROC_SUPER_MAGIC || fs.Type == unix.SYSFS_MAGIC) {
		return nil // a running container's /proc or /sys
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return &os.PathError{Op: "readdir", Path: h.Name, Err: err}
	}
	slices.Sort(names)
	prefix := strings.TrimSuffix(h.Name, "/") // "etc", "." or "" for "/"
	for _, n := range names {
		if err := a.add(fd, n, prefix+"/"+n, false); err != nil {
			return err
		}
	}
	return nil
}

// file archives the regular file base in dirfd, described by st.
func (a *archiver) file(dirfd int, base string, h *tar.Header, st *unix.Stat_t, top bool) error {
	// O_NONBLOCK: should base have been replaced by a FIFO, opening it
	// must not block (the check below then fails).
	fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return a.vanished(&os.PathError{Op: "open", Path: h.Name, Err: err}, top)
	}
	f := os.NewFile(uintptr(fd), h.Name)
	defer f.Close()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return &os.PathError{Op: "stat", Path: h.Name, Err: err}
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG || fst.Dev != st.Dev || fst.Ino != st.Ino {
		return fmt.Errorf("%s: replaced while being archived", h.Name)
	}
	h.Typeflag, h.Size = tar.TypeReg, fst.Size
	buf := make([]byte, 256)
	if n, err := unix.Fgetxattr(fd, capXattr, buf); err == nil {
		h.PAXRecords = map[string]string{"SCHILY.xattr." + capXattr: string(buf[:n])}
	}
	if err := a.tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := io.CopyN(a.tw, f, h.Size); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s: truncated while being archived", h.Name)
		}
		return err
	}
	return nil
}

// readlink returns the target of the symbolic link base in dirfd.
func readlink(dirfd int, base string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, base, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func extract(ctx context.Context, root, dir string, r io.Reader) error {
	rootfd, err := openRoot(root)
	if err != nil {
		return err
	}
	target, err := resolve(rootfd, dir)
	unix.Close(rootfd)
	if err != nil {
		return err
	}
	// The entries are renamed from the root, then applied by the layer
	// unpacker, which keeps each of them inside the root.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	var rerr error
	go func() {
		defer close(done)
		rerr = rebase(tar.NewReader(r), tar.NewWriter(pw), target)
		pw.CloseWithError(rerr)
	}()
	_, err = layer.Unpack(ctx, root, pr, layer.Options{IgnoreOwnership: os.Geteuid() != 0})
	pr.Close() // stops the renaming if the unpacker failed
	<-done
	if rerr != nil && !errors.Is(rerr, io.ErrClosedPipe) {
		return rerr
	}
	return err
}

// resolve returns the directory p of the container as a path relative to
// the root ("." for the root itself), its symbolic links followed as if
// the root were "/". The error wraps service.ErrNotFound when p does not
// exist.
func resolve(rootfd int, p string) (string, error) {
	var out []string // the components resolved, all directories
	todo := strings.Split(p, "/")
	join := func(c ...string) string {
		if all := append(slices.Clip(out), c...); len(all) > 0 {
			return strings.Join(all, "/")
		}
		return "."
	}
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		fd, err := openIn(rootfd, join(), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return "", notFound(err)
		}
		var st unix.Stat_t
		var link string
		err = unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			link, err = readlink(fd, c)
		}
		unix.Close(fd)
		if err != nil {
			return "", notFound(&os.PathError{Op: "lstat", Path: "/" + join(c), Err: err})
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			out = append(out, c)
		case unix.S_IFLNK:
			if links++; links > maxLinks {
				return "", &os.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
			}
			if path.IsAbs(link) {
				out = out[:0]
			}
			todo = append(strings.Split(link, "/"), todo...)
		default:
			err := &os.PathError{Op: "resolve", Path: "/" + join(c), Err: unix.ENOTDIR}
			if slices.ContainsFunc(todo, func(c string) bool { return c != "" && c != "." }) {
				return "", notFound(err) // a path below a file
			}
			return "", fmt.Errorf("/%s is not a directory", join(c))
		}
	}
	return join(), nil
}

// rebase copies the tar stream tr to tw with each entry renamed from the
// root, as if extracted in dir (relative to the root), and so the targets
// of hard links, refusing names that climb out of dir. It closes tw.
func rebase(tr *tar.Reader, tw *tar.Writer, dir string) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // already applied by the reader
		}
		if sparse(h) {
			// tar.Writer cannot keep the holes: a small stream could
			// make huge files.
			return fmt.Errorf("entry %q: sparse files are not supported", h.Name)
		}
		name, err := under(dir, h.Name)
		if err != nil {
			return fmt.Errorf("entry %w", err)
		}
		if name == dir && h.Typeflag != tar.TypeDir {
			return fmt.Errorf("entry %q: the destination directory can only be replaced by a directory", h.Name)
		}
		if strings.HasPrefix(path.Base(name), ".wh.") {
			// The layer unpacker would apply it as a whiteout.
			return fmt.Errorf("entry %q: whiteout names (.wh.*) are not supported", h.Name)
		}
		if h.Typeflag == tar.TypeLink {
			if h.Linkname, err = under(dir, h.Linkname); err != nil {
				return fmt.Errorf("hard link %q: target %w", h.Name, err)
			}
		}
		h.Name, h.Format = name, tar.FormatPAX // PAX encodes any name
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// sparse reports whether h is a GNU sparse file (old GNU or PAX format).
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return h.Typeflag == tar.TypeGNUSparse
}

// under returns the entry name as if extracted in dir (relative to the
// root): absolute names are relative to dir too, as for Docker, and names
// that climb out of it are an error.
func under(dir, name string) (string, error) {
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q is outside the destination directory", name)
	}
	clean = strings.TrimLeft(clean, "/")
	switch {
	case clean == "" || clean == ".":
		return dir, nil
	case dir == ".":
		return clean, nil
	}
	return dir + "/" + clean, nil
}
