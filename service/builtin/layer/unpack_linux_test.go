//go:build linux

package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent describes one tar entry of a test layer.
type ent struct {
	name   string
	typ    byte
	body   string
	link   string
	mode   int64
	uid    int
	gid    int
	mtime  time.Time
	xattrs map[string]string
	major  int64
	minor  int64
}

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hard(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }

var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// mktar builds an uncompressed tar stream from the entries.
func mktar(tb testing.TB, ents ...ent) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = testTime
		}
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: mt, Devmajor: e.major, Devminor: e.minor,
			Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatalf("tar header %s: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a root directory next to a sentinel directory holding one
// file; check asserts that nothing outside root changed.
type sandbox struct {
	tmp, root, sentinel string
}

const secret = "sentinel content"

func newSandbox(tb testing.TB) sandbox {
	tb.Helper()
	tmp := tb.TempDir()
	s := sandbox{tmp: tmp, root: filepath.Join(tmp, "root"), sentinel: filepath.Join(tmp, "sentinel")}
	if !isRoot {
		// Let TempDir's cleanup remove what read-only directories hold.
		tb.Cleanup(func() {
			_ = filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					_ = os.Chmod(p, 0o755)
				}
				return nil
			})
		})
	}
	if err := os.Mkdir(s.root, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(s.sentinel, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.sentinel, "secret"), []byte(secret), 0o644); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s sandbox) check(tb testing.TB) {
	tb.Helper()
	names := readNames(tb, s.tmp)
	if strings.Join(names, ",") != "root,sentinel" {
		tb.Fatalf("entries appeared next to root: %v", names)
	}
	if names := readNames(tb, s.sentinel); strings.Join(names, ",") != "secret" {
		tb.Fatalf("sentinel dir changed: %v", names)
	}
	p := filepath.Join(s.sentinel, "secret")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != secret {
		tb.Fatalf("sentinel file changed: %q, %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		tb.Fatal(err)
	}
	if st.Nlink != 1 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		tb.Fatalf("sentinel file was linked or replaced: nlink=%d mode=%o", st.Nlink, st.Mode)
	}
	// No non-symlink path under root may resolve outside it.
	realRoot, err := filepath.EvalSymlinks(s.root)
	if err != nil {
		tb.Fatal(err)
	}
	_ = filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil
		}
		if r != realRoot && !strings.HasPrefix(r, realRoot+string(filepath.Separator)) {
			tb.Fatalf("%s resolves outside root: %s", p, r)
		}
		return nil
	})
}

