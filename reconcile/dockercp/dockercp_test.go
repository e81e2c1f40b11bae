package dockercp

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berthdev/berth/reconcile/hosttar/tartest"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestSplitArg(t *testing.T) {
	for _, tt := range []struct{ arg, svc, path string }{
		{"web:/etc/hosts", "web", "/etc/hosts"},
		{"web:etc", "web", "etc"},
		{"web:", "web", ""},
		{"/abs/a:b", "", "/abs/a:b"},
		{"./a:b", "", "./a:b"},
		{"file.txt", "", "file.txt"},
		{"-", "", "-"},
	} {
		if svc, p := SplitArg(tt.arg); svc != tt.svc || p != tt.path {
			t.Errorf("SplitArg(%q) = %q, %q; want %q, %q", tt.arg, svc, p, tt.svc, tt.path)
		}
	}
}

func TestContainerPath(t *testing.T) {
	for in, want := range map[string]string{
		"/etc": "/etc", "etc": "/etc", "etc/": "/etc/", "etc/.": "/etc/.", ".": "/.", "a/../b": "/b",
	} {
		if got := ContainerPath(in); got != want {
			t.Errorf("ContainerPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrepareCopy(t *testing.T) {
	file := Info{path: "/src/f.txt", exists: true}
	dir := Info{path: "/src/d", exists: true, isDir: true}
	contents := Info{path: "/src/d/.", exists: true, isDir: true}
	linked := Info{path: "/src/real", exists: true, isDir: true, rebase: "link"}
	for _, tt := range []struct {
		name      string
		src, dst  Info
		dir, base string
		err       string
	}{
		{"file into a directory", file, Info{path: "/dst", exists: true, isDir: true}, "/dst", "", ""},
		{"file over a file", file, Info{path: "/dst/g.txt", exists: true}, "/dst", "g.txt", ""},
		{"file to a new name", file, Info{path: "/dst/new"}, "/dst", "new", ""},
		{"file to a missing directory", file, Info{path: "/dst/new/"}, "", "", "directory x does not exist"},
		{"directory into a directory", dir, Info{path: "/dst", exists: true, isDir: true}, "/dst", "", ""},
		{"directory to a new name", dir, Info{path: "/dst/new/"}, "/dst", "new", ""},
		{"directory over a file", dir, Info{path: "/dst/f", exists: true}, "", "", "cannot copy a directory to x: it is a file"},
		{"contents into a directory", contents, Info{path: "/dst", exists: true, isDir: true}, "/dst", "", ""},
		{"contents to a new name", contents, Info{path: "/dst/new"}, "/dst", "new", ""},
		{"followed link into a directory", linked, Info{path: "/dst", exists: true, isDir: true}, "/dst", "link", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, base, err := prepareCopy(tt.src, tt.dst, "x")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || dir != tt.dir || base != tt.base {
				t.Errorf("prepareCopy = %q, %q, %v; want %q, %q", dir, base, err, tt.dir, tt.base)
			}
		})
	}
}

func TestRebaseEntry(t *testing.T) {
	for _, tt := range []struct{ name, old, new, want string }{
		{"d/", "d", "e", "e/"},
		{"d/a", "d", "e", "e/a"},
		{"dd/a", "d", "e", "dd/a"},
		{"./a", ".", "e", "e/a"},
		{"/bin/", "/", "root", "root/bin/"},
		{"d/a", "d", "", "d/a"},
	} {
		if got := rebaseEntry(tt.name, tt.old, tt.new); got != tt.want {
			t.Errorf("rebaseEntry(%q, %q, %q) = %q, want %q", tt.name, tt.old, tt.new, got, tt.want)
		}
	}
}

// writeFiles creates files under dir: "name" → content, names ending in
// "/" are directories, content "-> target" makes a symbolic link.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch content := files[n]; {
		case strings.HasSuffix(n, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "-> "):
			err = os.Symlink(strings.TrimPrefix(content, "-> "), p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readFiles lists the files under dir as writeFiles takes them.
func readFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			got[rel] = "-> " + link
			return err
		case d.IsDir():
			got[rel+"/"] = ""
		default:
			b, err := os.ReadFile(p)
			got[rel] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func equalFiles(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %q, want %q", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", what, got, want)
			return
		}
	}
}

