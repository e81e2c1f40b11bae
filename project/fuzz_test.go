package project

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/template"
	yaml4 "go.yaml.in/yaml/v4"
)

// FuzzLoad feeds arbitrary compose files to Load: it must return a project
// or an error with a message, never panic. The seed corpus (every fixture
// under testdata/) runs with plain go test; go test -fuzz=FuzzLoad explores.
func FuzzLoad(f *testing.F) {
	addSeeds(f)
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

// FuzzGuard feeds arbitrary files to the checks made before compose-go
// reads a file: they must not panic, and every problem they report must name
// the file and a line that exists in it.
func FuzzGuard(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := guardFile(file, map[string]string{"RANGE": "1-65535"})
		if err == nil {
			return
		}
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("not a LoadError: %v", err)
		}
		if lines := bytes.Count(data, []byte("\n")) + 1; le.File != file || le.Line < 1 || le.Line > lines {
			t.Fatalf("%v: line %d of a file of %d lines", err, le.Line, lines)
		}
	})
}

// FuzzYAMLErrorLine feeds arbitrary files to compose-go's YAML parser and
// the code that turns its errors into a file and a line: the line must exist
// in the file (the parser counts some positions from 0, and gives byte
// offsets for bad bytes).
func FuzzYAMLErrorLine(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("services:\n  web:\n    image: busybox\n   ports: [\"80\"]\n"))
	f.Add([]byte("services:\n  a:\n    image: \"x\n"))
	f.Add([]byte("a: b\x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		perr := yaml4.Unmarshal(data, &v)
		if perr == nil || strings.Contains(perr.Error(), "construct errors") {
			return
		}
		file := filepath.Join(t.TempDir(), "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		le, ok := explain(fmt.Errorf("failed to parse %s: %w", file, perr), []string{file}).(*LoadError)
		if !ok {
			t.Fatalf("not a LoadError for %v", perr)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if le.File != file || le.Line > lines || le.Line < 0 {
			t.Fatalf("%v (from %v): line %d of a file of %d lines", le, perr, le.Line, lines)
		}
		if le.Line == 0 && reYAMLLine.MatchString(perr.Error()) {
			t.Fatalf("%v: the parser named a line and the error lost it", perr)
		}
	})
}

// FuzzInterpolation runs interpolationCost, which bounds what compose-go's
// template package may do on a value, and the template package itself on
// arbitrary strings: neither may panic; the cost must be sane; on a string
// the guard lets through, Substitute must finish within a second and look up
// at most one variable per $.
func FuzzInterpolation(f *testing.F) {
	f.Add("${A:-${B:-${C}}}")
	f.Add("$${A:-x}${B?err}$C${D:+${E}}")
	f.Add(strings.Repeat("${A:-x}", 50))
	f.Add("${A:-{}}}${")
	f.Fuzz(func(t *testing.T, s string) {
		depth, work := interpolationCost(s)
		if depth < 0 || depth > strings.Count(s, "${") || work < 0 || work > len(s)*strings.Count(s, "${") {
			t.Fatalf("cost of %q: depth %d, work %d", s, depth, work)
		}
		if depth > maxInterpolationNesting || work > maxInterpolationWork {
			return
		}
		calls := 0
		start := time.Now()
		_, _ = template.Substitute(s, func(string) (string, bool) {
			calls++
			return "", false
		})
		if took := time.Since(start); took > time.Second {
			t.Fatalf("%q (nesting %d, work %d) took %s", s, depth, work, took)
		}
		if limit := strings.Count(s, "$"); calls > limit {
			t.Fatalf("%q: %d lookups for %d $", s, calls, limit)
		}
	})
}

// addSeeds adds every compose file under testdata as a seed.
func addSeeds(f *testing.F) {
	for _, pattern := range []string{"../testdata/config/*/*.yaml", "../testdata/broken/*/*.yaml", "../testdata/hostile/*.yaml"} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
}