func readNames(tb testing.TB, dir string) []string {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: want not exist, got %v", p, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var isRoot = os.Geteuid() == 0

// testOpts sets IgnoreOwnership when the tests do not run as root.
func testOpts(o Options) Options {
	if !isRoot {
		o.IgnoreOwnership = true
	}
	return o
}

type testCase struct {
	name     string
	layers   [][]ent
	opts     Options
	needRoot bool
	wantErr  string // substring of the error of the last layer
	check    func(t *testing.T, root string, st Stats)
}

func testCases() []testCase {
	hostName := "berth-layer-test-must-not-exist"
	return []testCase{
		{
			name: "files dirs symlinks hardlinks",
			layers: [][]ent{{
				dir("etc/"), file("etc/hosts", "127.0.0.1 localhost\n"), sym("etc/link", "hosts"),
				hard("etc/hosts2", "etc/hosts"), file("deep/er/file", "x"),
			}},
			check: func(t *testing.T, root string, st Stats) {
				if got := readFile(t, filepath.Join(root, "etc/hosts2")); got != "127.0.0.1 localhost\n" {
					t.Fatalf("hosts2 = %q", got)
				}
				if l, _ := os.Readlink(filepath.Join(root, "etc/link")); l != "hosts" {
					t.Fatalf("link = %q", l)
				}
				a, b := lstat(t, filepath.Join(root, "etc/hosts")), lstat(t, filepath.Join(root, "etc/hosts2"))
				if a.Ino != b.Ino {
					t.Fatal("hardlink is not the same inode")
				}
				if st.Files != 2 || st.Dirs != 1 || st.Symlinks != 1 || st.Hardlinks != 1 || st.Bytes != 21 {
					t.Fatalf("stats = %+v", st)
				}
				if lstat(t, filepath.Join(root, "deep/er")).Mode&0o777 != 0o755 {
					t.Fatal("implicit parent not 0755")
				}
			},
		},
		{
			name: "modes setuid and ownership",
			layers: [][]ent{{
				{name: "bin/su", typ: tar.TypeReg, body: "elf", mode: 0o4755, uid: 1234, gid: 5678},
				{name: "ro/", typ: tar.TypeDir, mode: 0o555, uid: 42, gid: 43},
				{name: "ro/inside", typ: tar.TypeReg, body: "y", mode: 0o600},
				{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
				{name: "lnk", typ: tar.TypeSymlink, link: "bin/su", uid: 7, gid: 8},
			}},
			check: func(t *testing.T, root string, st Stats) {
				su := lstat(t, filepath.Join(root, "bin/su"))
				if su.Mode&0o7777 != 0o4755 {
					t.Fatalf("su mode %o", su.Mode&0o7777)
				}
				if m := lstat(t, filepath.Join(root, "ro")).Mode & 0o7777; m != 0o555 {
					t.Fatalf("ro mode %o", m)
				}
				if m := lstat(t, filepath.Join(root, "tmp")).Mode & 0o7777; m != 0o1777 {
					t.Fatalf("tmp mode %o", m)
				}
				if m := lstat(t, filepath.Join(root, "ro/inside")).Mode & 0o7777; m != 0o600 {
					t.Fatalf("inside mode %o", m)
				}
				if !isRoot {
					return
				}
				if su.Uid != 1234 || su.Gid != 5678 {
					t.Fatalf("su owner %d:%d", su.Uid, su.Gid)
				}
				if ro := lstat(t, filepath.Join(root, "ro")); ro.Uid != 42 || ro.Gid != 43 {
					t.Fatalf("ro owner %d:%d", ro.Uid, ro.Gid)
				}
				if l := lstat(t, filepath.Join(root, "lnk")); l.Uid != 7 || l.Gid != 8 {
					t.Fatalf("symlink owner %d:%d", l.Uid, l.Gid)
				}
			},
		},
		{
			name:   "ignore ownership",
			opts:   Options{IgnoreOwnership: true},
			layers: [][]ent{{{name: "f", typ: tar.TypeReg, body: "z", mode: 0o644, uid: 1234, gid: 5678}}},
			check: func(t *testing.T, root string, st Stats) {
				if f := lstat(t, filepath.Join(root, "f")); int(f.Uid) != os.Geteuid() {
					t.Fatalf("owner %d, want %d", f.Uid, os.Geteuid())
				}
			},
		},
		{
			name: "mtimes, directories set after their contents",
			layers: [][]ent{{
				dir("d/"), file("d/f", "1"), sym("d/s", "f"), dir("d/sub/"), file("d/sub/g", "2"),
			}},
			check: func(t *testing.T, root string, st Stats) {
				for _, p := range []string{"d", "d/f", "d/s", "d/sub", "d/sub/g"} {
					s := lstat(t, filepath.Join(root, p))
					if got := time.Unix(s.Mtim.Unix()).UTC(); !got.Equal(testTime) {
						t.Errorf("%s mtime %v, want %v", p, got, testTime)
					}
				}
			},
		},
		{
			name: "xattrs",
			layers: [][]ent{{
				{name: "f", typ: tar.TypeReg, body: "x", mode: 0o644, xattrs: map[string]string{"user.berth": "hello"}},
			}},
			check: func(t *testing.T, root string, st Stats) {
				if len(st.Skipped) > 0 {
					t.Skipf("filesystem without user xattrs: %v", st.Skipped)
				}
				buf := make([]byte, 64)
				n, err := unix.Lgetxattr(filepath.Join(root, "f"), "user.berth", buf)
				if err != nil || string(buf[:n]) != "hello" {
					t.Fatalf("xattr = %q, %v", buf[:n], err)
				}
			},
		},
		{
			name:     "trusted xattr",
			needRoot: true,
			layers: [][]ent{{
				{name: "d/", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"trusted.berth": "v"}},
			}},
			check: func(t *testing.T, root string, st Stats) {
				buf := make([]byte, 64)
				n, err := unix.Lgetxattr(filepath.Join(root, "d"), "trusted.berth", buf)
				if err != nil || string(buf[:n]) != "v" {
					t.Fatalf("xattr = %q, %v", buf[:n], err)
				}
			},
		},
		{
			name:    "traversal rejected",
			layers:  [][]ent{{file("../../etc/"+hostName, "pwned")}},
			wantErr: `".." component`,
		},
		{
			name:    "inner traversal rejected",
			layers:  [][]ent{{file("a/../../"+hostName, "pwned")}},
			wantErr: `".." component`,
		},
		{
			name:   "absolute name normalised inside root",
			layers: [][]ent{{file("/etc/"+hostName, "inside")}},
			check: func(t *testing.T, root string, st Stats) {
				if got := readFile(t, filepath.Join(root, "etc", hostName)); got != "inside" {
					t.Fatalf("got %q", got)
				}
				mustNotExist(t, "/etc/"+hostName)
			},
		},
		{
			name:   "symlink to /etc then file through it is contained",
			layers: [][]ent{{sym("evil", "/etc"), file("evil/passwd", "root::0:0::/:/bin/sh\n")}},
			check: func(t *testing.T, root string, st Stats) {
				if got := readFile(t, filepath.Join(root, "etc/passwd")); got != "root::0:0::/:/bin/sh\n" {
					t.Fatalf("root/etc/passwd = %q", got)
				}
				if b, _ := os.ReadFile("/etc/passwd"); string(b) == "root::0:0::/:/bin/sh\n" {
					t.Fatal("host /etc/passwd overwritten")
				}
			},
		},
		{
			name:   "relative symlink climbing out then file through it is contained",
			layers: [][]ent{{sym("up", "../../.."), file("up/sentinel/x", "no")}},
			check: func(t *testing.T, root string, st Stats) {
				if got := readFile(t, filepath.Join(root, "sentinel/x")); got != "no" {
					t.Fatalf("got %q", got)
				}
			},
		},
		{
			name:    "symlink to / then hardlink through it to a missing file",
			layers:  [][]ent{{sym("s", "/"), hard("h", "s/etc/passwd")}},
			wantErr: "not found inside root",
		},
		{
			name: "symlink to / then hardlink through it stays inside",
			layers: [][]ent{{
				file("etc/passwd", "mine"), sym("s", "/"), hard("h", "s/etc/passwd"),
				sym("s2", "/etc/passwd"), hard("h2", "s2"),
			}},
			check: func(t *testing.T, root string, st Stats) {
				a, b := lstat(t, filepath.Join(root, "etc/passwd")), lstat(t, filepath.Join(root, "h"))
				if a.Ino != b.Ino {
					t.Fatal("h is not root/etc/passwd")
				}
				if h2 := lstat(t, filepath.Join(root, "h2")); h2.Mode&unix.S_IFMT != unix.S_IFLNK {
					t.Fatalf("hardlink to a symlink followed it: mode %o", h2.Mode)
				}
			},
		},
		{
			name:    "symlink loop as parent is an error",
			layers:  [][]ent{{sym("a", "b"), sym("b", "a"), file("a/x", "x")}},
			wantErr: "too many levels of symbolic links",
		},
		{
			name:   "dangling relative symlink chain as parent is contained",
			layers: [][]ent{{sym("a", "../b"), sym("b", "/../../c/d"), file("a/x", "x")}},
			check: func(t *testing.T, root string, st Stats) {
				if got := readFile(t, filepath.Join(root, "c/d/x")); got != "x" {
					t.Fatalf("got %q", got)
				}
			},
		},
		{
			name: "whiteout through a symlink to / stays inside",
			layers: [][]ent{
				{file("etc/x", "x"), sym("s", "/")},
				{file("s/etc/.wh.x", ""), file("s/.wh.sentinel", "")},
			},
			check: func(t *testing.T, root string, st Stats) {
				mustNotExist(t, filepath.Join(root, "etc/x"))
			},
		},
		{
			name:    "hardlink to ../outside rejected",
			layers:  [][]ent{{hard("h", "../sentinel/secret")}},
			wantErr: `".." component`,
		},
		{
			name:    "hardlink to a missing file rejected",
			layers:  [][]ent{{hard("h", "nope")}},
			wantErr: "not found inside root",
		},
		{
			name: "replace directory by file and file by directory",
			layers: [][]ent{
				{dir("a/"), file("a/x", "1"), file("b", "2")},
				{file("a", "file now"), dir("b/"), file("b/y", "3")},
			},
			check: func(t *testing.T, root string, st Stats) {
				if got := readFile(t, filepath.Join(root, "a")); got != "file now" {
					t.Fatalf("a = %q", got)
				}
				if got := readFile(t, filepath.Join(root, "b/y")); got != "3" {
					t.Fatalf("b/y = %q", got)
				}
			},
		},
		{
			name: "whiteouts and opaque dirs flattened",
			layers: [][]ent{
				{
					dir("d/"), file("d/old", "o"), file("d/sub/deep", "d"), file("gone", "g"),
					file("gonedir/x", "x"), file("keep", "k"),
				},
				{
					file(".wh.gone", ""), file(".wh.gonedir", ""), file("d/new", "n"),
					file("d/.wh..wh..opq", ""), dir("d/sub/"), file(".wh.never-existed", ""),
					file("missing/.wh.x", ""),
				},
			},
			check: func(t *testing.T, root string, st Stats) {
				for _, p := range []string{"gone", "gonedir", "d/old", "d/sub/deep", ".wh.gone", "d/.wh..wh..opq", "missing"} {
					mustNotExist(t, filepath.Join(root, p))
				}
				for _, p := range []string{"keep", "d/new", "d/sub"} {
					lstat(t, filepath.Join(root, p))
				}
				if st.Whiteouts != 5 {
					t.Fatalf("whiteouts = %d", st.Whiteouts)
				}
			},
		},
		{
			name:     "overlay whiteouts and opaque xattr",
			needRoot: true,
			opts:     Options{Overlay: true},
			layers: [][]ent{{
				file(".wh.gone", ""), dir("d/"), file("d/.wh..wh..opq", ""), file("d/new", "n"),
			}},
			check: func(t *testing.T, root string, st Stats) {
				s := lstat(t, filepath.Join(root, "gone"))
				if s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
					t.Fatalf("gone: mode %o rdev %d, want char 0/0", s.Mode, s.Rdev)
				}
				buf := make([]byte, 8)
				n, err := unix.Lgetxattr(filepath.Join(root, "d"), "trusted.overlay.opaque", buf)
				if err != nil || string(buf[:n]) != "y" {
					t.Fatalf("opaque xattr = %q, %v", buf[:n], err)
				}
				mustNotExist(t, filepath.Join(root, "d/.wh..wh..opq"))
				lstat(t, filepath.Join(root, "d/new"))
			},
		},
		{
			name: "device nodes skipped by default",
			layers: [][]ent{{
				{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
				{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, major: 8, minor: 0},
				{name: "fifo", typ: tar.TypeFifo, mode: 0o644},
			}},
			check: func(t *testing.T, root string, st Stats) {
				mustNotExist(t, filepath.Join(root, "dev/null"))
				mustNotExist(t, filepath.Join(root, "dev/sda"))
				if len(st.Skipped) != 2 || !strings.Contains(st.Skipped[0], "dev/null") {
					t.Fatalf("skipped = %v", st.Skipped)
				}
				if s := lstat(t, filepath.Join(root, "fifo")); s.Mode&unix.S_IFMT != unix.S_IFIFO {
					t.Fatalf("fifo mode %o", s.Mode)
				}
			},
		},
		{
			name:     "device nodes allowed",
			needRoot: true,
			opts:     Options{AllowDevices: true},
			layers:   [][]ent{{{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3}}},
			check: func(t *testing.T, root string, st Stats) {
				s := lstat(t, filepath.Join(root, "dev/null"))
				if s.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(s.Rdev) != 1 || unix.Minor(s.Rdev) != 3 || s.Mode&0o777 != 0o666 {
					t.Fatalf("dev/null mode %o rdev %d:%d", s.Mode, unix.Major(s.Rdev), unix.Minor(s.Rdev))
				}
			},
		},
		{
			name:   "long PAX names",
			layers: [][]ent{{file(strings.Repeat("long-directory-name/", 12)+strings.Repeat("f", 150), "long")}},
			check: func(t *testing.T, root string, st Stats) {
				p := filepath.Join(root, strings.Repeat("long-directory-name/", 12)+strings.Repeat("f", 150))
				if got := readFile(t, p); got != "long" {
					t.Fatalf("got %q", got)
				}
			},
		},
		{
			name:   "root entry",
			layers: [][]ent{{{name: "./", typ: tar.TypeDir, mode: 0o711}, file("./a", "a")}},
			check: func(t *testing.T, root string, st Stats) {
				if m := lstat(t, root).Mode & 0o777; m != 0o711 {
					t.Fatalf("root mode %o", m)
				}
			},
		},
	}
}

func TestUnpack(t *testing.T) {
	for _, tc := range testCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && !isRoot {
				t.Skip("needs root")
			}
			sb := newSandbox(t)
			var st Stats
			var err error
			for i, l := range tc.layers {
				st, err = Unpack(context.Background(), sb.root, bytes.NewReader(mktar(t, l...)), testOpts(tc.opts))
				if err != nil && i < len(tc.layers)-1 {
					t.Fatalf("layer %d: %v", i, err)
				}
			}
			sb.check(t)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, sb.root, st)
			}
		})
	}
}

