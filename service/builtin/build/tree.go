package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// Whiteout names of the docker/OCI layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueMarker   = ".wh..wh..opq"
)

// maxSymlinks bounds the symbolic links followed while resolving a path,
// as the kernel's ELOOP limit does.
const maxSymlinks = 40

// fsTree is an index of a filesystem made of tar layers: the build context
// (one "layer" whose contents are all spooled) or an image's layers applied
// in order, whiteouts included. It holds headers; file contents are read
// from the layers on demand (load) and spooled.
type fsTree struct {
	root *fsNode
	// layers are the layers applied, by index; nil for the build context.
	layers []*buildLayer
	// literal: names starting with ".wh." are plain files (the build
	// context), not whiteouts.
	literal bool
}

// fsNode is one path of an fsTree.
type fsNode struct {
	// hdr describes the node; its Name is not maintained (paths come from
	// the walk). nil for a directory no entry described (an implicit
	// parent).
	hdr *tar.Header
	// children are a directory's entries; nil for other nodes.
	children map[string]*fsNode
	// layer is the index of the layer that last set the node.
	layer int
	// content is where a regular file's data is, nil for other nodes (and
	// for hard links whose target was missing: they read as empty).
	content *contentRef
}

// contentRef locates a file's data: the entry name in a layer, and the
// spooled copy once loaded.
type contentRef struct {
	layer int
	name  string
	data  *spooled
}

func newTree(literal bool) *fsTree {
	return &fsTree{root: newDir(nil, -1), literal: literal}
}

func newDir(hdr *tar.Header, layer int) *fsNode {
	return &fsNode{hdr: hdr, children: map[string]*fsNode{}, layer: layer}
}

// isDir reports whether n is a directory.
func (n *fsNode) isDir() bool { return n != nil && n.children != nil }

// isSymlink reports whether n is a symbolic link.
func (n *fsNode) isSymlink() bool {
	return n != nil && n.hdr != nil && n.hdr.Typeflag == tar.TypeSymlink
}

// isFile reports whether n is a regular file (or a hard link to one).
func (n *fsNode) isFile() bool {
	return n != nil && n.hdr != nil && (n.hdr.Typeflag == tar.TypeReg || n.hdr.Typeflag == tar.TypeLink)
}

// header returns a copy of n's header named name, with an implicit
// directory's defaults (0755, root, mtime) when it has none.
func (n *fsNode) header(name string, mtime time.Time) *tar.Header {
	if n.hdr == nil {
		return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}
	}
	h := *n.hdr
	h.Name = name
	return &h
}

// clone returns a deep copy of the tree (headers and spooled contents are
// shared: they are not modified).
func (t *fsTree) clone() *fsTree {
	var cp func(n *fsNode) *fsNode
	cp = func(n *fsNode) *fsNode {
		m := *n
		if n.children != nil {
			m.children = make(map[string]*fsNode, len(n.children))
			for k, c := range n.children {
				m.children[k] = cp(c)
			}
		}
		return &m
	}
	return &fsTree{root: cp(t.root), layers: append([]*buildLayer(nil), t.layers...), literal: t.literal}
}

// cleanName normalises a tar entry name or a path to a slash path relative
// to the root, without "." components: "/etc/./x/" is "etc/x", "." and
// "/" are "". Components ".." are resolved lexically and cannot climb
// above the root.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// splitPath returns the components of a cleaned path.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// lookup returns the node at the cleaned path p, following no symbolic
// link, or nil.
func (t *fsTree) lookup(p string) *fsNode {
	n := t.root
	for _, c := range splitPath(p) {
		if !n.isDir() {
			return nil
		}
		n = n.children[c]
		if n == nil {
			return nil
		}
	}
	return n
}

