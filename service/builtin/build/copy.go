package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// copySpec is a COPY or ADD instruction, expanded.
type copySpec struct {
	srcs         []string
	dest, from   string
	chown, chmod string
	// add: ADD (URLs refused, local archives extracted when unpack).
	add, unpack bool
	// text is the instruction, for the history.
	text string
}

// match is a source a COPY copies: the node, and the name it is copied
// under into a directory.
type match struct {
	base string
	node *fsNode
}

// owner is the ownership COPY gives what it copies; nil keeps the
// source's.
type owner struct{ uid, gid int }

// copy runs a COPY or ADD instruction: one layer with the files copied.
func (b *builder) copy(ctx context.Context, s *stage, c copySpec) error {
	src, where, fromContext, err := b.copySource(ctx, s, c.from)
	if err != nil {
		return err
	}
	for _, p := range c.srcs {
		if c.add && isURL(p) {
			return unsupported("ADD from a URL (%s) is not supported", p)
		}
	}
	var matches []match
	for _, p := range c.srcs {
		m, err := sources(src, p, where)
		if err != nil {
			return err
		}
		matches = append(matches, m...)
	}
	if len(matches) == 0 {
		return errors.New("no source files were specified")
	}

	t, err := s.fs(ctx)
	if err != nil {
		return err
	}
	dest := c.dest
	wantDir := dest == "." || dest == ".." || strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.") || strings.HasSuffix(dest, "/..")
	if !path.IsAbs(dest) {
		dest = path.Join(s.workdir(), dest)
	}
	realDest, destNode, err := t.resolve(dest, true)
	if err != nil {
		return err
	}
	destIsDir := wantDir || destNode.isDir()
	if len(matches) > 1 && !destIsDir {
		return fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /", strings.ToUpper(c.kind()))
	}

	// Files from the context belong to root unless --chown; those from a
	// stage or an image (and in archives ADD extracts) keep their owner.
	var chown, own *owner
	if c.chown != "" {
		uid, gid, err := b.lookupOwner(ctx, t, c.chown)
		if err != nil {
			return err
		}
		chown = &owner{uid, gid}
		own = chown
	} else if fromContext {
		own = &owner{0, 0}
	}
	var mode *int64
	if c.chmod != "" {
		m, err := strconv.ParseUint(c.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return unsupported("--chmod=%s: only octal modes are supported", c.chmod)
		}
		v := int64(m)
		mode = &v
	}

	// Load the contents to copy.
	var files []*fsNode
	for _, m := range matches {
		_ = walk(m.node, "", func(_ string, n *fsNode) error {
			if n.isFile() {
				files = append(files, n)
			}
			return nil
		})
	}
	if err := src.load(ctx, b.spool, files); err != nil {
		return fmt.Errorf("reading sources: %w", err)
	}

	out := newOutput(t, s.created())
	dirOwner := owner{0, 0}
	if own != nil {
		dirOwner = *own
	}
	for _, m := range matches {
		switch {
		case m.node.isDir():
			if err := out.mkdirAll(path.Dir(realDest), dirOwner.uid, dirOwner.gid); err != nil {
				return err
			}
			err = walk(m.node, "", func(rel string, n *fsNode) error {
				name := path.Join(realDest, rel)
				if rel == "" && (name == "" || destNode.isDir()) {
					return nil // an existing directory keeps its metadata
				}
				return out.add(name, copyHeader(n, own, mode), dataOf(n))
			})
			if err != nil {
				return err
			}
		case c.add && c.unpack && m.node.isFile():
			done, err := b.extract(out, m.node, realDest, chown, dirOwner)
			if err != nil {
				return fmt.Errorf("ADD %s: %w", m.base, err)
			}
			if done {
				continue
			}
			fallthrough
		default:
			target := realDest
			if destIsDir {
				if err := out.mkdirAll(realDest, dirOwner.uid, dirOwner.gid); err != nil {
					return err
				}
				target = path.Join(realDest, m.base)
			} else if err := out.mkdirAll(path.Dir(realDest), dirOwner.uid, dirOwner.gid); err != nil {
				return err
			}
			if target == "" {
				return fmt.Errorf("cannot copy %s to /", m.base)
			}
			if err := out.add(target, copyHeader(m.node, own, mode), dataOf(m.node)); err != nil {
				return err
			}
		}
	}
	lw, err := newLayerWriter(b.tmp)
	if err != nil {
		return err
	}
	l, err := out.write(lw, filepath.Join(b.tmp, "layers"), s.oci)
	if err != nil {
		return err
	}
	return s.addLayer(ctx, c.text, l)
}

