package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/project"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/swarm")

// golden is what a golden file holds: the stack and the warnings, or the
// error.
type golden struct {
	Stack    any      `json:"stack,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Error    []string `json:"error,omitempty"`
}

// TestConvertGolden converts each project under testdata/swarm (one per
// group of compose keys) and compares the stack, the warnings and the
// errors with its golden file (go test ./reconcile/swarm -update rewrites
// them).
func TestConvertGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "swarm", "*", "compose.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test projects under testdata/swarm: %v", err)
	}
	for _, file := range dirs {
		file, _ = filepath.Abs(file)
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p, err := project.Load(context.Background(), project.Options{
				Files: []string{file}, ProjectName: "stack", WorkingDir: dir, Env: []string{},
			})
			if err != nil {
				t.Fatalf("loading %s: %v", file, err)
			}
			stack, warnings, err := Convert(p.Model, Options{})
			var g golden
			if err != nil {
				g.Error = strings.Split(err.Error(), "\n")
			} else {
				g.Stack = stack
				for _, w := range warnings {
					g.Warnings = append(g.Warnings, w.String())
				}
			}
			got, jerr := json.MarshalIndent(g, "", "  ")
			if jerr != nil {
				t.Fatal(jerr)
			}
			got = append(got, '\n')
			path := filepath.Join(dir, "swarm.golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./reconcile/swarm -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the conversion (go test ./reconcile/swarm -update rewrites it); got:\n%s", path, got)
			}
		})
	}
}

// TestConvertLocated: with Options.Locate, each warning and each error
// names the compose file and the line of its key.
func TestConvertLocated(t *testing.T) {
	ctx := context.Background()
	bad := t.TempDir()
	compose := "services:\n  web:\n    image: web:1\n    privileged: true\n    network_mode: host\n    devices: [\"/dev/fuse\"]\n"
	if err := os.WriteFile(filepath.Join(bad, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	ignored, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "swarm", "ignored"))
	tests := []struct {
		dir  string
		want []string // in the warnings, or in the error when it fails
	}{
		{ignored, []string{
			"compose.yaml:4: service app: build: ignored",
			"compose.yaml:6: service app: links: ignored",
			"compose.yaml:12: service app: depends_on.dep.condition: service_completed_successfully",
		}},
		{bad, []string{
			"compose.yaml:4: service web: privileged: a swarm service cannot run privileged",
			"compose.yaml:5: service web: network_mode:",
			"compose.yaml:6: service web: devices:",
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dir), func(t *testing.T) {
			p, err := project.Load(ctx, project.Options{WorkingDir: tt.dir})
			if err != nil {
				t.Fatal(err)
			}
			_, warnings, err := Convert(p.Model, Options{Locate: p.Locate})
			var got []string
			for _, w := range warnings {
				got = append(got, w.String())
			}
			if err != nil {
				got = append(got, err.Error())
			}
			all := strings.Join(got, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no %q in:\n%s", w, all)
				}
			}
		})
	}
}

// TestConvertBuilt: build: is a warning unless deploy --build built and
// pushed the image (Options.Built).
func TestConvertBuilt(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "swarm", "ignored"))
	p, err := project.Load(context.Background(), project.Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, built := range []bool{false, true} {
		_, warnings, err := Convert(p.Model, Options{Built: built})
		if err != nil {
			t.Fatal(err)
		}
		warned := false
		for _, w := range warnings {
			warned = warned || w.Key == "build"
		}
		if warned == built {
			t.Errorf("Built %v: build warned %v", built, warned)
		}
	}
}