// resolve walks p (a path relative to the root; a leading "/" is ignored),
// following symbolic links met on the way, and the last component too when
// followLast, all confined to the root: ".." and absolute targets never
// leave it. It returns the real path and its node; when the path does not
// exist the node is nil and the path is the real path of the deepest
// existing directory followed by the remaining components.
func (t *fsTree) resolve(p string, followLast bool) (string, *fsNode, error) {
	queue := splitPath(cleanName(p))
	var stack []*fsNode
	var names []string
	cur := t.root
	links := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				cur = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				names = names[:len(names)-1]
			}
			continue
		}
		var next *fsNode
		if cur.isDir() {
			next = cur.children[c]
		}
		if next == nil {
			// Missing: the rest is lexical.
			rest := append([]string{c}, queue...)
			real := cleanName(strings.Join(append(append([]string{}, names...), rest...), "/"))
			return real, nil, nil
		}
		if next.isSymlink() && (len(queue) > 0 || followLast) {
			links++
			if links > maxSymlinks {
				return "", nil, fmt.Errorf("resolving %q: too many levels of symbolic links", p)
			}
			target := next.hdr.Linkname
			if strings.HasPrefix(target, "/") {
				cur, stack, names = t.root, nil, nil
			}
			queue = append(strings.Split(target, "/"), queue...)
			continue
		}
		if !next.isDir() && len(queue) > 0 {
			// A file used as a directory: the path does not exist.
			real := cleanName(strings.Join(append(append(append([]string{}, names...), c), queue...), "/"))
			return real, nil, nil
		}
		stack = append(stack, cur)
		names = append(names, c)
		cur = next
	}
	return strings.Join(names, "/"), cur, nil
}

// ensureDir returns the directory at the real path p, creating implicit
// directories for missing components and replacing non-directories in the
// way (as a layer entry below them does).
func (t *fsTree) ensureDir(p string, layer int) *fsNode {
	n := t.root
	for _, c := range splitPath(p) {
		child := n.children[c]
		if !child.isDir() {
			child = newDir(nil, layer)
			n.children[c] = child
		}
		n = child
	}
	return n
}

// parentOf resolves the parent directory of the entry name (following
// symbolic links, as the layer unpacker does) and returns its real path,
// creating it when missing.
func (t *fsTree) parentOf(name string, layer int) (string, *fsNode, error) {
	dir := path.Dir(name)
	if dir == "." {
		return "", t.root, nil
	}
	real, n, err := t.resolve(dir, true)
	if err != nil {
		return "", nil, err
	}
	if !n.isDir() {
		n = t.ensureDir(real, layer)
	}
	return real, n, nil
}

// apply adds the entries of a tar layer to the tree, as the layer index
// layer: entries replace what is at their path (directories keep their
// children), whiteouts remove paths and opaque markers empty directories of
// what earlier layers put there. With sp, file contents are spooled as they
// are read; otherwise they are left in the layer for load.
func (t *fsTree) apply(ctx context.Context, layer int, r io.Reader, sp *spool) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := t.applyEntry(layer, hdr, tr, sp); err != nil {
			return err
		}
	}
}

