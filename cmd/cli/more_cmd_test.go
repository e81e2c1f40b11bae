package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

func TestEndpointsCommand(t *testing.T) {
	c := upFakeCLI(t)
	web1, _ := c.f.Container("t-web-1")
	port := portOf(web1, 80)
	env := c.ok("endpoints", "web")
	for _, want := range []string{"WEB_80_HOST=127.0.0.1\n", "WEB_80_PORT=" + port + "\n", "WEB_80=127.0.0.1:" + port + "\n", "WEB_2_80_PORT="} {
		if !strings.Contains(env, want) {
			t.Errorf("endpoints web lacks %q:\n%s", want, env)
		}
	}
	var doc struct {
		Project   string
		Endpoints []struct {
			Service string
			Replica int
			Port    int
		}
	}
	if err := json.Unmarshal([]byte(c.ok("endpoints", "--format", "json")), &doc); err != nil || doc.Project != "t" || len(doc.Endpoints) != 2 {
		t.Errorf("--format json: %+v %v", doc, err)
	}
	if got := c.ok("endpoints", "db"); got != "" {
		t.Errorf("endpoints db (publishes nothing): %q", got)
	}
	c.fails(1, `unsupported format "yaml"`, "endpoints", "--format", "yaml")
}

// TestBackendKind: which runtime --backend, BERTH_BACKEND, DOCKER_HOST
// pick, and why.
func TestBackendKind(t *testing.T) {
	for _, tc := range []struct {
		flag      string
		env       []string
		name, why string
	}{
		{"builtin", []string{"BERTH_BACKEND=engine"}, "builtin", "--backend"},
		{"docker", nil, "engine", "--backend"},
		{"", []string{"BERTH_BACKEND=builtin"}, "builtin", "BERTH_BACKEND"},
		{"", []string{"BERTH_BACKEND=podman"}, "podman", "BERTH_BACKEND"},
		{"auto", []string{"DOCKER_HOST=tcp://h:2375"}, "engine", "DOCKER_HOST is tcp://h:2375"},
	} {
		g := &globals{backendName: tc.flag, env: tc.env, wd: t.TempDir()}
		if name, why := g.backendKind(); name != tc.name || why != tc.why {
			t.Errorf("--backend %q %v: %s (%s), want %s (%s)", tc.flag, tc.env, name, why, tc.name, tc.why)
		}
	}
	var errOut bytes.Buffer
	g := &globals{backendName: "podman", verbose: true, wd: t.TempDir(), stdio: Stdio{Err: &errOut}}
	if _, _, err := g.backend(context.Background()); err == nil || !strings.Contains(err.Error(), `unknown backend "podman"`) {
		t.Errorf("backend podman: %v", err)
	}
	if !strings.Contains(errOut.String(), "berth: container runtime podman (--backend)") {
		t.Errorf("--verbose did not say the runtime: %q", errOut.String())
	}
}

// TestPrintError: several problems of the files, one a line in file and
// line order; any other error as it is.
func TestPrintError(t *testing.T) {
	var out bytes.Buffer
	err := errors.Join(
		&project.LoadError{File: "b.yaml", Line: 3, Msg: "three"},
		&project.LoadError{File: "a.yaml", Line: 9, Msg: "nine"},
		&project.LoadError{File: "a.yaml", Line: 2, Msg: "two"})
	printError(&out, err)
	got := lines(out.String())
	if len(got) != 4 || got[0] != "3 problems in the compose files:" || !strings.Contains(got[1], "a.yaml:2") || !strings.Contains(got[2], "a.yaml:9") || !strings.Contains(got[3], "b.yaml:3") {
		t.Errorf("got %q", got)
	}
	out.Reset()
	printError(&out, errors.New("plain\n"))
	if out.String() != "plain\n" {
		t.Errorf("got %q", out.String())
	}
}

// TestRunExitCodes: ExitError's code and message, a cancelled context's
// 130, an error's 1.
func TestRunExitCodes(t *testing.T) {
	c := upFakeCLI(t)
	if err := c.f.Exit("t-db-1", 7); err != nil {
		t.Fatal(err)
	}
	if _, _, code := c.run("wait", "db"); code != 7 {
		t.Errorf("wait of a container that exited 7: exit %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, errOut, code := c.runCtx(ctx, "restart"); code != 130 {
		t.Errorf("a cancelled restart: exit %d (%q), want 130", code, errOut)
	}
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"nope"}, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != 1 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("Run nope: %d %q", code, errOut.String())
	}
}

func TestCommitExportCommands(t *testing.T) {
	c := upFakeCLI(t)
	out, errOut, code := c.run("--progress", "plain", "commit", "-m", "snapshot", "-a", "me", "--index", "2", "web", "snap:1")
	if code != 0 || !strings.Contains(errOut, "Container t-web-2 Committed as ") {
		t.Fatalf("commit: exit %d\n%s%s", code, out, errOut)
	}
	if got := c.calls("CommitContainer"); !slices.Equal(got, []string{"t-web-2"}) {
		t.Errorf("CommitContainer on %q", got)
	}
	if _, err := c.f.InspectImage(context.Background(), "snap:1"); err != nil {
		t.Errorf("the image committed: %v", err)
	}
	c.fails(1, "no such service: nope", "commit", "nope")

	file := filepath.Join(t.TempDir(), "db.tar")
	c.ok("export", "-o", file, "db")
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Errorf("export -o: %v", err)
	}
	if got := c.ok("export", "db"); len(got) < 512 {
		t.Errorf("export to stdout: %d bytes, want a tar", len(got))
	}
	if got := c.ok("--dry-run", "export", "-o", "x.tar", "db"); got != "export container t-db-1 to x.tar\n" {
		t.Errorf("--dry-run export: %q", got)
	}
	c.ok("stop", "db")
	c.fails(1, "", "export", "db")
}

// TestWatchCommand: a change under a sync rule's path is copied into the
// service's containers; a restart rule's restarts them; Ctrl+C is no
// error.
func TestWatchCommand(t *testing.T) {
	c := newFakeCLI(t, `name: w
services:
  web:
    image: busybox
    develop:
      watch:
        - {action: sync, path: ./src, target: /app}
        - {action: restart, path: ./conf}
`)
	for _, d := range []string{"src", "conf"} {
		if err := os.Mkdir(filepath.Join(c.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.env = append(c.env, "BERTH_WATCH_QUIET=20ms")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		_, _, code := c.runCtx(ctx, "watch")
		done <- code
	}()
	waitUntil(t, "web running", func() bool { return c.state("w-web-1") == service.StateRunning })
	time.Sleep(300 * time.Millisecond) // the watcher starts after up
	if err := os.WriteFile(filepath.Join(c.dir, "src", "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a copy", func() bool { return len(c.calls("CopyTo")) > 0 })
	if err := os.WriteFile(filepath.Join(c.dir, "conf", "x.conf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a restart", func() bool { return len(c.calls("RestartContainer"))+len(c.calls("StopContainer")) > 0 })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("watch ended with %d on Ctrl+C", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end")
	}
	c.env = append(c.env, "BERTH_WATCH_QUIET=soon")
	c.fails(1, `BERTH_WATCH_QUIET="soon"`, "watch", "--no-up")
}