// fakeContainer returns a Fake with a container and that container.
func fakeContainer(t *testing.T) (*servicetest.Fake, service.Container) {
	t.Helper()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:0123")
	id, err := f.CreateContainer(t.Context(), service.ContainerSpec{Name: "p-web-1", Image: "busybox", Labels: map[string]string{
		service.LabelProject: "p", service.LabelService: "web", service.LabelContainerNumber: "1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.Container(id)
	return f, c
}

// TestCpRoundTrip copies local files into a container of the Fake and
// back out, checking docker cp's rules for where things land.
func TestCpRoundTrip(t *testing.T) {
	ctx := t.Context()
	f, c := fakeContainer(t)
	local := t.TempDir()
	writeFiles(t, local, map[string]string{
		"app/a.txt": "a", "app/sub/b.txt": "b", "app/link": "-> a.txt", "note.txt": "note",
	})
	var stdout bytes.Buffer
	in := func(src, dst string) error {
		t.Helper()
		info, err := LocalSource(LocalPath(local, src), false)
		if err != nil {
			t.Fatal(err)
		}
		return CopyIn(ctx, f, f, c, info, nil, ContainerPath(dst), false)
	}
	mustIn := func(src, dst string) {
		t.Helper()
		if err := in(src, dst); err != nil {
			t.Fatalf("cp %s %s: %v", src, dst, err)
		}
	}
	out := func(src, dst string) error {
		_, err := CopyOut(ctx, f, c, ContainerPath(src), dst, local, &stdout, false)
		return err
	}
	mustOut := func(src, dst string) {
		t.Helper()
		if err := out(src, dst); err != nil {
			t.Fatalf("cp %s %s: %v", src, dst, err)
		}
	}
	ls := func(p string) []string {
		t.Helper()
		rc, err := f.CopyFrom(ctx, c.ID, p)
		if err != nil {
			t.Fatalf("CopyFrom(%s): %v", p, err)
		}
		defer rc.Close()
		return tartest.Names(tartest.Read(t, rc))
	}

	mustIn("app", "/")                   // a directory into an existing one
	mustIn("app", "/app")                // again: inside it, under its own name
	mustIn("app/.", "/copy")             // its contents, to a new name
	mustIn("note.txt", "/app/renamed")   // a file, to a new name
	mustIn("note.txt", "/app/renamed")   // over itself
	mustIn("app/sub/b.txt", "app/sub/.") // relative container path: from the root
	if got, want := ls("/app"), []string{"app/", "app/a.txt", "app/app/", "app/app/a.txt", "app/app/sub/", "app/app/sub/b.txt", "app/renamed", "app/sub/", "app/sub/b.txt"}; !slices.Equal(got, want) {
		t.Errorf("after copying in, /app has %q, want %q (the Fake drops links)", got, want)
	}
	if got, want := ls("/copy"), []string{"copy/", "copy/a.txt", "copy/sub/", "copy/sub/b.txt"}; !slices.Equal(got, want) {
		t.Errorf("/copy has %q, want %q", got, want)
	}
	if err := in("note.txt", "/nodir/"); err == nil || !strings.Contains(err.Error(), "directory p-web-1:/nodir/ does not exist") {
		t.Errorf("cp to a missing directory: %v", err)
	}
	if err := in("app", "/app/renamed"); err == nil || !strings.Contains(err.Error(), "cannot copy a directory to p-web-1:/app/renamed") {
		t.Errorf("cp of a directory over a file: %v", err)
	}

	dst := t.TempDir()
	mustOut("/app/sub", filepath.Join(dst, "new"))   // to a new name
	mustOut("/app/sub", dst)                         // into an existing directory
	mustOut("/copy/.", filepath.Join(dst, "new"))    // contents into an existing directory
	mustOut("/app/renamed", filepath.Join(dst, "f")) // a file
	mustOut("/app/a.txt", filepath.Join(dst, "f"))   // over a file
	equalFiles(t, "copied out", readFiles(t, dst), map[string]string{
		"new/": "", "new/b.txt": "b", "new/a.txt": "a", "new/sub/": "", "new/sub/b.txt": "b",
		"sub/": "", "sub/b.txt": "b",
		"f": "a",
	})
	err := out("/nope", dst)
	if err == nil || err.Error() != "path /nope not found in container p-web-1" {
		t.Errorf("cp of a missing path: %v", err)
	}
	if err := out("/app", filepath.Join(dst, "f")); err == nil || !strings.Contains(err.Error(), "it is a file") {
		t.Errorf("cp of a directory over a file: %v", err)
	}
	if err := out("/app/a.txt", filepath.Join(dst, "no", "such")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("cp into a missing directory: %v", err)
	}

	// "-" streams a tar on standard output, and reads one on standard input.
	mustOut("/app/sub", "-")
	archive := stdout.Bytes()
	if err := CopyIn(ctx, f, f, c, Info{}, bytes.NewReader(archive), "/copy", false); err != nil {
		t.Fatal(err)
	}
	if got := ls("/copy/sub"); !slices.Equal(got, []string{"sub/", "sub/b.txt"}) {
		t.Errorf("after cp - /copy: /copy/sub has %q", got)
	}
	if err := CopyIn(ctx, f, f, c, Info{}, bytes.NewReader(archive), "/app/renamed", false); err == nil || !strings.Contains(err.Error(), "must be a directory") {
		t.Errorf("cp - to a file: %v", err)
	}
}

func TestCpFollowLink(t *testing.T) {
	local := t.TempDir()
	writeFiles(t, local, map[string]string{"real/x": "x", "link": "-> real", "flink": "-> real/x"})
	for _, tt := range []struct {
		path   string
		follow bool
		want   Info
	}{
		{"link", false, Info{path: filepath.Join(local, "link"), exists: true}},
		{"link", true, Info{path: filepath.Join(local, "real"), exists: true, isDir: true, rebase: "link"}},
		{"link/", false, Info{path: filepath.Join(local, "real") + "/", exists: true, isDir: true, rebase: "link"}},
		{"flink", true, Info{path: filepath.Join(local, "real", "x"), exists: true, rebase: "flink"}},
	} {
		p := preserveTrailing(filepath.Join(local, tt.path), tt.path)
		got, err := LocalSource(p, tt.follow)
		if err != nil || got != tt.want {
			t.Errorf("LocalSource(%s, %v) = %+v, %v; want %+v", tt.path, tt.follow, got, err, tt.want)
		}
	}
}

func TestWriteTarOwner(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	writeFiles(t, dir, map[string]string{"f": "x"})
	if err := os.Lchown(p, 1234, 5678); err != nil {
		t.Skipf("cannot chown here: %v", err)
	}
	for _, keep := range []bool{false, true} {
		var buf bytes.Buffer
		if err := writeTar(&buf, p, "g", keep); err != nil {
			t.Fatal(err)
		}
		h, err := tar.NewReader(&buf).Next()
		if err != nil {
			t.Fatal(err)
		}
		uid, gid := 0, 0
		if keep {
			uid, gid = 1234, 5678
		}
		if h.Name != "g" || h.Uid != uid || h.Gid != gid {
			t.Errorf("keepOwner %v: header %s %d:%d, want g %d:%d", keep, h.Name, h.Uid, h.Gid, uid, gid)
		}
	}
}

// tarStream returns a tar stream of headers, each regular file with
// content "x".
func tarStream(t *testing.T, hs ...tar.Header) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 1
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	return &buf
}

func TestExtractStaysInside(t *testing.T) {
	outside := t.TempDir()
	for _, tt := range []struct {
		name string
		hs   []tar.Header
	}{
		{"dot-dot", []tar.Header{{Name: "../escaped", Typeflag: tar.TypeReg}}},
		{"through a link", []tar.Header{
			{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "l/escaped", Typeflag: tar.TypeReg},
		}},
		{"through a relative link", []tar.Header{
			{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../../" + outside},
			{Name: "l/escaped", Typeflag: tar.TypeReg},
		}},
		{"hard link", []tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../escaped"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := extract(tarStream(t, tt.hs...), dir, "", ""); err == nil {
				t.Error("no error")
			}
			if _, err := os.Lstat(filepath.Join(outside, "escaped")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file was written outside: %v", err)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"keep/": "", "file": "old", "d/": ""})
	skipped, err := extract(tarStream(t,
		tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750},
		tar.Header{Name: "./keep/", Typeflag: tar.TypeDir, Mode: 0o555},
		tar.Header{Name: "./keep/inner", Typeflag: tar.TypeReg, Mode: 0o4755},
		tar.Header{Name: "./file", Typeflag: tar.TypeReg},
		tar.Header{Name: "./hard", Typeflag: tar.TypeLink, Linkname: "./file"},
		tar.Header{Name: "./new/deep/f", Typeflag: tar.TypeReg},
		tar.Header{Name: "./fifo", Typeflag: tar.TypeFifo},
	), dir, ".", "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(skipped, []string{"./fifo"}) {
		t.Errorf("skipped = %q", skipped)
	}
	equalFiles(t, "extracted", readFiles(t, dir), map[string]string{
		"keep/": "", "keep/inner": "x", "file": "x", "hard": "x", "d/": "", "new/": "", "new/deep/": "", "new/deep/f": "x",
	})
	for name, want := range map[string]os.FileMode{".": os.ModeDir | 0o750, "keep": os.ModeDir | 0o555, "keep/inner": os.ModeSetuid | 0o755} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode() != want {
			t.Errorf("mode of %s = %v, %v; want %v", name, fi.Mode(), err, want)
		}
	}
	os.Chmod(filepath.Join(dir, "keep"), 0o755) // so that TempDir can remove it

	for _, tt := range []struct {
		name string
		h    tar.Header
		want string
	}{
		{"file over a directory", tar.Header{Name: "d", Typeflag: tar.TypeReg}, "cannot overwrite directory"},
		{"directory over a file", tar.Header{Name: "file/", Typeflag: tar.TypeDir}, "cannot overwrite non-directory"},
	} {
		if _, err := extract(tarStream(t, tt.h), dir, "", ""); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"-": "-", "/abs": "/abs", "a": "/wd/a", "a/": "/wd/a/", "a/.": "/wd/a/.", ".": "/wd/.", "a/../b/": "/wd/b/",
	} {
		if got := LocalPath("/wd", in); got != want {
			t.Errorf("LocalPath(/wd, %q) = %q, want %q", in, got, want)
		}
	}
}

func TestTargets(t *testing.T) {
	c := func(name, num string) service.Container {
		return service.Container{Name: name, Labels: map[string]string{service.LabelContainerNumber: num}}
	}
	cs := []service.Container{c("w-10", "10"), c("w-x", ""), c("w-2", "2"), c("w-3", "3")}
	for _, tt := range []struct {
		name  string
		cs    []service.Container
		index int
		all   bool
		want  string
	}{
		{"lowest number", cs, 0, false, "w-2"},
		{"index", cs, 3, false, "w-3"},
		{"all, by number, unnumbered last", cs, 0, true, "w-2 w-3 w-10 w-x"},
		{"no such index", cs, 4, false, "service web has no container with index 4"},
		{"none", nil, 0, true, "service web has no container"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Targets(tt.cs, "web", tt.index, tt.all)
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
			}
			s := strings.Join(names, " ")
			if err != nil {
				s = err.Error()
			}
			if s != tt.want {
				t.Errorf("Targets = %s, want %s", s, tt.want)
			}
		})
	}
	if cs[0].Name != "w-10" {
		t.Error("Targets reordered its argument")
	}
}

// FuzzExtract unpacks arbitrary tar streams: extract never panics and
// never creates anything outside the destination (checked by extracting
// beside a sibling directory that must stay empty).
func FuzzExtract(f *testing.F) {
	var seed bytes.Buffer
	tw := tar.NewWriter(&seed)
	for _, h := range []tar.Header{
		{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755},
		{Typeflag: tar.TypeSymlink, Name: "d/up", Linkname: "../../sibling"},
		{Typeflag: tar.TypeReg, Name: "d/up/x", Mode: 0o644},
		{Typeflag: tar.TypeLink, Name: "d/h", Linkname: "../../sibling/y"},
		{Typeflag: tar.TypeReg, Name: "../escape", Mode: 0o644},
		{Typeflag: tar.TypeFifo, Name: "p", Mode: 0o644},
	} {
		_ = tw.WriteHeader(&h)
	}
	tw.Close()
	f.Add(seed.Bytes(), "d", "e")
	f.Add(seed.Bytes(), "/", "root")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, stream []byte, oldBase, newBase string) {
		parent := t.TempDir()
		dst := filepath.Join(parent, "dst")
		sibling := filepath.Join(parent, "sibling")
		for _, d := range []string{dst, sibling} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = extract(bytes.NewReader(stream), dst, oldBase, newBase)
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("something was created beside the destination: %v", entries)
		}
		if left, _ := os.ReadDir(sibling); len(left) != 0 {
			t.Fatalf("something was created outside the destination: %v", left)
		}
		// make what was extracted removable for t.TempDir's clean-up
		_ = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}
