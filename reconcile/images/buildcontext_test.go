package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/reconcile/hosttar/tartest"
	"github.com/berthdev/berth/service"
)

// writeTree writes files (slash-separated path → content) under dir. A
// content starting with "->" makes a symbolic link to the rest; a path
// ending in "/" an empty directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// entry is what a test checks of a tar entry.
type entry struct {
	name, link, content string
	typ                 byte
}

// readTar reads a build context, checking that every entry is owned by
// root and timed to the second.
func readTar(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var out []entry
	for _, e := range tartest.Read(t, r) {
		h := e.Header
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owned by %d:%d (%q:%q), want root with no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || h.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: times %v %v %v: want a modification time to the second only", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		out = append(out, entry{name: h.Name, link: h.Linkname, content: e.Data, typ: h.Typeflag})
	}
	return out
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

// buildService is a service built from dir with the given build section.
func buildService(dir string, b types.BuildConfig) types.ServiceConfig {
	if b.Context == "" {
		b.Context = dir
	}
	s := types.ServiceConfig{Name: "web"}
	s.Build = &b
	return s
}

func TestBuildContextDockerignore(t *testing.T) {
	tree := map[string]string{
		"Dockerfile":            "FROM scratch\n",
		"main.go":               "package main\n",
		"app.log":               "log",
		"sub/b.log":             "log",
		"sub/c.txt":             "c",
		"node_modules/x/y.js":   "y",
		"docs/a.md":             "a",
		"docs/keep.txt":         "keep",
		"README.md":             "readme",
		"NOTES.md":              "notes",
		"src/lib/a.go":          "a",
		"src/lib/a_test.go":     "test",
		"empty/":                "",
		"link-out":              "->/etc/passwd",
		"link-in":               "->main.go",
		"build/app.Dockerfile":  "FROM scratch\n",
		"build/other.Dockerfle": "x",
	}
	all := []string{"Dockerfile", "NOTES.md", "README.md", "app.log", "build/", "build/app.Dockerfile", "build/other.Dockerfle",
		"docs/", "docs/a.md", "docs/keep.txt", "empty/", "link-in", "link-out", "main.go",
		"node_modules/", "node_modules/x/", "node_modules/x/y.js",
		"src/", "src/lib/", "src/lib/a.go", "src/lib/a_test.go", "sub/", "sub/b.log", "sub/c.txt"}
	without := func(list []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(drop, s) })
	}
	with := func(list []string, add ...string) []string {
		out := append(slices.Clone(list), add...)
		slices.Sort(out)
		return out
	}
	cases := []struct {
		name       string
		ignore     string            // .dockerignore; "" for none
		extra      map[string]string // more files
		dockerfile string
		want       []string
	}{
		{name: "no ignore file", want: all},
		{name: "top-level glob", ignore: "*.log\n", want: with(without(all, "app.log"), ".dockerignore")},
		{name: "double star", ignore: "**/*.log\n", want: with(without(all, "app.log", "sub/b.log"), ".dockerignore")},
		{name: "directory", ignore: "node_modules\n", want: with(without(all, "node_modules/", "node_modules/x/", "node_modules/x/y.js"), ".dockerignore")},
		{name: "comment, leading slash, blank line", ignore: "# a comment\n\n/node_modules/\n", want: with(without(all, "node_modules/", "node_modules/x/", "node_modules/x/y.js"), ".dockerignore")},
		{name: "exception", ignore: "*.md\n!README.md\n", want: with(without(all, "NOTES.md"), ".dockerignore")},
		{name: "exception inside an excluded directory", ignore: "docs\n!docs/keep.txt\n",
			// the directory itself is not sent, only what is re-included
			want: with(without(all, "docs/", "docs/a.md"), ".dockerignore")},
		{name: "everything but", ignore: "*\n!src\n**/*_test.go\n",
			want: []string{".dockerignore", "Dockerfile", "src/", "src/lib/", "src/lib/a.go"}},
		{name: "later pattern wins", ignore: "!main.go\nmain.go\n", want: with(without(all, "main.go"), ".dockerignore")},
		{name: "dockerfile and ignore file always sent", ignore: ".dockerignore\nDockerfile\n*.go\n",
			want: with(without(all, "main.go"), ".dockerignore")},
		{name: "question mark and class", ignore: "sub/?.log\n[NR]*.md\n", want: with(without(all, "sub/b.log", "NOTES.md", "README.md"), ".dockerignore")},
		{name: "dockerfile-specific ignore file wins", ignore: "*.log\n", dockerfile: "build/app.Dockerfile",
			extra: map[string]string{"build/app.Dockerfile.dockerignore": "*\n!main.go\n"},
			want:  []string{".dockerignore", "build/app.Dockerfile", "build/app.Dockerfile.dockerignore", "main.go"}},
		{name: "dockerfile in an excluded directory", ignore: "build\n", dockerfile: "build/app.Dockerfile",
			want: with(without(all, "build/", "build/other.Dockerfle"), ".dockerignore")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tree)
			writeTree(t, dir, c.extra)
			if c.ignore != "" {
				writeTree(t, dir, map[string]string{".dockerignore": c.ignore})
			}
			want := c.want
			rc, dockerfile, size, err := BuildContext(buildService(dir, types.BuildConfig{Dockerfile: c.dockerfile}), dir)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			data, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) != size {
				t.Errorf("size %d, stream has %d bytes", size, len(data))
			}
			wantDockerfile := c.dockerfile
			if wantDockerfile == "" {
				wantDockerfile = "Dockerfile"
			}
			if dockerfile != wantDockerfile {
				t.Errorf("dockerfile %q, want %q", dockerfile, wantDockerfile)
			}
			got := names(readTar(t, bytes.NewReader(data)))
			if !slices.Equal(got, want) {
				t.Errorf("entries:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestBuildContextLinksAndContent(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret": "do not send"})
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY . /\n",
		"a.txt":      "hello",
		"out":        "->" + filepath.Join(outside, "secret"),
		"outdir":     "->" + outside,
	})
	rc, _, _, err := BuildContext(buildService(dir, types.BuildConfig{}), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	es := readTar(t, rc)
	for _, e := range es {
		if strings.Contains(e.content, "do not send") || strings.HasPrefix(e.name, "outdir/") {
			t.Errorf("%s: something outside the context was sent", e.name)
		}
	}
	want := []entry{
		{name: "Dockerfile", content: "FROM scratch\nCOPY . /\n", typ: tar.TypeReg},
		{name: "a.txt", content: "hello", typ: tar.TypeReg},
		{name: "out", link: filepath.Join(outside, "secret"), typ: tar.TypeSymlink},
		{name: "outdir", link: outside, typ: tar.TypeSymlink},
	}
	if !slices.Equal(es, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", es, want)
	}
}

func TestBuildContextIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\n", "b/z": "z", "b/a": "a", "a": "a", "c/d/e": "e", ".dockerignore": "c/d\n",
	})
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, rel := range []string{"Dockerfile", "b/z", "b/a", "a", "c/d/e", ".dockerignore", "b", "c/d", "c"} {
		if err := os.Chtimes(filepath.Join(dir, rel), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []byte {
		rc, _, _, err := BuildContext(buildService(dir, types.BuildConfig{}), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := read()
	// reading files changes their access times, which must not show
	time.Sleep(10 * time.Millisecond)
	if second := read(); !bytes.Equal(first, second) {
		t.Error("two archives of the same tree differ")
	}
	tr := tar.NewReader(bytes.NewReader(first))
	var got []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, h.Name)
		if !h.ModTime.Equal(mtime.Truncate(time.Second)) {
			t.Errorf("%s: mtime %v, want the file's, %v", h.Name, h.ModTime, mtime.Truncate(time.Second))
		}
	}
	want := []string{".dockerignore", "Dockerfile", "a", "b/", "b/a", "b/z", "c/"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q (sorted, c/d ignored)", got, want)
	}
	// a changed file changes the archive
	writeTree(t, dir, map[string]string{"b/a": "A"})
	if err := os.Chtimes(filepath.Join(dir, "b/a"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, read()) {
		t.Error("the archive did not change with a file's content")
	}
}

func TestBuildContextGeneratedDockerfile(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a", ".dockerignore": "*.tmp"})
	writeTree(t, outside, map[string]string{"Dockerfile.web": "FROM scratch\nCOPY a.txt /\n"})
	for _, c := range []struct {
		name  string
		build types.BuildConfig
		text  string
	}{
		{"inline", types.BuildConfig{DockerfileInline: "FROM scratch\n"}, "FROM scratch\n"},
		{"outside the context", types.BuildConfig{Dockerfile: filepath.Join(outside, "Dockerfile.web")}, "FROM scratch\nCOPY a.txt /\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, dockerfile, _, err := BuildContext(buildService(dir, c.build), dir)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if !strings.HasPrefix(dockerfile, ".dockerfile.") {
				t.Fatalf("dockerfile %q, want a generated .dockerfile.<hash>", dockerfile)
			}
			es := readTar(t, rc)
			got := map[string]string{}
			for _, e := range es {
				got[e.name] = e.content
			}
			if got[dockerfile] != c.text {
				t.Errorf("generated Dockerfile %q, want %q", got[dockerfile], c.text)
			}
			if want := "*.tmp\n" + dockerfile + "\n"; got[".dockerignore"] != want {
				t.Errorf(".dockerignore %q, want %q (hiding the generated Dockerfile from COPY)", got[".dockerignore"], want)
			}
			if got["a.txt"] != "a" {
				t.Errorf("a.txt not sent: %q", names(es))
			}
		})
	}
}

func TestBuildContextErrors(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
	_, _, _, err := BuildContext(buildService(dir, types.BuildConfig{Context: "https://github.com/x/y.git"}), dir)
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "service web") {
		t.Errorf("remote context: %v, want ErrUnsupported naming the service", err)
	}
	_, _, _, err = BuildContext(buildService(dir, types.BuildConfig{Dockerfile: "Nope"}), dir)
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	_, _, _, err = BuildContext(buildService(dir, types.BuildConfig{Context: filepath.Join(dir, "missing")}), dir)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing context: %v", err)
	}
}

func TestBuildContextSpoolsToFile(t *testing.T) {
	old := spoolLimit
	spoolLimit = 4096
	t.Cleanup(func() { spoolLimit = old })
	dir := t.TempDir()
	big := strings.Repeat("x", 10000)
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "big": big})
	rc, _, size, err := BuildContext(buildService(dir, types.BuildConfig{}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("a %d-byte context is kept in memory, want a temporary file", size)
	}
	es := readTar(t, rc)
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[1].content != big {
		t.Errorf("entries %q", names(es))
	}
}