// kind is "COPY" or "ADD".
func (c copySpec) kind() string {
	if c.add {
		return "ADD"
	}
	return "COPY"
}

// copySource returns the filesystem a COPY copies from: the build context,
// a stage (by name or index) or an image.
func (b *builder) copySource(ctx context.Context, s *stage, from string) (t *fsTree, where string, fromContext bool, err error) {
	if from == "" {
		return b.context, "the build context", true, nil
	}
	from, err = b.expand(from, s.env())
	if err != nil {
		return nil, "", false, err
	}
	if j := b.df.stageIndex(from, s.index, true); j >= 0 {
		if b.stages[j] == nil {
			return nil, "", false, fmt.Errorf("--from=%s: stage %d was not built", from, j)
		}
		t, err := b.stages[j].fs(ctx)
		return t, fmt.Sprintf("stage %s", from), false, err
	}
	if _, err := strconv.Atoi(from); err == nil {
		return nil, "", false, fmt.Errorf("--from=%s: no such stage before this one", from)
	}
	base, err := b.baseImage(ctx, from)
	if err != nil {
		return nil, "", false, fmt.Errorf("--from=%s: %w", from, err)
	}
	t, err = base.fs(ctx)
	return t, fmt.Sprintf("image %s", from), false, err
}

// isURL reports whether an ADD source is remote.
func isURL(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@")
}

