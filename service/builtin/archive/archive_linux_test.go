//go:build linux

package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"golang.org/x/sys/unix"
)

const (
	hosts  = "127.0.0.1 localhost\n"
	passwd = "root:x:0:0:inside the root\n"
)

var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// sandbox is a container root filesystem, root, next to a directory,
// outside, that nothing may change.
type sandbox struct{ base, root, outside string }

// newSandbox makes a root holding files, hard links, a FIFO and symbolic
// links: inside the root (tmp, abs), climbing out of it (esc, escdir), and
// absolute ones naming host paths (escabs, hostdir).
func newSandbox(tb testing.TB) sandbox {
	tb.Helper()
	base := tb.TempDir()
	sb := sandbox{base, filepath.Join(base, "root"), filepath.Join(base, "outside")}
	files := []struct{ name, content string }{
		{"outside/", ""},
		{"outside/sentinel", "sentinel\n"},
		{"root/etc/", ""},
		{"root/etc/hosts", hosts},
		{"root/etc/passwd", passwd},
		{"root/etc/sub/", ""},
		{"root/etc/sub/deep.txt", "deep\n"},
		{"root/var/tmp/", ""},
		{"root/var/tmp/t.txt", "t\n"},
		{"root/tmp", "-> /var/tmp"},
		{"root/abs", "-> /etc"},
		{"root/esc", "-> ../../../../etc/passwd"},
		{"root/escabs", "-> /etc/passwd"},
		{"root/escdir", "-> ../../../../etc"},
		{"root/hostdir", "-> " + sb.outside},
	}
	for _, f := range files {
		p := filepath.Join(base, f.name)
		var err error
		switch link, isLink := strings.CutPrefix(f.content, "-> "); {
		case strings.HasSuffix(f.name, "/"):
			err = os.MkdirAll(p, 0o755)
		case isLink:
			err = os.Symlink(link, p)
		default:
			err = os.WriteFile(p, []byte(f.content), 0o644)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(sb.root, "etc/hosts"), filepath.Join(sb.root, "etc/hosts2")); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(sb.root, "fifo"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return sb
}

// check fails unless the sandbox still holds only root and outside, and
// outside only its sentinel.
func (sb sandbox) check(tb testing.TB) {
	tb.Helper()
	names := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if got := names(sb.base); !slices.Equal(got, []string{"outside", "root"}) {
		tb.Errorf("written outside the root: %s holds %q", sb.base, got)
	}
	if got := names(sb.outside); !slices.Equal(got, []string{"sentinel"}) {
		tb.Errorf("written outside the root: %s holds %q", sb.outside, got)
	}
	fi, err := os.Lstat(filepath.Join(sb.outside, "sentinel"))
	data, _ := os.ReadFile(filepath.Join(sb.outside, "sentinel"))
	if err != nil || !fi.Mode().IsRegular() || string(data) != "sentinel\n" {
		tb.Errorf("sentinel outside the root changed: %v, %v, %q", fi, err, data)
	}
}

// entries reads a tar stream to its end, closes it, and describes each
// entry: "d name", "f name=data", "l name->target" (symlink), "h
// name->target" (hard link), "p name" (FIFO).
func entries(t *testing.T, rc io.ReadCloser) ([]string, []*tar.Header) {
	t.Helper()
	defer rc.Close()
	var out []string
	var hdrs []*tar.Header
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, hdrs
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		hdrs = append(hdrs, h)
		switch h.Typeflag {
		case tar.TypeDir:
			out = append(out, "d "+h.Name)
		case tar.TypeReg:
			out = append(out, "f "+h.Name+"="+string(data))
		case tar.TypeSymlink:
			out = append(out, "l "+h.Name+"->"+h.Linkname)
		case tar.TypeLink:
			out = append(out, "h "+h.Name+"->"+h.Linkname)
		case tar.TypeFifo:
			out = append(out, "p "+h.Name)
		default:
			out = append(out, fmt.Sprintf("%c %s", h.Typeflag, h.Name))
		}
	}
}

// etc is the archive of the root's /etc named p.
func etc(p string) []string {
	return []string{
		"d " + p + "/", "f " + p + "/hosts=" + hosts, "h " + p + "/hosts2->" + p + "/hosts",
		"f " + p + "/passwd=" + passwd, "d " + p + "/sub/", "f " + p + "/sub/deep.txt=deep\n",
	}
}

func TestArchive(t *testing.T) {
	sb := newSandbox(t)
	// all is the archive of the root named top, its entries p/...
	all := func(top, p string) []string {
		out := []string{"d " + top, "l " + p + "/abs->/etc", "l " + p + "/esc->../../../../etc/passwd",
			"l " + p + "/escabs->/etc/passwd", "l " + p + "/escdir->../../../../etc"}
		out = append(out, etc(p+"/etc")...)
		return append(out, "p "+p+"/fifo", "l "+p+"/hostdir->"+sb.outside, "l "+p+"/tmp->/var/tmp",
			"d "+p+"/var/", "d "+p+"/var/tmp/", "f "+p+"/var/tmp/t.txt=t\n")
	}
	for _, tc := range []struct {
		path string
		want []string // nil: ErrNotFound
	}{
		{"/etc/hosts", []string{"f hosts=" + hosts}},
		{"etc/hosts", []string{"f hosts=" + hosts}},
		{"/etc/sub/../hosts", []string{"f hosts=" + hosts}},
		{"/etc", etc("etc")},
		{"/etc/", etc("etc")},
		{"/etc/.", etc(".")},
		{"/", all("/", "")},
		{"/.", all("./", ".")},
		{"", all("/", "")},
		// A symbolic link as the last element is archived as a link
		// unless the path ends in "/" or "/.".
		{"/abs", []string{"l abs->/etc"}},
		{"/abs/", etc("abs")},
		{"/abs/.", etc(".")},
		{"/tmp", []string{"l tmp->/var/tmp"}},
		{"/tmp/", []string{"d tmp/", "f tmp/t.txt=t\n"}},
		{"/esc", []string{"l esc->../../../../etc/passwd"}},
		{"/fifo", []string{"p fifo"}},
		// Links met on the way resolve inside the root, never on the host.
		{"/abs/passwd", []string{"f passwd=" + passwd}},
		{"/escdir/passwd", []string{"f passwd=" + passwd}},
		{"/escdir/sub/deep.txt", []string{"f deep.txt=deep\n"}},
		{"/escdir/shadow", nil},
		{"/hostdir/sentinel", nil},
		{"/esc/", nil},
		{"/escabs/.", nil},
		{"/missing", nil},
		{"/etc/missing/x", nil},
		{"/etc/hosts/x", nil},
		{"/etc/hosts/", nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rc, err := Archive(t.Context(), sb.root, tc.path)
			if tc.want == nil {
				if err == nil {
					rc.Close()
				}
				if !errors.Is(err, service.ErrNotFound) {
					t.Fatalf("Archive(%q) = %v, want ErrNotFound", tc.path, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Archive(%q): %v", tc.path, err)
			}
			got, _ := entries(t, rc)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Archive(%q) =\n%s\nwant\n%s", tc.path, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	if _, err := Archive(t.Context(), filepath.Join(sb.base, "absent"), "/"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Archive of a missing root = %v, want ErrNotFound", err)
	}
}

func TestArchiveMetadata(t *testing.T) {
	sb := newSandbox(t)
	p := filepath.Join(sb.root, "etc/hosts")
	// chown clears setuid bits and capabilities, setting capabilities
	// clears setuid bits.
	must(t, os.Lchown(p, 1000, 1001))
	must(t, unix.Setxattr(p, capXattr, []byte("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0))
	must(t, unix.Chmod(p, 0o4750)) // os.Chmod wants os.ModeSetuid
	must(t, os.Chtimes(p, testTime, testTime.Add(500*time.Millisecond)))
	must(t, unix.Mknod(filepath.Join(sb.root, "null"), unix.S_IFCHR, int(unix.Mkdev(1, 3))))
	must(t, os.Chmod(filepath.Join(sb.root, "null"), 0o666))

	rc, err := Archive(t.Context(), sb.root, "/etc/hosts")
	must(t, err)
	_, hdrs := entries(t, rc)
	h := hdrs[0]
	if h.Mode != 0o4750 || h.Uid != 1000 || h.Gid != 1001 || !h.ModTime.Equal(testTime) || h.Size != int64(len(hosts)) {
		t.Errorf("header = mode %o, owner %d:%d, mtime %v, size %d; want 4750, 1000:1001, %v, %d",
			h.Mode, h.Uid, h.Gid, h.ModTime, h.Size, testTime, len(hosts))
	}
	if h.PAXRecords["SCHILY.xattr."+capXattr] == "" {
		t.Errorf("header has no %s xattr: %v", capXattr, h.PAXRecords)
	}

	rc, err = Archive(t.Context(), sb.root, "/null")
	must(t, err)
	_, hdrs = entries(t, rc)
	if h := hdrs[0]; h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 || h.Mode != 0o666 {
		t.Errorf("device header = type %c, %d:%d, mode %o; want char device 1:3, 666", h.Typeflag, h.Devmajor, h.Devminor, h.Mode)
	}
}

func TestArchiveCancel(t *testing.T) {
	sb := newSandbox(t)
	ctx, cancel := context.WithCancel(t.Context())
	rc, err := Archive(ctx, sb.root, "/")
	must(t, err)
	defer rc.Close()
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("reading a cancelled archive: %v, want context.Canceled", err)
	}
}

// TestRoundTrip copies /etc out of a root and into another, through a
// symbolic link to the destination, keeping contents, hard links and
// metadata.
func TestRoundTrip(t *testing.T) {
	src, dst := newSandbox(t), newSandbox(t)
	p := filepath.Join(src.root, "etc/passwd")
	must(t, os.Chmod(p, 0o640))
	must(t, os.Lchown(p, 1000, 1001))
	must(t, os.Chtimes(p, testTime, testTime))
	must(t, os.MkdirAll(filepath.Join(dst.root, "srv/data"), 0o755))
	must(t, os.Symlink("/srv/data", filepath.Join(dst.root, "dest")))

	rc, err := Archive(t.Context(), src.root, "/etc")
	must(t, err)
	must(t, Extract(t.Context(), dst.root, "/dest", rc))
	rc.Close()

	rc, err = Archive(t.Context(), src.root, "/etc")
	must(t, err)
	want, wantHdrs := entries(t, rc)
	rc, err = Archive(t.Context(), dst.root, "/srv/data/etc")
	must(t, err)
	got, gotHdrs := entries(t, rc)
	if !slices.Equal(got, want) {
		t.Fatalf("copy =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, g := range gotHdrs {
		w := wantHdrs[i]
		if g.Mode != w.Mode || g.Uid != w.Uid || g.Gid != w.Gid || !g.ModTime.Equal(w.ModTime) {
			t.Errorf("%s: mode %o, owner %d:%d, mtime %v; want %o, %d:%d, %v", g.Name, g.Mode, g.Uid, g.Gid, g.ModTime, w.Mode, w.Uid, w.Gid, w.ModTime)
		}
	}
	src.check(t)
	dst.check(t)
}

// ent is one entry of a test tar stream.
type ent struct {
	name string
	typ  byte
	body string
	link string
	mode int64 // 0: 0644, or 0755 for a directory
}

func file(name, body string) ent   { return ent{name: name, typ: tar.TypeReg, body: body} }
func dir(name string) ent          { return ent{name: name, typ: tar.TypeDir} }
func sym(name, target string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hard(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }

// mktar builds a tar stream of the entries.
func mktar(tb testing.TB, ents ...ent) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var sparse [][2]int // offsets and body sizes of the headers to make sparse
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: testTime, Size: int64(len(e.body))}
		switch {
		case e.mode != 0:
			h.Mode = e.mode
		case e.typ == tar.TypeDir:
			h.Mode = 0o755
		}
		if e.typ == tar.TypeGNUSparse { // tar.Writer cannot write them
			h.Typeflag, h.Format = tar.TypeReg, tar.FormatGNU
			must(tb, tw.Flush())
			sparse = append(sparse, [2]int{buf.Len(), len(e.body)})
		}
		must(tb, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e.body))
		must(tb, err)
	}
	must(tb, tw.Close())
	data := buf.Bytes()
	for _, sp := range sparse {
		// An old GNU sparse header: the body at offset 0 of a 1 MiB file.
		blk := data[sp[0] : sp[0]+512]
		blk[156] = tar.TypeGNUSparse
		copy(blk[386:], fmt.Sprintf("%011o\x00%011o\x00", 0, sp[1]))
		copy(blk[483:], fmt.Sprintf("%011o\x00", 1<<20))
		copy(blk[148:], "        ")
		sum := 0
		for _, b := range blk {
			sum += int(b)
		}
		copy(blk[148:], fmt.Sprintf("%06o\x00 ", sum))
	}
	return data
}

type extractCase struct {
	name, dir string
	ents      []ent
	err       string   // "": none; "notfound": ErrNotFound; else in the message
	want      []string // "path=content" of files in the root afterwards
}

// extractCases returns the Extract test cases for a sandbox whose outside
// directory is outside.
func extractCases(outside string) []extractCase {
	inRoot := strings.TrimPrefix(outside, "/")
	return []extractCase{
		{name: "plain", dir: "/", ents: []ent{file("a.txt", "a"), dir("d/"), file("d/b", "b")}, want: []string{"a.txt=a", "d/b=b"}},
		{name: "into a symlink in the root", dir: "/tmp", ents: []ent{file("x", "x")}, want: []string{"var/tmp/x=x", "var/tmp/t.txt=t\n"}},
		{name: "into a symlink climbing out", dir: "/escdir", ents: []ent{file("x", "x")}, want: []string{"etc/x=x"}},
		{name: "into a path through symlinks", dir: "/abs/sub/../../tmp", ents: []ent{file("x", "x")}, want: []string{"var/tmp/x=x"}},
		{name: "absolute names", dir: "/var", ents: []ent{file("/abs.txt", "1"), file("/../../up.txt", "2"), file("./dot/../d.txt", "3")}, want: []string{"var/abs.txt=1", "var/up.txt=2", "var/d.txt=3"}},
		{name: "dotdot", dir: "/var", ents: []ent{file("../x", "x")}, err: "outside the destination"},
		{name: "dotdot inside", dir: "/", ents: []ent{file("a/../../x", "x")}, err: "outside the destination"},
		{name: "dotdot only", dir: "/", ents: []ent{dir("..")}, err: "outside the destination"},
		{name: "symlink then file", dir: "/", ents: []ent{sym("evil", "../outside"), file("evil/pwned", "p")}, want: []string{"outside/pwned=p"}},
		{name: "symlink then dir then file", dir: "/var", ents: []ent{sym("evil", "../../../"), dir("evil/outside/"), file("evil/outside/pwned", "p")}, want: []string{"outside/pwned=p"}},
		{name: "absolute host symlink then file", dir: "/", ents: []ent{sym("evil", outside), file("evil/pwned", "p")}, want: []string{inRoot + "/pwned=p"}},
		{name: "existing host symlink", dir: "/", ents: []ent{file("hostdir/pwned", "p")}, want: []string{inRoot + "/pwned=p"}},
		{name: "over an escaping symlink", dir: "/", ents: []ent{file("esc", "new")}, want: []string{"esc=new", "etc/passwd=" + passwd}},
		{name: "hard link climbing out", dir: "/", ents: []ent{hard("h", "../outside/sentinel")}, err: `hard link "h": target "../outside/sentinel" is outside the destination`},
		{name: "hard links in the root", dir: "/", ents: []ent{hard("h1", "/etc/passwd"), hard("h2", "escdir/passwd"), hard("h3", "etc/hosts")}, want: []string{"h1=" + passwd, "h2=" + passwd, "h3=" + hosts}},
		{name: "hard link through a host symlink", dir: "/", ents: []ent{hard("h", "hostdir/sentinel")}, err: "not found inside root"},
		{name: "hard link relative to dir", dir: "/etc", ents: []ent{file("new", "n"), hard("h", "new")}, want: []string{"etc/h=n"}},
		{name: "the root as a file", dir: "/var", ents: []ent{file(".", "x")}, err: "can only be replaced by a directory"},
		{name: "the root as a directory", dir: "/var", ents: []ent{dir("./"), file("./f", "f")}, want: []string{"var/f=f"}},
		{name: "sparse", dir: "/", ents: []ent{{name: "s", typ: tar.TypeGNUSparse, body: "x"}}, err: "sparse files are not supported"},
		{name: "whiteout", dir: "/etc", ents: []ent{file(".wh.hosts", "")}, err: "whiteout", want: []string{"etc/hosts=" + hosts}},
		{name: "missing dir", dir: "/nope", ents: []ent{file("x", "x")}, err: "notfound"},
		{name: "missing through a host symlink", dir: "/hostdir", ents: []ent{file("x", "x")}, err: "notfound"},
		{name: "below a file", dir: "/etc/hosts/x", ents: []ent{file("x", "x")}, err: "notfound"},
		{name: "a file", dir: "/etc/hosts", ents: []ent{file("x", "x")}, err: "not a directory"},
		{name: "a symlink to a file", dir: "/escabs", ents: []ent{file("x", "x")}, err: "not a directory"},
	}
}

func TestExtract(t *testing.T) {
	for i, tc := range extractCases("/outside") {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			tc := extractCases(sb.outside)[i] // with this sandbox's paths
			err := Extract(t.Context(), sb.root, tc.dir, bytes.NewReader(mktar(t, tc.ents...)))
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("Extract: %v", err)
			case tc.err == "notfound" && !errors.Is(err, service.ErrNotFound):
				t.Errorf("Extract = %v, want ErrNotFound", err)
			case tc.err != "" && tc.err != "notfound" && (err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, service.ErrNotFound)):
				t.Errorf("Extract = %v, want an error with %q", err, tc.err)
			}
			for _, w := range tc.want {
				name, content, _ := strings.Cut(w, "=")
				if data, err := readIn(sb.root, name); err != nil || string(data) != content {
					t.Errorf("%s = %q, %v; want %q", name, data, err, content)
				}
			}
			sb.check(t)
		})
	}
	sb := newSandbox(t)
	err := Extract(t.Context(), filepath.Join(sb.base, "absent"), "/", bytes.NewReader(mktar(t, file("x", "x"))))
	if !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Extract into a missing root = %v, want ErrNotFound", err)
	}
}

