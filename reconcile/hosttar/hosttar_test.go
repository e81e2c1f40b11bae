package hosttar

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthdev/berth/reconcile/hosttar/tartest"
)

// tree makes a directory from a description: "d/" is a directory, "l ->
// target" a symbolic link, anything else a file with that content.
func tree(t *testing.T, entries map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		content := entries[name]
		p := filepath.Join(dir, strings.TrimSuffix(name, "/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(content, "-> "):
			if err := os.Symlink(strings.TrimPrefix(content, "-> "), p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func write(t *testing.T, opts Options, p, name string) ([]tartest.Entry, int, error) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opts)
	if err != nil {
		return nil, 0, err
	}
	if err := w.AddTree(p, name); err != nil {
		return nil, 0, err
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return tartest.Read(t, &buf), w.Files(), nil
}

func TestAddTree(t *testing.T) {
	files := map[string]string{
		"a/b.txt":      "b",
		"a/c/d":        "d",
		"z":            "z",
		"link":         "-> a/b.txt",
		"out":          "-> ../../etc/passwd",
		"skip/x":       "x",
		"skip/keep.md": "k",
		".git/HEAD":    "h",
		"empty/":       "",
	}
	exceptKeep := func(rel string, d fs.DirEntry) (Decision, error) {
		if rel == "z" {
			return Exclude, nil
		}
		return Include, nil
	}
	for _, tt := range []struct {
		name     string
		opts     Options
		path     string // below the tree; "" for the tree
		entry    string // AddTree's name
		want     string
		files    int
		wantErrS string
	}{
		{name: "whole tree, no root entry", want: ".git/ .git/HEAD=h a/ a/b.txt=b a/c/ a/c/d=d empty/ link -> a/b.txt out -> ../../etc/passwd skip/ skip/keep.md=k skip/x=x z=z", files: 8},
		{name: "named root", path: "a", entry: "dst", want: "dst/ dst/b.txt=b dst/c/ dst/c/d=d", files: 2},
		{name: "named root with slash", path: "a", entry: "dst/", want: "dst/ dst/b.txt=b dst/c/ dst/c/d=d", files: 2},
		{name: "dot", path: "a/.", entry: ".", want: "./ ./b.txt=b ./c/ ./c/d=d", files: 2},
		{name: "one file", path: "a/b.txt", entry: "x/y", want: "x/y=b", files: 1},
		{name: "one file, own name", path: "a/b.txt", want: "b.txt=b", files: 1},
		{name: "a link is not followed", path: "link", entry: "l", want: "l -> a/b.txt", files: 1},
		{name: "a link out of the tree is kept as a link", path: "out", entry: "o", want: "o -> ../../etc/passwd", files: 1},
		{name: "dockerignore patterns", opts: Options{Exclude: []string{".git", "skip", "!skip/keep.md", "**/d"}},
			want: "a/ a/b.txt=b a/c/ empty/ link -> a/b.txt out -> ../../etc/passwd skip/keep.md=k z=z", files: 5},
		{name: "last pattern wins", opts: Options{Exclude: []string{"a", "!a", "a/c"}},
			path: "", want: ".git/ .git/HEAD=h a/ a/b.txt=b empty/ link -> a/b.txt out -> ../../etc/passwd skip/ skip/keep.md=k skip/x=x z=z", files: 7},
		{name: "patterns do not apply to the root", opts: Options{Exclude: []string{"*"}}, path: "a/b.txt", entry: "b", want: "b=b", files: 1},
		{name: "filter", opts: Options{Filter: exceptKeep, Exclude: []string{".git", "a", "skip", "empty", "link", "out"}}, want: "", files: 0},
		{name: "filter descends", opts: Options{Filter: func(rel string, d fs.DirEntry) (Decision, error) {
			switch {
			case rel == "a":
				return Descend, nil
			case strings.HasPrefix(rel, "a/"):
				return Include, nil
			}
			return Exclude, nil
		}}, want: "a/b.txt=b a/c/ a/c/d=d", files: 2},
		{name: "filter error", opts: Options{Filter: func(string, fs.DirEntry) (Decision, error) { return Exclude, errors.New("boom") }}, wantErrS: "boom"},
		{name: "bad pattern", opts: Options{Exclude: []string{"[["}}, wantErrS: "ignore patterns"},
		{name: "missing", path: "nope", wantErrS: "no such file"},
		{name: "missing, lenient", opts: Options{Lenient: true}, path: "nope", want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t, files)
			p := dir
			if tt.path != "" {
				p = filepath.Join(dir, tt.path)
				if strings.HasSuffix(tt.path, "/.") {
					p += "/."
				}
			}
			es, n, err := write(t, tt.opts, p, tt.entry)
			if tt.wantErrS != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrS) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErrS)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tartest.Listing(es); got != tt.want {
				t.Errorf("entries\n got %s\nwant %s", got, tt.want)
			}
			if n != tt.files {
				t.Errorf("Files() = %d, want %d", n, tt.files)
			}
		})
	}
}

