package e2e

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// commitFiles is a project with a running service, web, and a service
// run from the image commit makes of it (SNAP_REF).
func commitFiles() map[string]string {
	return map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  snap:
    image: ${SNAP_REF:-none}
    profiles: [snap]
`, busyboxImage())}
}

// tarEntries reads a tar stream: entry name → content ("" for what is not
// a regular file).
func tarEntries(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading the export: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = string(b)
	}
}

// TestCommit: commit makes an image of a service's container, with its
// changes and the --change instructions, on both backends (the built-in
// runtime into its image store); --dry-run prints the plan step and makes
// nothing; a bad change is refused before anything is made.
func TestCommit(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, commitFiles())
		ref := p.name + "-snap:v1"
		p.env = append(p.env, "SNAP_REF="+ref)
		b := p.backend(t)
		t.Cleanup(func() {
			if rm, ok := b.(service.ImageRemover); ok {
				_ = rm.RemoveImage(context.Background(), ref, true)
			}
		})
		p.mustRun(t, "up", "-d")
		t.Cleanup(func() { p.run("down", "-v") })
		p.mustRun(t, "exec", "-T", "web", "sh", "-c", "echo made in web > /made.txt")

		r := p.mustRun(t, "--dry-run", "commit", "web", ref)
		if want := fmt.Sprintf("#1 commit container %s-web-1 as %s\n", p.name, ref); r.stdout != want {
			t.Errorf("--dry-run commit printed %q, want %q", r.stdout, want)
		}
		if _, err := b.InspectImage(context.Background(), ref); !errors.Is(err, service.ErrNotFound) {
			t.Fatalf("--dry-run commit made the image: %v", err)
		}
		if r := p.run("commit", "-c", "RUN rm -rf /", "web", ref); r.code == 0 || !strings.Contains(r.stderr, "run is not a valid change command") {
			t.Errorf("commit with a RUN change: exit %d, %s", r.code, r.stderr)
		}
		if _, err := b.InspectImage(context.Background(), ref); !errors.Is(err, service.ErrNotFound) {
			t.Fatalf("a refused commit made the image: %v", err)
		}

		r = p.mustRun(t, "commit", "-m", "a snapshot", "-a", "berth e2e", "-c", "ENV COMMITTED=yes", "web", ref)
		img, err := b.InspectImage(context.Background(), ref)
		if err != nil {
			t.Fatalf("commit made no image %s: %v\n%s", ref, err, r.stderr)
		}
		if want := fmt.Sprintf("Container %s-web-1 Committed as %s", p.name, img.ID); !strings.Contains(r.stderr, want) {
			t.Errorf("commit said %q, want %q", r.stderr, want)
		}
		if img.Labels[service.LabelService] != "web" {
			t.Errorf("image labels %v: want the container's, as docker commit keeps them", img.Labels)
		}
		// the image holds the container's change and the --change
		r = p.mustRun(t, "--profile", "snap", "run", "--rm", "-T", "snap", "sh", "-c", "cat /made.txt; echo $COMMITTED")
		if r.stdout != "made in web\nyes\n" {
			t.Errorf("a container of the committed image printed %q, want the file and the variable", r.stdout)
		}
		if c := p.inspect(t, p.name+"-web-1"); c.State != service.StateRunning {
			t.Errorf("web is %s after the commit, want running (paused for the time of it only)", c.State)
		}
	})
}

// TestExport: export writes the container's filesystem as docker export
// does (names relative to the root, the container's changes in it, its
// volumes and /proc not), to standard output or, with -o, to a file of
// mode 0600; a terminal is refused, and --dry-run writes nothing.
func TestExport(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		files := commitFiles()
		files["compose.yaml"] = strings.Replace(files["compose.yaml"], "    stop_signal: SIGKILL\n", "    stop_signal: SIGKILL\n    volumes: [\"data:/data\"]\n", 1) + "volumes:\n  data: {}\n"
		p := newP(t, files)
		p.mustRun(t, "up", "-d")
		t.Cleanup(func() { p.run("down", "-v") })
		p.mustRun(t, "exec", "-T", "web", "sh", "-c", "echo exported > /etc/made.txt; echo in a volume > /data/vol.txt; ln -s /etc/passwd /escape")

		r := p.mustRun(t, "export", "web")
		got := tarEntries(t, strings.NewReader(r.stdout))
		if got["etc/made.txt"] != "exported\n" {
			t.Errorf("etc/made.txt = %q, want the container's change", got["etc/made.txt"])
		}
		if _, ok := got["bin/busybox"]; !ok {
			t.Errorf("no bin/busybox in the export: the image's files are missing")
		}
		for name := range got {
			if strings.HasPrefix(name, "./") || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "data/vol") || strings.HasPrefix(name, "proc/") && name != "proc/" {
				t.Errorf("entry %q: want names relative to the root, no volume or /proc contents", name)
			}
		}
		if _, ok := got["escape"]; !ok {
			t.Errorf("the symbolic link /escape is not in the export")
		}

		out := filepath.Join(t.TempDir(), "web.tar")
		p.mustRun(t, "--dry-run", "export", "-o", out, "web")
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--dry-run export wrote %s: %v", out, err)
		}
		p.mustRun(t, "export", "-o", out, "web")
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600 as docker compose writes it", out, st.Mode().Perm())
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if fromFile := tarEntries(t, f); len(fromFile) != len(got) || fromFile["etc/made.txt"] != "exported\n" {
			t.Errorf("-o wrote %d entries, standard output %d", len(fromFile), len(got))
		}
		if r := p.run("export", "-o", filepath.Join(t.TempDir(), "missing", "x.tar"), "web"); r.code == 0 {
			t.Errorf("export into a missing directory succeeded")
		}
		// a terminal on standard output is refused, as docker compose does
		if script, err := exec.LookPath("script"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			r := command(ctx, p.dir, p.environ(), nil, script, "-qec", berthBin+" export web", "/dev/null")
			if r.code == 0 || !strings.Contains(r.stdout, "output option is required when exporting to terminal") || len(r.stdout) > 1000 {
				t.Errorf("export to a terminal: exit %d, %d bytes: %.200q", r.code, len(r.stdout), r.stdout)
			}
		}
		if r := p.run("export", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
			t.Errorf("export of an unknown service: exit %d, %s", r.code, r.stderr)
		}
	})
}