// TestConformance does what the service package's conformance suite
// checks of CopyTo and CopyFrom (servicetest testCopyFrom).
func TestConformance(t *testing.T) {
	sb := newSandbox(t)
	rt := file("rt.txt", "round trip\n")
	rt.mode = 0o640
	must(t, Extract(t.Context(), sb.root, "/", bytes.NewReader(mktar(t, rt, dir("rt-dir/"), file("rt-dir/inner.txt", "inner\n")))))
	for p, want := range map[string][]string{
		"/rt.txt": {"f rt.txt=round trip\n 640"},
		"/rt-dir": {"d rt-dir/ 755", "f rt-dir/inner.txt=inner\n 644"},
	} {
		rc, err := Archive(t.Context(), sb.root, p)
		must(t, err)
		got, hdrs := entries(t, rc)
		for i, h := range hdrs {
			got[i] += fmt.Sprintf(" %o", h.Mode)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Archive(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestExtractOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ownership is applied only as root")
	}
	sb := newSandbox(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o2640, Uid: 1000, Gid: 1001, ModTime: testTime}))
	must(t, tw.Close())
	must(t, Extract(t.Context(), sb.root, "/", &buf))
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(sb.root, "f"), &st))
	if sec, _ := st.Mtim.Unix(); st.Mode&0o7777 != 0o2640 || st.Uid != 1000 || st.Gid != 1001 || sec != testTime.Unix() {
		t.Errorf("f: mode %o, owner %d:%d, mtime %d; want 2640, 1000:1001, %d", st.Mode&0o7777, st.Uid, st.Gid, sec, testTime.Unix())
	}
}

