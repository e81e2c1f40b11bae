//go:build linux

package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// diffUpper writes the changes an overlay upper directory holds as layer
// entries, in lexical order: files, directories, symbolic links, hard
// links (within the layer), FIFOs and devices as they are; an overlay
// whiteout (a 0/0 character device) as a ".wh.<name>" entry; an opaque
// directory as the directory followed by its ".wh..wh..opq" marker.
// security.capability is kept, as docker does; other xattrs are not.
func diffUpper(ctx context.Context, upper string, lw *layerWriter) error {
	inodes := map[[2]uint64]string{}
	return filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		hdr := &tar.Header{
			Name:    name,
			Mode:    int64(st.Mode & 0o7777),
			Uid:     int(st.Uid),
			Gid:     int(st.Gid),
			ModTime: time.Unix(st.Mtim.Unix()),
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			if st.Rdev == 0 {
				wh := &tar.Header{Name: path.Join(path.Dir(name), whiteoutPrefix+path.Base(name)), Typeflag: tar.TypeReg, ModTime: hdr.ModTime}
				return lw.add(wh, nil)
			}
			hdr.Typeflag = tar.TypeChar
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		case unix.S_IFBLK:
			hdr.Typeflag = tar.TypeBlock
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		case unix.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		case unix.S_IFDIR:
			hdr.Typeflag = tar.TypeDir
			if err := capability(p, hdr); err != nil {
				return err
			}
			if err := lw.add(hdr, nil); err != nil {
				return err
			}
			if opaque(p) {
				marker := &tar.Header{Name: path.Join(name, opaqueMarker), Typeflag: tar.TypeReg, ModTime: hdr.ModTime}
				return lw.add(marker, nil)
			}
			return nil
		case unix.S_IFREG:
			if st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := inodes[key]; ok {
					hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
					return lw.add(hdr, nil)
				}
				inodes[key] = name
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
			if err := capability(p, hdr); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			defer f.Close()
			return lw.add(hdr, f)
		default:
			return nil // sockets
		}
		return lw.add(hdr, nil)
	})
}

// opaque reports whether the directory p is an overlay opaque directory:
// trusted.overlay.opaque=y for a privileged mount, user.overlay.opaque=y for
// one with the userxattr option.
func opaque(p string) bool {
	buf := make([]byte, 8)
	for _, x := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Lgetxattr(p, x, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// capability records p's security.capability xattr in hdr.
func capability(p string, hdr *tar.Header) error {
	buf := make([]byte, 128)
	n, err := unix.Lgetxattr(p, "security.capability", buf)
	if errors.Is(err, unix.ERANGE) {
		sz, serr := unix.Lgetxattr(p, "security.capability", nil)
		if serr != nil {
			return nil
		}
		buf = make([]byte, sz)
		n, err = unix.Lgetxattr(p, "security.capability", buf)
	}
	if err != nil || n <= 0 {
		return nil // none, or not supported
	}
	hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(buf[:n])}
	return nil
}
