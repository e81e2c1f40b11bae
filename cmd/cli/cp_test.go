package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthdev/berth/reconcile/hosttar/tartest"
	"github.com/berthdev/berth/service/servicetest"
)

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

// tapCopier is the fake, recording the tar headers copied into containers.
type tapCopier struct {
	*servicetest.Fake
	mu      sync.Mutex
	headers []tar.Header
}

func (c *tapCopier) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	var buf bytes.Buffer
	es, err := tartest.Entries(io.TeeReader(r, &buf))
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, e := range es {
		c.headers = append(c.headers, e.Header)
	}
	c.mu.Unlock()
	return c.Fake.CopyTo(ctx, id, dir, &buf)
}

// copied returns the headers copied in since the last call.
func (c *tapCopier) copied() []tar.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := c.headers
	c.headers = nil
	return hs
}

func TestCpCommand(t *testing.T) {
	c := newFakeCLIFiles(t, map[string]string{
		"compose.yaml":  "name: shop\nservices:\n  web:\n    image: busybox\n    deploy: {replicas: 2}\n",
		"conf/app.conf": "hello",
	})
	c.f.AddImage("busybox", "sha256:b0")
	tap := &tapCopier{Fake: c.f}
	c.b = tap
	if err := os.Symlink("app.conf", filepath.Join(c.dir, "conf", "link")); err != nil {
		t.Fatal(err)
	}
	c.mustRun("up", "-d")

	// --dry-run: the plan, nothing copied
	c.f.ResetCalls()
	out, _ := c.mustRun("--dry-run", "cp", "conf", "web:/")
	if want := "#1 copy into container shop-web-1 conf to /\n#2 copy into container shop-web-2 conf to /\n"; out != want {
		t.Errorf("--dry-run cp printed\n%s\nwant\n%s", out, want)
	}
	if calls := c.calls("CopyTo"); len(calls) > 0 {
		t.Errorf("--dry-run cp copied into %q", calls)
	}

	// into every replica, then out of replica 2
	_, errOut := c.mustRun("cp", "conf", "web:/")
	for _, want := range []string{"Container shop-web-1 Copying", "Container shop-web-2 Copied"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if got, want := c.calls("CopyTo"), []string{"shop-web-1", "shop-web-2"}; !slices.Equal(got, want) {
		t.Errorf("copied into %q, want %q", got, want)
	}
	c.mustRun("cp", "--index", "2", "web:/conf/app.conf", "got.conf")
	if b, err := os.ReadFile(filepath.Join(c.dir, "got.conf")); err != nil || string(b) != "hello" {
		t.Errorf("copied out of replica 2: %q, %v", b, err)
	}
	out, _ = c.mustRun("cp", "web:/conf", "-")
	if got := tartest.Listing(tartest.Read(t, strings.NewReader(out))); !strings.Contains(got, "conf/app.conf=hello") {
		t.Errorf("cp to standard output: %s", got)
	}

	// a link is copied as a link, unless -L; files belong to root, unless -a
	tap.copied()
	c.mustRun("cp", "--index", "1", "conf/link", "web:/l")
	if hs := tap.copied(); len(hs) != 1 || hs[0].Typeflag != tar.TypeSymlink || hs[0].Linkname != "app.conf" {
		t.Errorf("cp of a link sent %+v", hs)
	}
	c.mustRun("cp", "-L", "--index", "1", "conf/link", "web:/l")
	if hs := tap.copied(); len(hs) != 1 || hs[0].Typeflag != tar.TypeReg || hs[0].Uid != 0 {
		t.Errorf("cp -L of a link sent %+v", hs)
	}
	uid := os.Getuid()
	if uid == 0 {
		uid = 1234
		if err := os.Lchown(filepath.Join(c.dir, "conf", "app.conf"), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	c.mustRun("cp", "-a", "--index", "1", "conf/app.conf", "web:/a.conf")
	if hs := tap.copied(); len(hs) != 1 || hs[0].Uid != uid {
		t.Errorf("cp -a sent %+v, want uid %d", hs, uid)
	}

	// a tar stream on standard input, into both replicas
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: "in.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("hi"))
	tw.Close()
	c.in = tb.String()
	c.mustRun("cp", "-", "web:/conf")
	c.in = ""
	for _, i := range []string{"1", "2"} {
		out, _ := c.mustRun("cp", "--index", i, "web:/conf/in.txt", "-")
		if got := tartest.Listing(tartest.Read(t, strings.NewReader(out))); got != "in.txt=hi" {
			t.Errorf("standard input in replica %s: %s", i, got)
		}
	}

	// bad input: an error, nothing copied
	c.f.ResetCalls()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "nothing", "web:/x"}, "path nothing not found"},
		{[]string{"cp", "--index", "3", "web:/etc", "."}, "service web has no container with index 3"},
		{[]string{"cp", "conf", "cache:/x"}, "cache"},
		{[]string{"cp", "web:/nowhere", "x"}, "nowhere"},
	} {
		if _, errOut, code := c.run(tt.args...); code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want an error with %q", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
	}
	if calls := c.calls("CopyTo"); len(calls) > 0 {
		t.Errorf("bad cp commands copied into %q", calls)
	}
}