// hasMeta reports whether a source is a pattern.
func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// sources returns what a source names in t: a path or a pattern, symbolic
// links followed.
func sources(t *fsTree, src, where string) ([]match, error) {
	p := cleanName(src)
	if !hasMeta(p) {
		_, n, err := t.resolve(p, true)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return nil, fmt.Errorf("%q: not found in %s", src, where)
		}
		return []match{{base: path.Base("/" + p), node: n}}, nil
	}
	cands := []string{""}
	for _, c := range splitPath(p) {
		var next []string
		for _, cand := range cands {
			_, n, err := t.resolve(cand, true)
			if err != nil || !n.isDir() {
				continue
			}
			if !hasMeta(c) {
				if _, ok := n.children[c]; ok {
					next = append(next, path.Join(cand, c))
				}
				continue
			}
			names := make([]string, 0, len(n.children))
			for k := range n.children {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, name := range names {
				ok, err := path.Match(c, name)
				if err != nil {
					return nil, fmt.Errorf("source %q: %w", src, err)
				}
				if ok {
					next = append(next, path.Join(cand, name))
				}
			}
		}
		cands = next
	}
	var out []match
	for _, c := range cands {
		_, n, err := t.resolve(c, true)
		if err != nil {
			return nil, err
		}
		if n != nil {
			out = append(out, match{base: path.Base(c), node: n})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: no source files in %s match", src, where)
	}
	return out, nil
}

// copyHeader returns the header of a copy of n: owned by own (nil: as the
// source), with mode's permissions when set; hard links become files.
func copyHeader(n *fsNode, own *owner, mode *int64) *tar.Header {
	h := n.header("", epoch)
	h.Uname, h.Gname = "", ""
	if own != nil {
		h.Uid, h.Gid = own.uid, own.gid
	}
	switch h.Typeflag {
	case tar.TypeLink, tar.TypeReg, typeRegA:
		h.Typeflag = tar.TypeReg
		h.Linkname = ""
		h.Size = 0
		if d := dataOf(n); d != nil {
			h.Size = d.n
		}
	default:
		h.Size = 0
	}
	if mode != nil && (h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeDir) {
		h.Mode = *mode
	}
	return h
}

// dataOf returns the spooled content of a loaded file node, or nil.
func dataOf(n *fsNode) *spooled {
	if n.content == nil {
		return nil
	}
	return n.content.data
}

// lookupOwner resolves a --chown value, "user[:group]" by name or number,
// against the image's /etc/passwd and /etc/group. A user without a group
// gets the group of the same number, as docker documents.
func (b *builder) lookupOwner(ctx context.Context, t *fsTree, spec string) (int, int, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, _, err := b.lookupUser(ctx, t, user)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	if !hasGroup {
		return uid, uid, nil
	}
	gid, err := b.lookupGroup(ctx, t, group)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	return uid, gid, nil
}

// lookupUSER resolves a USER value as the runtime does: a user without a
// group gets its primary group from /etc/passwd (0 for a number not
// there).
func (b *builder) lookupUSER(ctx context.Context, t *fsTree, spec string) (int, int, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, gid, err := b.lookupUser(ctx, t, user)
	if err != nil {
		return 0, 0, fmt.Errorf("USER %s: %w", spec, err)
	}
	if hasGroup {
		if gid, err = b.lookupGroup(ctx, t, group); err != nil {
			return 0, 0, fmt.Errorf("USER %s: %w", spec, err)
		}
	}
	return uid, gid, nil
}

// lookupUser returns the UID and primary GID of a user, by name or
// number (a number not in /etc/passwd has GID 0).
func (b *builder) lookupUser(ctx context.Context, t *fsTree, name string) (int, int, error) {
	if name == "" {
		return 0, 0, errors.New("empty user")
	}
	id, numErr := strconv.Atoi(name)
	if numErr == nil && id < 0 {
		return 0, 0, fmt.Errorf("negative user ID %d", id)
	}
	entries, err := b.idFile(ctx, t, "etc/passwd", 4)
	if err != nil && numErr != nil {
		return 0, 0, fmt.Errorf("unable to find user %s: %w", name, err)
	}
	for _, e := range entries {
		if (numErr == nil && e.id == id) || (numErr != nil && e.name == name) {
			gid, err := strconv.Atoi(e.fields[3])
			if err != nil || gid < 0 {
				return 0, 0, fmt.Errorf("/etc/passwd: user %s: bad GID %q", e.name, e.fields[3])
			}
			return e.id, gid, nil
		}
	}
	if numErr == nil {
		return id, 0, nil
	}
	return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in /etc/passwd", name)
}

// lookupGroup returns the GID of a group, by name or number.
func (b *builder) lookupGroup(ctx context.Context, t *fsTree, name string) (int, error) {
	if name == "" {
		return 0, errors.New("empty group")
	}
	if id, err := strconv.Atoi(name); err == nil {
		if id < 0 {
			return 0, fmt.Errorf("negative group ID %d", id)
		}
		return id, nil
	}
	entries, err := b.idFile(ctx, t, "etc/group", 3)
	if err != nil {
		return 0, fmt.Errorf("unable to find group %s: %w", name, err)
	}
	for _, e := range entries {
		if e.name == name {
			return e.id, nil
		}
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in /etc/group", name)
}

// idEntry is a line of /etc/passwd or /etc/group.
type idEntry struct {
	name   string
	id     int
	fields []string
}

// idFile reads the entries of a passwd-style file of the image (name:x:id:
// ...), those with at least n fields and a numeric ID.
func (b *builder) idFile(ctx context.Context, t *fsTree, file string, n int) ([]idEntry, error) {
	_, node, err := t.resolve(file, true)
	if err != nil || !node.isFile() {
		return nil, fmt.Errorf("no /%s file in the image", file)
	}
	if err := t.load(ctx, b.spool, []*fsNode{node}); err != nil {
		return nil, err
	}
	data, err := readFile(node)
	if err != nil {
		return nil, err
	}
	var out []idEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < n {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil || id < 0 {
			continue
		}
		out = append(out, idEntry{name: f[0], id: id, fields: f})
	}
	return out, sc.Err()
}

// extract adds the entries of n, when it is a tar archive (uncompressed,
// gzip or bzip2), under dir, and reports whether it was one. The archive's
// ownership is kept unless own is set.
func (b *builder) extract(out *output, n *fsNode, dir string, own *owner, dirOwner owner) (bool, error) {
	d := dataOf(n)
	if d == nil {
		return false, nil
	}
	br := bufio.NewReader(d.reader())
	magic, _ := br.Peek(6)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return false, unsupported("extracting xz archives is not supported")
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return false, unsupported("extracting zstd archives is not supported")
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return false, nil // not a tar archive: copied as a file
	}
	if err := out.mkdirAll(dir, dirOwner.uid, dirOwner.gid); err != nil {
		return true, err
	}
	files := map[string]*spooled{}
	for ; err == nil; hdr, err = tr.Next() {
		name := cleanName(hdr.Name)
		if name == "" {
			continue
		}
		if strings.HasPrefix(path.Base(name), whiteoutPrefix) {
			return true, fmt.Errorf("entry %q: names starting with %s are reserved", hdr.Name, whiteoutPrefix)
		}
		h := *hdr
		h.Uname, h.Gname = "", ""
		if own != nil {
			h.Uid, h.Gid = own.uid, own.gid
		}
		var data *spooled
		switch h.Typeflag {
		case tar.TypeReg, typeRegA:
			data, err = b.spool.add(tr)
			if err != nil {
				return true, err
			}
			files[name] = data
			h.Typeflag = tar.TypeReg
		case tar.TypeLink:
			data = files[cleanName(h.Linkname)]
			h.Typeflag, h.Linkname, h.Size = tar.TypeReg, "", 0
			if data != nil {
				h.Size = data.n
			}
		case tar.TypeDir, tar.TypeSymlink, tar.TypeFifo:
			h.Size = 0
		default:
			continue
		}
		if err := out.add(path.Join(dir, name), &h, data); err != nil {
			return true, err
		}
	}
	if !errors.Is(err, io.EOF) {
		return true, fmt.Errorf("reading archive: %w", err)
	}
	return true, nil
}

// output collects the entries of a layer the build makes (COPY, ADD,
// WORKDIR) over an image's filesystem, and writes it with every
// directory leading to its entries: the existing ones with their metadata,
// so that the layer changes nothing else, the missing ones as created.
type output struct {
	tree    *fsTree
	mtime   time.Time
	entries map[string]outEntry
}

// outEntry is one entry of an output.
type outEntry struct {
	hdr  *tar.Header
	data *spooled
}

func newOutput(t *fsTree, mtime time.Time) *output {
	return &output{tree: t, mtime: mtime, entries: map[string]outEntry{}}
}

// add adds an entry at name, whose parent is resolved in the image as the
// layer unpacker will; a later entry at the same path replaces it.
func (o *output) add(name string, hdr *tar.Header, data *spooled) error {
	name = cleanName(name)
	if name == "" {
		return nil
	}
	if dir := path.Dir(name); dir != "." {
		real, _, err := o.tree.resolve(dir, true)
		if err != nil {
			return err
		}
		name = path.Join(real, path.Base(name))
	}
	if strings.HasPrefix(path.Base(name), whiteoutPrefix) {
		return fmt.Errorf("%s: names starting with %s are reserved", name, whiteoutPrefix)
	}
	h := *hdr
	h.Name = name
	o.entries[name] = outEntry{hdr: &h, data: data}
	return nil
}

// mkdirAll makes sure the directory at the real path p exists: missing
// components are created (0755, owned by uid:gid).
func (o *output) mkdirAll(p string, uid, gid int) error {
	p = cleanName(p)
	cur := ""
	for _, c := range splitPath(p) {
		cur = path.Join(cur, c)
		if e, ok := o.entries[cur]; ok {
			if e.hdr.Typeflag != tar.TypeDir {
				return fmt.Errorf("/%s: not a directory", cur)
			}
			continue
		}
		if n := o.tree.lookup(cur); n != nil {
			if !n.isDir() {
				return fmt.Errorf("/%s: not a directory", cur)
			}
			continue
		}
		o.entries[cur] = outEntry{hdr: &tar.Header{Name: cur, Typeflag: tar.TypeDir, Mode: 0o755, Uid: uid, Gid: gid, ModTime: o.mtime}}
	}
	return nil
}

// write writes the layer, in path order, and returns it (nil when it has
// no entries).
func (o *output) write(lw *layerWriter, dir string, oci bool) (*buildLayer, error) {
	all := map[string]outEntry{}
	for name, e := range o.entries {
		all[name] = e
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := o.entries[d]; ok {
				continue
			}
			if _, ok := all[d]; ok {
				continue
			}
			if n := o.tree.lookup(d); n != nil && n.isDir() {
				all[d] = outEntry{hdr: n.header(d, epoch)}
			} else {
				all[d] = outEntry{hdr: &tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: o.mtime}}
			}
		}
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		e := all[name]
		var r io.Reader
		if e.data != nil {
			r = e.data.reader()
		}
		if err := lw.add(e.hdr, r); err != nil {
			lw.abort()
			return nil, err
		}
	}
	return lw.finish(dir, oci)
}
