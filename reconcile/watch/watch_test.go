package watch

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// load writes files into a temporary project directory and loads it.
func load(t *testing.T, files map[string]string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := project.Load(context.Background(), project.Options{WorkingDir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRules(t *testing.T) {
	tests := []struct {
		name, compose string
		services      []string
		want          int
		wantErr       string
	}{
		{name: "none", compose: "services: {a: {image: x}}", wantErr: "none of the selected services is configured for watch"},
		{name: "two rules", compose: `services:
  a:
    image: x
    develop: {watch: [{path: ./src, target: /src, action: sync}, {path: ./c, action: restart}]}
  b: {image: x}`, want: 2},
		{name: "not selected", compose: `services:
  a: {image: x, develop: {watch: [{path: ., target: /s, action: sync}]}}
  b: {image: x}`, services: []string{"b"}, wantErr: "none of the selected"},
		{name: "rebuild without build", compose: `services:
  a: {image: x, develop: {watch: [{path: ., action: rebuild}]}}`, wantErr: "action rebuild needs a build section"},
		{name: "sync+exec without command", compose: `services:
  a: {image: x, develop: {watch: [{path: ., target: /s, action: sync+exec}]}}`, wantErr: "needs exec.command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, map[string]string{"compose.yaml": tt.compose})
			rules, err := Rules(p, tt.services)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Rules: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(rules) != tt.want {
				t.Fatalf("Rules: %d rules, %v; want %d", len(rules), err, tt.want)
			}
			for _, r := range rules {
				if !filepath.IsAbs(r.Path) {
					t.Errorf("rule path %q is not absolute", r.Path)
				}
			}
		})
	}
}

func TestMatches(t *testing.T) {
	p := load(t, map[string]string{
		"compose.yaml": `services:
  a:
    build: .
    develop:
      watch:
        - path: ./src
          target: /app
          action: sync
          ignore: ["*.tmp", "cache/"]
        - path: ./src
          target: /app
          action: sync+restart
          include: ["*.conf"]
`,
		".dockerignore": "src/*.secret\n",
	})
	rules, err := Rules(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(p.WorkingDir, "src")
	tests := []struct {
		path       string
		sync, conf bool
	}{
		{"main.go", true, false},
		{"sub/deep/x.go", true, false},
		{"app.conf", true, true},
		{"x.tmp", false, false},
		{"sub/y.tmp", true, false}, // the rule's patterns are relative to its path, as compose
		{"sub/.y.go.swp", false, false},
		{"cache/a", false, false},
		{"k.secret", false, false},
		{".git/HEAD", false, false},
		{".main.go.swp", false, false},
		{"main.go~", false, false},
		{"../other.go", false, false},
	}
	for _, tt := range tests {
		path := filepath.Join(src, tt.path)
		if got := rules[0].Matches(path); got != tt.sync {
			t.Errorf("sync rule Matches(%s) = %v, want %v", tt.path, got, tt.sync)
		}
		if got := rules[1].Matches(path); got != tt.conf {
			t.Errorf("include rule Matches(%s) = %v, want %v", tt.path, got, tt.conf)
		}
	}
	if got := rules[0].ContainerPath(filepath.Join(src, "sub/x.go")); got != "/app/sub/x.go" {
		t.Errorf("ContainerPath = %q, want /app/sub/x.go", got)
	}
}

func TestDebounce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := make(chan string)
	out := make(chan []string)
	go Debounce(ctx, in, 50*time.Millisecond, out)
	for _, p := range []string{"a", "b", "a", "c"} {
		in <- p
		time.Sleep(5 * time.Millisecond)
	}
	if got := <-out; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("first batch %q, want [a b c] (each path once, in order)", got)
	}
	in <- "d"
	if got := <-out; !slices.Equal(got, []string{"d"}) {
		t.Errorf("second batch %q, want [d]", got)
	}
	close(in)
	if _, ok := <-out; ok {
		t.Error("out not closed after in")
	}
}

func TestWatchNotifies(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan string, 100)
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- watchWith(ctx, []string{dir}, out, func() { close(ready) }) }()
	<-ready
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "new/deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new/deep/g"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{filepath.Join(dir, "f"): false, filepath.Join(dir, "new/deep/g"): false}
	timeout := time.After(10 * time.Second)
	for missing := len(want); missing > 0; {
		select {
		case p := <-out:
			if seen, ok := want[p]; ok && !seen {
				want[p] = true
				missing--
			}
		case <-timeout:
			t.Fatalf("events not seen: %v", want)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Watch: %v", err)
	}
}

