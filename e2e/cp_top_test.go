package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sleeper is a project of one busybox service that sleeps.
func sleeper() string {
	return fmt.Sprintf(`
services:
  svc:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
`, busyboxImage())
}

// localTree returns the files under dir as "relative/path" → content, and
// directories as "relative/path/" → "".
func localTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			got[filepath.ToSlash(rel)+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	ok := len(got) == len(want)
	for k, v := range want {
		if g, found := got[k]; !found || g != v {
			ok = false
		}
	}
	if !ok {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

func TestCp(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{
		"compose.yaml":       sleeper(),
		"hello.txt":          "hello from the host\n",
		"site/index.html":    "<h1>home</h1>\n",
		"site/css/style.css": "body {}\n",
	})
	p.mustRun(t, "up", "-d")
	cat := func(path string) string {
		t.Helper()
		return p.mustRun(t, "exec", "-T", "svc", "cat", path).stdout
	}

	// A file into an existing directory, then to a new name.
	p.mustRun(t, "cp", "hello.txt", "svc:/tmp")
	if got := cat("/tmp/hello.txt"); got != "hello from the host\n" {
		t.Errorf("cat /tmp/hello.txt = %q", got)
	}
	p.mustRun(t, "cp", "hello.txt", "svc:/tmp/renamed.txt")
	if got := cat("/tmp/renamed.txt"); got != "hello from the host\n" {
		t.Errorf("cat /tmp/renamed.txt = %q", got)
	}

	// A directory to a path that does not exist becomes that path; copied
	// again, into the now existing directory, it goes inside it.
	p.mustRun(t, "cp", "site", "svc:/srv")
	p.mustRun(t, "cp", "site", "svc:/srv")
	if got := cat("/srv/css/style.css") + cat("/srv/site/index.html"); got != "body {}\n<h1>home</h1>\n" {
		t.Errorf("after copying site twice: %q", got)
	}

	// Ownership: root's, or with -a the local file's.
	owned := filepath.Join(p.dir, "owned.txt")
	p.writeFile(t, "owned.txt", "x\n")
	if err := os.Chown(owned, 1234, 4321); err == nil {
		p.mustRun(t, "cp", "owned.txt", "svc:/tmp/plain.txt")
		p.mustRun(t, "cp", "-a", "owned.txt", "svc:/tmp/kept.txt")
		got := p.mustRun(t, "exec", "-T", "svc", "stat", "-c", "%u:%g", "/tmp/plain.txt", "/tmp/kept.txt").stdout
		if got != "0:0\n1234:4321\n" {
			t.Errorf("owners without and with -a: %q, want 0:0 and 1234:4321", got)
		}
	} else {
		t.Logf("ownership not checked: %v", err)
	}

	// A directory out, to a new local path, then into an existing one.
	p.mustRun(t, "exec", "-T", "svc", "sh", "-c", "mkdir -p /data/sub && echo one > /data/one.txt && echo two > /data/sub/two.txt")
	p.mustRun(t, "cp", "svc:/data", "out")
	sameTree(t, "cp svc:/data out", localTree(t, filepath.Join(p.dir, "out")), map[string]string{
		"one.txt": "one\n", "sub/": "", "sub/two.txt": "two\n",
	})
	p.mustRun(t, "cp", "svc:/data", "out")
	p.mustRun(t, "cp", "svc:/data/sub/.", "out/sub")
	sameTree(t, "cp svc:/data out, again", localTree(t, filepath.Join(p.dir, "out")), map[string]string{
		"one.txt": "one\n", "sub/": "", "sub/two.txt": "two\n",
		"data/": "", "data/one.txt": "one\n", "data/sub/": "", "data/sub/two.txt": "two\n",
	})

	// "-" writes a tar stream on standard output and reads one on standard
	// input.
	r := p.mustRun(t, "cp", "svc:/data/one.txt", "-")
	tr := tar.NewReader(strings.NewReader(r.stdout))
	h, err := tr.Next()
	if err != nil {
		t.Fatalf("cp svc:/data/one.txt - printed no tar stream: %v", err)
	}
	if body, _ := io.ReadAll(tr); h.Name != "one.txt" || string(body) != "one\n" {
		t.Errorf("cp to -: entry %q with %q", h.Name, body)
	}
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "piped.txt", Mode: 0o644, Size: 6, Typeflag: tar.TypeReg})
	tw.Write([]byte("piped\n"))
	tw.Close()
	if r := p.runStdin(in.String(), "cp", "-", "svc:/tmp"); r.code != 0 {
		t.Fatalf("cp - svc:/tmp: exit %d: %s", r.code, r.stderr)
	}
	if got := cat("/tmp/piped.txt"); got != "piped\n" {
		t.Errorf("cat /tmp/piped.txt = %q", got)
	}

	// Errors say what is missing, with exit code 1.
	container := p.name + "-svc-1"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "svc:/nope", "."}, "path /nope not found in container " + container},
		{[]string{"cp", "missing.txt", "svc:/tmp"}, "path missing.txt not found"},
		{[]string{"cp", "hello.txt", "svc:/no/such/dir/"}, "directory " + container + ":/no/such/dir/ does not exist"},
		{[]string{"cp", "hello.txt", "svc:/no/such/file"}, "directory /no/such not found in container " + container},
		{[]string{"cp", "--index", "2", "svc:/data", "."}, "service svc has no container with index 2"},
		{[]string{"cp", "hello.txt", "nosuch:/tmp"}, "no such service: nosuch"},
	} {
		r := p.run(tt.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(p.dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed copy left something behind: %v", err)
	}
}

func TestTop(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": sleeper()})
	p.mustRun(t, "up", "-d")
	container := p.name + "-svc-1"
	for _, args := range [][]string{{"top"}, {"top", "svc"}} {
		out := p.mustRun(t, args...).stdout
		lines := strings.Split(out, "\n")
		if len(lines) < 4 || lines[0] != container || !strings.HasPrefix(lines[1], "UID ") || !strings.HasSuffix(strings.TrimSpace(lines[1]), "CMD") {
			t.Fatalf("berth %s printed\n%s\nwant the container's name, then the ps -ef table", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, "sleep 3600") {
			t.Errorf("berth %s does not list the sleep process:\n%s", strings.Join(args, " "), out)
		}
		if !strings.HasSuffix(out, "\n\n") {
			t.Errorf("berth %s: the table does not end with an empty line: %q", strings.Join(args, " "), out)
		}
	}
	if r := p.run("top", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "no such service: nosuch") {
		t.Errorf("top nosuch: exit %d, stderr %q", r.code, r.stderr)
	}
	p.mustRun(t, "stop")
	if out := p.mustRun(t, "top").stdout; out != "" {
		t.Errorf("top with nothing running printed %q", out)
	}
}