// The headers: permissions kept, root-owned unless KeepOwner, never
// names, times to the second, PAX, no access or change times.
func TestHeaders(t *testing.T) {
	dir := tree(t, map[string]string{"d/f": "x"})
	f := filepath.Join(dir, "d", "f")
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	if err := os.Chtimes(f, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	chowned := os.Lchown(f, 1234, 5678) == nil
	if err := os.Chmod(f, 0o751|fs.ModeSetuid); err != nil { // after chown, which clears setuid
		t.Fatal(err)
	}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepOwner=%v", keep), func(t *testing.T) {
			es, _, err := write(t, Options{KeepOwner: keep}, filepath.Join(dir, "d"), "d")
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 2 {
				t.Fatalf("entries %s", tartest.Listing(es))
			}
			if d := es[0].Header; d.Uname != "" || d.Gname != "" {
				t.Errorf("directory entry has names %q:%q", d.Uname, d.Gname)
			}
			h := es[1].Header
			uid, gid := 0, 0
			if keep {
				st, _ := os.Lstat(f)
				uid, gid = int(st.Sys().(*syscall.Stat_t).Uid), int(st.Sys().(*syscall.Stat_t).Gid)
				if chowned && (uid != 1234 || gid != 5678) {
					t.Fatalf("chown did not take: %d:%d", uid, gid)
				}
			}
			if h.Uid != uid || h.Gid != gid || h.Uname != "" || h.Gname != "" {
				t.Errorf("owner %d:%d (%q:%q), want %d:%d and no names", h.Uid, h.Gid, h.Uname, h.Gname, uid, gid)
			}
			if fs.FileMode(h.Mode)&fs.ModePerm != 0o751 || h.Mode&0o4000 == 0 {
				t.Errorf("mode %o, want 4751", h.Mode)
			}
			if !h.ModTime.Equal(mtime.Truncate(time.Second)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
				t.Errorf("times m=%v a=%v c=%v, want m=%v only", h.ModTime, h.AccessTime, h.ChangeTime, mtime.Truncate(time.Second))
			}
			if h.Format != tar.FormatPAX && h.Format != tar.FormatUSTAR {
				t.Errorf("format %v", h.Format)
			}
		})
	}
}

// The same tree gives the same bytes, whenever it is written.
func TestDeterministic(t *testing.T) {
	dir := tree(t, map[string]string{"a/b": "b", "c": "c", "l": "-> c"})
	var outs []string
	for range 2 {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTree(dir, ""); err != nil {
			t.Fatal(err)
		}
		w.Close()
		outs = append(outs, buf.String())
		// a new access time must not change anything
		time.Sleep(10 * time.Millisecond)
		if _, err := os.ReadFile(filepath.Join(dir, "c")); err != nil {
			t.Fatal(err)
		}
	}
	if outs[0] != outs[1] {
		t.Error("two writes of the same tree differ")
	}
}

// Sockets are never written; devices and pipes only with Special.
func TestSpecialFiles(t *testing.T) {
	dir := tree(t, map[string]string{"f": "f"})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	sock, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	defer sock.Close()
	for _, tt := range []struct {
		special bool
		want    string
	}{
		{false, "f=f"},
		{true, "f=f pipe"},
	} {
		es, _, err := write(t, Options{Special: tt.special}, dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := tartest.Listing(es); got != tt.want {
			t.Errorf("Special=%v: %s, want %s", tt.special, got, tt.want)
		}
	}
}

// A name is written once, and WriteFile adds generated files.
func TestOnceAndWriteFile(t *testing.T) {
	dir := tree(t, map[string]string{"a/x": "1"})
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := w.AddTree(filepath.Join(dir, "a"), "a"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(&tar.Header{Typeflag: tar.TypeReg, Name: "gen", Mode: 0o644}, []byte("g")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(&tar.Header{Typeflag: tar.TypeReg, Name: "a/x", Mode: 0o644}, []byte("other")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, want := tartest.Listing(tartest.Read(t, &buf)), "a/ a/x=1 gen=g"; got != want {
		t.Errorf("entries %s, want %s", got, want)
	}
	if w.Files() != 2 {
		t.Errorf("Files() = %d, want 2", w.Files())
	}
}

// A file that cannot be opened is an error naming it, or left out with
// Lenient.
func TestUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	dir := tree(t, map[string]string{"a": "a", "b": "b"})
	if err := os.Chmod(filepath.Join(dir, "a"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := write(t, Options{}, dir, ""); err == nil || !strings.Contains(err.Error(), "a") {
		t.Errorf("error %v, want one naming a", err)
	}
	es, _, err := write(t, Options{Lenient: true}, dir, "")
	if err != nil || tartest.Listing(es) != "b=b" {
		t.Errorf("lenient: %s, %v; want b=b", tartest.Listing(es), err)
	}
}

// FuzzExclude writes a fixed tree with arbitrary ignore patterns: the
// writer never panics, fails only on a pattern it cannot parse, and writes
// each name once, from the tree, below it.
func FuzzExclude(f *testing.F) {
	for _, s := range []string{"", "a", "*\n!a/b", "**/d\n!**/d", "[", "a/../..", "!", "/a\n!/a/c/d", "\\"} {
		f.Add(s)
	}
	files := map[string]string{"a/b": "b", "a/c/d": "d", "e": "e", "l": "-> a"}
	f.Fuzz(func(t *testing.T, patterns string) {
		dir := tree(t, files)
		var buf bytes.Buffer
		w, err := NewWriter(&buf, Options{Exclude: strings.Split(patterns, "\n")})
		if err != nil {
			return
		}
		if err := w.AddTree(dir, ""); err != nil {
			if strings.Contains(err.Error(), "pattern") || strings.Contains(err.Error(), "syntax") {
				return
			}
			t.Fatalf("patterns %q: %v", patterns, err)
		}
		w.Close()
		seen := map[string]bool{}
		for _, e := range tartest.Read(t, &buf) {
			name := strings.TrimSuffix(e.Header.Name, "/")
			if seen[name] || !filepath.IsLocal(name) {
				t.Fatalf("patterns %q: entry %q (again, or not below the tree)", patterns, e.Header.Name)
			}
			seen[name] = true
			if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
				t.Fatalf("patterns %q: entry %q is not in the tree", patterns, e.Header.Name)
			}
		}
	})
}