func TestApply(t *testing.T) {
	p := load(t, map[string]string{
		"compose.yaml": `services:
  app:
    image: busybox
    develop:
      watch:
        - {path: ./src, target: /app, action: sync}
        - {path: ./app.conf, target: /etc/app.conf, action: sync+restart}
        - {path: ./hook, target: /hook, action: sync+exec, exec: {command: [reload], environment: {A: b}}}
        - {path: ./bound, target: /bound, action: sync}
    volumes: ["./bound:/bound"]
`,
		"src/new.txt": "new\n",
		"app.conf":    "conf\n",
		"hook":        "hook\n",
		"bound/x":     "x\n",
	})
	rules, err := Rules(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	ctx := context.Background()
	labels := map[string]string{service.LabelProject: p.Name, service.LabelService: "app"}
	id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: p.Name + "-app-1", Image: "busybox", Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	files := -1
	l := &Loop{B: f, Project: p.Name, Rules: rules, Log: func(string) {},
		Warn: func(w string) { warnings = append(warnings, w) }, Out: io.Discard, Err: io.Discard,
		Synced: func(n int) { files = n }}
	dir := p.WorkingDir
	l.Apply(ctx, []string{
		filepath.Join(dir, "src/new.txt"), filepath.Join(dir, "src/gone.txt"),
		filepath.Join(dir, "app.conf"), filepath.Join(dir, "hook"), filepath.Join(dir, "bound/x"),
	})
	if files != 3 {
		t.Errorf("%d files synced, want 3 (new.txt, app.conf, hook; not the bound one)", files)
	}
	var ops []string
	for _, c := range f.Calls() {
		ops = append(ops, c.Op+" "+c.Detail)
	}
	want := []string{"Exec rm -rf /app/gone.txt", "CopyTo /", "CopyTo /", "RestartContainer ", "CopyTo /", "Exec reload"}
	for _, w := range want {
		if !slices.ContainsFunc(ops, func(op string) bool { return strings.HasPrefix(op, w) }) {
			t.Errorf("calls %q: no %q", ops, w)
		}
	}
	for path, content := range map[string]string{"/app/new.txt": "new\n", "/etc/app.conf": "conf\n", "/hook": "hook\n"} {
		if got := readFile(t, f, id, path); got != content {
			t.Errorf("%s in the container: %q, want %q", path, got, content)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "bind mount") {
		t.Errorf("warnings %q, want one about the bind mount", warnings)
	}

	// A new container of the service gets what was synced; a known one
	// nothing more.
	id2, err := f.CreateContainer(ctx, service.ContainerSpec{Name: p.Name + "-app-2", Image: "busybox", Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id2); err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	l.resync(ctx, service.Event{Action: "start", ContainerID: id2, ContainerName: p.Name + "-app-2", Labels: labels})
	for path, content := range map[string]string{"/app/new.txt": "new\n", "/etc/app.conf": "conf\n", "/hook": "hook\n"} {
		if got := readFile(t, f, id2, path); got != content {
			t.Errorf("%s in the new container: %q, want %q", path, got, content)
		}
	}
	n := len(f.Calls())
	l.resync(ctx, service.Event{Action: "start", ContainerID: id2, ContainerName: p.Name + "-app-2", Labels: labels})
	l.resync(ctx, service.Event{Action: "start", ContainerID: id, ContainerName: p.Name + "-app-1", Labels: labels})
	if len(f.Calls()) != n {
		t.Errorf("a resync of known containers made calls: %v", f.Calls()[n:])
	}
}

// readFile reads a file of a container of the fake.
func readFile(t *testing.T, f *servicetest.Fake, id, path string) string {
	t.Helper()
	rc, err := f.CopyFrom(context.Background(), id, path)
	if err != nil {
		return "error: " + err.Error()
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return "error: " + err.Error()
	}
	b, err := io.ReadAll(tr)
	if err != nil && !errors.Is(err, io.EOF) {
		return "error: " + err.Error()
	}
	return string(b)
}