func TestUnsafePathError(t *testing.T) {
	sb := newSandbox(t)
	_, err := Unpack(context.Background(), sb.root, bytes.NewReader(mktar(t, file("../x", "x"))), testOpts(Options{}))
	if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), `"../x"`) {
		t.Fatalf("error = %v, want ErrUnsafePath naming the entry", err)
	}
	sb.check(t)
}

func TestTruncated(t *testing.T) {
	sb := newSandbox(t)
	data := mktar(t, file("a", strings.Repeat("x", 1000)))
	_, err := Unpack(context.Background(), sb.root, bytes.NewReader(data[:700]), testOpts(Options{}))
	if err == nil {
		t.Fatal("truncated tar unpacked without error")
	}
	sb.check(t)
}

func TestCanceled(t *testing.T) {
	sb := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Unpack(ctx, sb.root, bytes.NewReader(mktar(t, file("a", "x"))), testOpts(Options{}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v", err)
	}
}

func TestUnpackCompressed(t *testing.T) {
	data := mktar(t, file("a", "plain"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			sb := newSandbox(t)
			st, err := UnpackCompressed(context.Background(), sb.root, bytes.NewReader(in), testOpts(Options{}))
			if err != nil || st.Files != 1 {
				t.Fatalf("stats %+v, err %v", st, err)
			}
			if got := readFile(t, filepath.Join(sb.root, "a")); got != "plain" {
				t.Fatalf("got %q", got)
			}
			sb.check(t)
		})
	}
	sb := newSandbox(t)
	_, err := UnpackCompressed(context.Background(), sb.root, bytes.NewReader([]byte{0x28, 0xb5, 0x2f, 0xfd, 0}), testOpts(Options{}))
	if err == nil || !strings.Contains(err.Error(), "zstd") {
		t.Fatalf("zstd error = %v", err)
	}
}

// FuzzUnpack applies a base layer (flattened) and then a second layer
// (flattened or overlay) and checks that nothing escaped the root.
func FuzzUnpack(f *testing.F) {
	// Seeds are the test layers without the two zero blocks that end the
	// archive (the reader accepts EOF there): smaller seeds minimise faster.
	trim := func(data []byte) []byte { return data[:len(data)-1024] }
	for _, tc := range testCases() {
		switch len(tc.layers) {
		case 1:
			f.Add([]byte{}, trim(mktar(f, tc.layers[0]...)), tc.opts.Overlay)
		default:
			f.Add(trim(mktar(f, tc.layers[0]...)), trim(mktar(f, tc.layers[1]...)), tc.opts.Overlay)
		}
	}
	f.Fuzz(func(t *testing.T, base, top []byte, overlay bool) {
		sb := newSandbox(t)
		// Errors are fine (hostile input); escaping the root is not.
		_, _ = Unpack(context.Background(), sb.root, bytes.NewReader(base), testOpts(Options{}))
		sb.check(t)
		_, _ = Unpack(context.Background(), sb.root, bytes.NewReader(top), testOpts(Options{Overlay: overlay}))
		sb.check(t)
	})
}
