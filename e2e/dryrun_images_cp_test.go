package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunImagesAndCp: --dry-run cp (both ways), build, push and image
// rm print their plan, as the other commands (#13), and change nothing: no
// file copied either way, no image built, pushed or removed. (docker
// compose --dry-run cp also changes nothing; it prints "Copying …" lines
// where berth prints the plan.)
func TestDryRunImagesAndCp(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{
		"compose.yaml": sleeper() + `
  app:
    image: localhost:1/` + "berth-dryrun-app:1" + `
    build: .
    pull_policy: build
`,
		"Dockerfile": "FROM " + busyboxImage() + "\n",
		"hello.txt":  "hello\n",
	})
	t.Cleanup(func() {
		_, _ = runDocker(context.Background(), nil, "image", "rm", "-f", "localhost:1/berth-dryrun-app:1")
	})
	p.mustRun(t, "up", "-d", "svc")
	svc := p.name + "-svc-1"

	r := p.mustRun(t, "--dry-run", "cp", "hello.txt", "svc:/tmp/")
	if want := "#1 copy into container " + svc + " hello.txt to /tmp/\n"; r.stdout != want {
		t.Errorf("--dry-run cp in printed %q, want %q", r.stdout, want)
	}
	if r := p.run("exec", "-T", "svc", "test", "-e", "/tmp/hello.txt"); r.code == 0 {
		t.Errorf("--dry-run cp copied the file into the container")
	}
	r = p.mustRun(t, "--dry-run", "cp", "svc:/etc/hostname", "out.txt")
	if want := "#1 copy from container " + svc + " /etc/hostname to out.txt\n"; r.stdout != want {
		t.Errorf("--dry-run cp out printed %q, want %q", r.stdout, want)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "out.txt")); err == nil {
		t.Errorf("--dry-run cp copied the file out")
	}

	r = p.mustRun(t, "--dry-run", "build", "--push")
	want := "#1 build image localhost:1/berth-dryrun-app:1: requested\n#1 push image localhost:1/berth-dryrun-app:1: requested\n"
	if r.stdout != want {
		t.Errorf("--dry-run build --push printed\n%s\nwant\n%s", r.stdout, want)
	}
	if _, err := runDocker(context.Background(), nil, "image", "inspect", "localhost:1/berth-dryrun-app:1"); err == nil {
		t.Errorf("--dry-run build built the image")
	}
	// up's builds are the same steps, printed before up's own plan
	r = p.mustRun(t, "--dry-run", "up", "-d")
	if !strings.HasPrefix(r.stdout, "#1 build image localhost:1/berth-dryrun-app:1: pull_policy: build\n") {
		t.Errorf("--dry-run up -d printed\n%s", r.stdout)
	}
	if _, err := runDocker(context.Background(), nil, "image", "inspect", "localhost:1/berth-dryrun-app:1"); err == nil {
		t.Errorf("--dry-run up built the image")
	}
}