// applyEntry applies one tar entry; r reads its content.
func (t *fsTree) applyEntry(layer int, hdr *tar.Header, r io.Reader, sp *spool) error {
	name := cleanName(hdr.Name)
	if name == "" {
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			t.root.hdr = &h
		}
		return nil
	}
	base := path.Base(name)
	_, parent, err := t.parentOf(name, layer)
	if err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	if !t.literal && strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == opaqueMarker:
			pruneOpaque(parent, layer)
		case strings.HasPrefix(base, whiteoutMeta):
			// AUFS metadata: ignored.
		default:
			delete(parent.children, strings.TrimPrefix(base, whiteoutPrefix))
		}
		return nil
	}
	h := *hdr
	h.Name = name
	if t.literal {
		// The context's xattrs (a Mac's quarantine, say) are not the
		// image's business.
		h.PAXRecords = nil
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if old := parent.children[base]; old.isDir() {
			old.hdr, old.layer = &h, layer
			return nil
		}
		parent.children[base] = newDir(&h, layer)
		return nil
	case tar.TypeReg, typeRegA:
		h.Typeflag = tar.TypeReg
		ref := &contentRef{layer: layer, name: name}
		if sp != nil {
			d, err := sp.add(r)
			if err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
			ref.data = d
		}
		parent.children[base] = &fsNode{hdr: &h, layer: layer, content: ref}
	case tar.TypeLink:
		var ref *contentRef
		if _, target, err := t.resolve(cleanName(h.Linkname), false); err == nil && target != nil && target.content != nil {
			ref = target.content
		}
		parent.children[base] = &fsNode{hdr: &h, layer: layer, content: ref}
	case tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		parent.children[base] = &fsNode{hdr: &h, layer: layer}
	default:
		// Extended headers are consumed by archive/tar; other types
		// (sockets, GNU sparse files) have nothing to copy.
	}
	return nil
}

// pruneOpaque empties dir of what layers before layer put there, keeping
// what layer itself added (and the directories leading to it).
func pruneOpaque(dir *fsNode, layer int) {
	for name, c := range dir.children {
		if c.layer >= layer {
			continue
		}
		if c.isDir() {
			pruneOpaque(c, layer)
			if len(c.children) > 0 {
				continue
			}
		}
		delete(dir.children, name)
	}
}

// walk calls fn for n and everything below it, parents first, children in
// name order; rel is the path relative to n ("" for n itself).
func walk(n *fsNode, rel string, fn func(rel string, n *fsNode) error) error {
	if err := fn(rel, n); err != nil {
		return err
	}
	if !n.isDir() {
		return nil
	}
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := walk(n.children[k], path.Join(rel, k), fn); err != nil {
			return err
		}
	}
	return nil
}

// load makes sure the contents of nodes are spooled, reading each layer
// that holds some of them once.
func (t *fsTree) load(ctx context.Context, sp *spool, nodes []*fsNode) error {
	want := map[int]map[string][]*contentRef{}
	for _, n := range nodes {
		ref := n.content
		if ref == nil || ref.data != nil {
			continue
		}
		if want[ref.layer] == nil {
			want[ref.layer] = map[string][]*contentRef{}
		}
		want[ref.layer][ref.name] = append(want[ref.layer][ref.name], ref)
	}
	idx := make([]int, 0, len(want))
	for i := range want {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		if i < 0 || i >= len(t.layers) {
			return fmt.Errorf("internal error: content in layer %d of %d", i, len(t.layers))
		}
		if err := loadFrom(ctx, t.layers[i], sp, want[i]); err != nil {
			return err
		}
	}
	return nil
}

// loadFrom reads layer l and spools the entries named in want (the last
// entry of each name wins, as when the layer is applied).
func loadFrom(ctx context.Context, l *buildLayer, sp *spool, want map[string][]*contentRef) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.diffID, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.diffID, err)
		}
		refs := want[cleanName(hdr.Name)]
		if len(refs) == 0 || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != typeRegA) {
			continue
		}
		d, err := sp.add(tr)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.diffID, err)
		}
		for _, r := range refs {
			r.data = d
		}
		found[cleanName(hdr.Name)] = true
	}
	for name := range want {
		if !found[name] {
			return fmt.Errorf("layer %s: entry %q not found", l.diffID, name)
		}
	}
	return nil
}

// readFile returns the content of a loaded file node.
func readFile(n *fsNode) ([]byte, error) {
	if n.content == nil {
		return nil, nil
	}
	if n.content.data == nil {
		return nil, errors.New("internal error: file content not loaded")
	}
	return io.ReadAll(n.content.data.reader())
}

// typeRegA is the regular-file type flag of pre-POSIX tars ('\x00'), which
// archive/tar deprecates but old layers and contexts still carry.
const typeRegA = '\x00'
