package project

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary compose files to Load: it must return a project
// or an error with a message, never panic. The seed corpus (every fixture
// under testdata/) runs with plain go test; go test -fuzz=FuzzLoad explores.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../testdata/config/*/*.yaml", "../testdata/broken/*/*.yaml"} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("services: {a: {image: x, ports: ['1-3:4-6/udp']}}"))
	f.Add([]byte("x-a: &a {image: x}\nservices: {b: *a, c: {<<: *a, command: [sh]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(context.Background(), Options{WorkingDir: dir, Env: []string{}})
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("empty error message for %q", data)
			}
			return
		}
		for _, s := range p.Services {
			if s.Hash == "" || s.Labels["com.docker.compose.project"] != p.Name {
				t.Fatalf("service %s without hash or project label", s.Name)
			}
		}
	})
}
