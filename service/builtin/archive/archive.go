package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Archive returns a tar stream of path inside root, as the Docker Engine
// API's GET /containers/{id}/archive makes it (see service.CopierFrom): a
// regular file, symbolic link, FIFO or device is one entry; a directory is
// an entry for itself followed by everything below it, in lexical order,
// links not followed, hard links within the tree as TypeLink entries.
// Entries are named after path's last element: "/etc/hosts" gives
// "hosts", "/etc" gives "etc/", "etc/hosts", ...; a path ending in "/."
// gives "./", "./hosts", ...; "/" gives "/", "/etc/", .... A symbolic link
// as the last element is archived as a link; a trailing "/" or "/."
// follows it (inside root). Modes, ownership, modification times (to the
// second) and the security.capability xattr are kept; sockets are left
// out. The caller closes the stream; closing it early, or cancelling ctx,
// stops the archiving. The error wraps service.ErrNotFound when path (or
// root) does not exist.
func Archive(ctx context.Context, root, path string) (io.ReadCloser, error) {
	rc, err := archive(ctx, root, path)
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", path, err)
	}
	return rc, nil
}

// Extract extracts the tar stream r into the directory dir inside root, as
// the Docker Engine API's PUT /containers/{id}/archive does (see
// service.Copier): dir is resolved inside root, following symbolic links;
// entry names, absolute or not, are relative to dir and must not climb
// out of it ("../x" is an error), and hard link targets likewise; an
// entry naming dir itself must be a directory. Existing files are
// replaced, existing directories merged. Ownership is applied when
// running as root; device nodes are not created, and entries named like
// layer whiteouts (".wh.*") are refused. The error wraps
// service.ErrNotFound when dir (or root) does not exist; it is an error
// for dir not to be a directory. On error, part of the stream may have
// been extracted.
func Extract(ctx context.Context, root, dir string, r io.Reader) error {
	if err := extract(ctx, root, dir, r); err != nil {
		return fmt.Errorf("copy to %s: %w", dir, err)
	}
	return nil
}

// Export returns a tar stream of the whole tree at root, as docker export
// makes it: the entries of Archive(root, "/.") named relative to the root
// ("bin/", "etc/hosts"; hard link targets likewise), the root itself left
// out. Symbolic links are archived as links and never followed, so a
// hostile tree cannot make it read outside root. The caller closes the
// stream.
func Export(ctx context.Context, root string) (io.ReadCloser, error) {
	rc, err := archive(ctx, root, "/.")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		err := relativeNames(rc, pw)
		rc.Close()
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// relativeNames copies the tar stream r to w with the "./" prefix of the
// entry names and hard link targets removed, and the "./" entry dropped.
func relativeNames(r io.Reader, w io.Writer) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if name == "" || name == "." {
			continue
		}
		h.Name = name
		if h.Typeflag == tar.TypeLink {
			h.Linkname = strings.TrimPrefix(h.Linkname, "./")
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("export: %s: %w", name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("export: %s: %w", name, err)
		}
	}
}