func FuzzExtract(f *testing.F) {
	for _, tc := range extractCases(newSandbox(f).outside) {
		f.Add(mktar(f, tc.ents...), tc.dir)
	}
	f.Fuzz(func(t *testing.T, data []byte, dir string) {
		sb := newSandbox(t)
		// Errors are fine (hostile input); writing outside the root is not.
		_ = Extract(context.Background(), sb.root, dir, bytes.NewReader(data))
		sb.check(t)
	})
}

// readIn reads the file name in root as a process chrooted there would.
func readIn(root, name string) ([]byte, error) {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	fd, err := unix.Openat2(rootfd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(f)
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestExport(t *testing.T) {
	sb := newSandbox(t)
	rc, err := Export(t.Context(), sb.root)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := entries(t, rc)
	// names relative to the root, no entry for the root itself, links
	// (those climbing out included) kept as links, the host untouched
	want := []string{"l abs->/etc", "l esc->../../../../etc/passwd", "l escabs->/etc/passwd", "l escdir->../../../../etc",
		"d etc/", "f etc/hosts=" + hosts, "h etc/hosts2->etc/hosts", "f etc/passwd=" + passwd, "d etc/sub/", "f etc/sub/deep.txt=deep\n",
		"p fifo", "l hostdir->" + sb.outside, "l tmp->/var/tmp", "d var/", "d var/tmp/", "f var/tmp/t.txt=t\n"}
	if !slices.Equal(got, want) {
		t.Errorf("Export =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sb.check(t)
	if _, err := Export(t.Context(), filepath.Join(sb.base, "absent")); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Export of a missing root = %v, want ErrNotFound", err)
	}
}
