package cli

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestSplitCpArg(t *testing.T) {
	for _, tt := range []struct{ arg, svc, path string }{
		{"web:/etc/hosts", "web", "/etc/hosts"},
		{"web:etc", "web", "etc"},
		{"web:", "web", ""},
		{"/abs/a:b", "", "/abs/a:b"},
		{"./a:b", "", "./a:b"},
		{"file.txt", "", "file.txt"},
		{"-", "", "-"},
	} {
		if svc, p := splitCpArg(tt.arg); svc != tt.svc || p != tt.path {
			t.Errorf("splitCpArg(%q) = %q, %q; want %q, %q", tt.arg, svc, p, tt.svc, tt.path)
		}
	}
}

func TestContainerPath(t *testing.T) {
	for in, want := range map[string]string{
		"/etc": "/etc", "etc": "/etc", "etc/": "/etc/", "etc/.": "/etc/.", ".": "/.", "a/../b": "/b",
	} {
		if got := containerPath(in); got != want {
			t.Errorf("containerPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrepareCopy(t *testing.T) {
	file := copyInfo{path: "/src/f.txt", exists: true}
	dir := copyInfo{path: "/src/d", exists: true, isDir: true}
	contents := copyInfo{path: "/src/d/.", exists: true, isDir: true}
	linked := copyInfo{path: "/src/real", exists: true, isDir: true, rebase: "link"}
	for _, tt := range []struct {
		name      string
		src, dst  copyInfo
		dir, base string
		err       string
	}{
		{"file into a directory", file, copyInfo{path: "/dst", exists: true, isDir: true}, "/dst", "", ""},
		{"file over a file", file, copyInfo{path: "/dst/g.txt", exists: true}, "/dst", "g.txt", ""},
		{"file to a new name", file, copyInfo{path: "/dst/new"}, "/dst", "new", ""},
		{"file to a missing directory", file, copyInfo{path: "/dst/new/"}, "", "", "directory x does not exist"},
		{"directory into a directory", dir, copyInfo{path: "/dst", exists: true, isDir: true}, "/dst", "", ""},
		{"directory to a new name", dir, copyInfo{path: "/dst/new/"}, "/dst", "new", ""},
		{"directory over a file", dir, copyInfo{path: "/dst/f", exists: true}, "", "", "cannot copy a directory to x: it is a file"},
		{"contents into a directory", contents, copyInfo{path: "/dst", exists: true, isDir: true}, "/dst", "", ""},
		{"contents to a new name", contents, copyInfo{path: "/dst/new"}, "/dst", "new", ""},
		{"followed link into a directory", linked, copyInfo{path: "/dst", exists: true, isDir: true}, "/dst", "link", ""},
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
	g := &globals{wd: local, stdio: Stdio{Out: &stdout, Err: io.Discard}, progress: "quiet"}
	in := func(src, dst string, o cpOptions) error {
		t.Helper()
		info, err := localSource(g.localPath(src), o.followLink)
		if err != nil {
			t.Fatal(err)
		}
		return copyIn(ctx, f, f, c, info, nil, containerPath(dst), o)
	}
	mustIn := func(src, dst string) {
		t.Helper()
		if err := in(src, dst, cpOptions{}); err != nil {
			t.Fatalf("cp %s %s: %v", src, dst, err)
		}
	}
	out := func(src, dst string) error {
		return copyOut(ctx, g, f, c, containerPath(src), dst, cpOptions{})
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
		var names []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				return names
			}
			names = append(names, h.Name)
		}
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
	if err := in("note.txt", "/nodir/", cpOptions{}); err == nil || !strings.Contains(err.Error(), "directory p-web-1:/nodir/ does not exist") {
		t.Errorf("cp to a missing directory: %v", err)
	}
	if err := in("app", "/app/renamed", cpOptions{}); err == nil || !strings.Contains(err.Error(), "cannot copy a directory to p-web-1:/app/renamed") {
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
	if err := copyIn(ctx, f, f, c, copyInfo{}, bytes.NewReader(archive), "/copy", cpOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := ls("/copy/sub"); !slices.Equal(got, []string{"sub/", "sub/b.txt"}) {
		t.Errorf("after cp - /copy: /copy/sub has %q", got)
	}
	if err := copyIn(ctx, f, f, c, copyInfo{}, bytes.NewReader(archive), "/app/renamed", cpOptions{}); err == nil || !strings.Contains(err.Error(), "must be a directory") {
		t.Errorf("cp - to a file: %v", err)
	}
}

func TestCpFollowLink(t *testing.T) {
	local := t.TempDir()
	writeFiles(t, local, map[string]string{"real/x": "x", "link": "-> real", "flink": "-> real/x"})
	for _, tt := range []struct {
		path   string
		follow bool
		want   copyInfo
	}{
		{"link", false, copyInfo{path: filepath.Join(local, "link"), exists: true}},
		{"link", true, copyInfo{path: filepath.Join(local, "real"), exists: true, isDir: true, rebase: "link"}},
		{"link/", false, copyInfo{path: filepath.Join(local, "real") + "/", exists: true, isDir: true, rebase: "link"}},
		{"flink", true, copyInfo{path: filepath.Join(local, "real", "x"), exists: true, rebase: "flink"}},
	} {
		p := preserveTrailing(filepath.Join(local, tt.path), tt.path)
		got, err := localSource(p, tt.follow)
		if err != nil || got != tt.want {
			t.Errorf("localSource(%s, %v) = %+v, %v; want %+v", tt.path, tt.follow, got, err, tt.want)
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

func TestCpTargets(t *testing.T) {
	ctx := t.Context()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:0123")
	for _, c := range []struct{ name, svc, num, oneoff string }{
		{"p-web-10", "web", "10", ""}, {"p-web-2", "web", "2", ""}, {"p-web-1", "web", "1", ""},
		{"p-web-run-1", "web", "", "True"}, {"p-db-1", "db", "1", ""},
	} {
		labels := map[string]string{service.LabelProject: "p", service.LabelService: c.svc}
		if c.num != "" {
			labels[service.LabelContainerNumber] = c.num
		}
		if c.oneoff != "" {
			labels[service.LabelOneoff] = c.oneoff
		}
		if _, err := f.CreateContainer(ctx, service.ContainerSpec{Name: c.name, Image: "busybox", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	s := &session{name: "p", b: f}
	names := func(cs []service.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	for _, tt := range []struct {
		svc  string
		o    cpOptions
		want []string
		err  string
	}{
		{"web", cpOptions{}, []string{"p-web-1"}, ""},
		{"web", cpOptions{index: 2}, []string{"p-web-2"}, ""},
		{"web", cpOptions{all: true}, []string{"p-web-1", "p-web-2", "p-web-10"}, ""},
		{"web", cpOptions{index: 3}, nil, "service web has no container with index 3"},
		{"cache", cpOptions{}, nil, "service cache has no container"},
	} {
		cs, err := cpTargets(ctx, s, tt.svc, tt.o)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("cpTargets(%s, %+v) = %v, want %q", tt.svc, tt.o, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(names(cs), tt.want) {
			t.Errorf("cpTargets(%s, %+v) = %q, %v; want %q", tt.svc, tt.o, names(cs), err, tt.want)
		}
	}
}

func TestCpArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "a", "b"}, `one of "a" and "b" must name a service: SERVICE:PATH`},
		{[]string{"cp", "web:/a", "db:/b"}, "copying between services is not supported"},
		{[]string{"cp", "--all", "web:/a", "."}, "--all applies to copying into a service"},
		{[]string{"cp", "--index", "-1", "web:/a", "."}, "invalid --index -1"},
		{[]string{"cp", "web:", "."}, `"web:" names no path in the container`},
		{[]string{"cp", "--all", "--index", "2", ".", "web:/a"}, "none of the others can be"},
		{[]string{"cp", "a"}, "accepts 2 arg(s)"},
	} {
		_, errOut, code := runCLI(t, dir, nil, tt.args...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want 1 and %q", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
	}
}
