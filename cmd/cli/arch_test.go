package cli

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goPackage is the part of `go list -json` the architecture tests read.
type goPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps=false", "github.com/berthdev/berth/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 4 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

// TestArchitecture keeps the dependency direction of architecture.md:
// project and reconcile know nothing of moby or the backends, and the
// service contract needs only the standard library. The one moby module
// reconcile may use is patternmatcher, the .dockerignore pattern matcher
// (a standalone library with no dependencies), so that build contexts are
// filtered exactly as the docker CLI filters them.
func TestArchitecture(t *testing.T) {
	const mod = "github.com/berthdev/berth"
	const patternmatcher = "github.com/moby/patternmatcher"
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, mod+"/")
		for _, dep := range p.Deps {
			switch {
			case rel == "project" || strings.HasPrefix(rel, "project/") || rel == "reconcile" || strings.HasPrefix(rel, "reconcile/"):
				if dep == patternmatcher || strings.HasPrefix(dep, patternmatcher+"/") {
					continue
				}
				if strings.HasPrefix(dep, "github.com/moby/") || strings.HasPrefix(dep, "github.com/docker/docker") ||
					strings.HasPrefix(dep, mod+"/service/") || strings.HasPrefix(dep, mod+"/cmd") {
					t.Errorf("%s depends on %s: it must not know the engine, the backends or the CLI", p.ImportPath, dep)
				}
			case rel == "service":
				if strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
					t.Errorf("%s depends on %s: the service contract may use the standard library only", p.ImportPath, dep)
				}
			case backendOf(rel) != "":
				// a backend knows the contract and its own packages: not
				// the other backend, nor the floors above (project,
				// reconcile, cmd), nor the test fake
				own := "service/" + backendOf(rel)
				if d, ok := strings.CutPrefix(dep, mod+"/"); ok && d != "service" && d != own && !strings.HasPrefix(d, own+"/") {
					t.Errorf("%s depends on %s: a backend may use only the service contract and its own packages", p.ImportPath, dep)
				}
			case strings.HasPrefix(rel, "service/"):
				// the rest of service (servicetest, registry, ...) sits
				// below the floors too
				if d, ok := strings.CutPrefix(dep, mod+"/"); ok && (d == "project" || d == "reconcile" || d == "cmd" ||
					strings.HasPrefix(d, "project/") || strings.HasPrefix(d, "reconcile/") || strings.HasPrefix(d, "cmd/")) {
					t.Errorf("%s depends on %s: service/ must not know the floors above it", p.ImportPath, dep)
				}
			}
		}
	}
}

// builtinSeams lists, for each subpackage of service/builtin, the other
// subpackages it may import (besides the service contract): the seams of
// the built-in runtime stay seams, and package builtin alone wires them. A
// new subpackage is added here and to builtin's doc.go seam map.
var builtinSeams = map[string][]string{
	"archive":  {"layer"},
	"build":    {"image"},
	"cgroup":   nil,
	"confine":  {"seccomp"},
	"eventlog": {"state"},
	"image":    nil,
	"layer":    nil,
	"logfile":  {"state"},
	"network":  nil,
	"proc":     {"archive", "confine"},
	"records":  {"state"},
	"seccomp":  nil,
	"state":    nil,
}

// TestBuiltinSeams keeps the subpackages of service/builtin apart: each
// imports only the siblings builtinSeams allows it (never builtin itself),
// so that, say, the networking code cannot reach into the image store.
func TestBuiltinSeams(t *testing.T) {
	const prefix = "github.com/berthdev/berth/service/builtin/"
	seen := 0
	for _, p := range listPackages(t) {
		sub, ok := strings.CutPrefix(p.ImportPath, prefix)
		if !ok {
			continue
		}
		seen++
		allowed, known := builtinSeams[sub]
		if !known {
			t.Errorf("%s is not in builtinSeams: add it there (with the siblings it may import) and to service/builtin/doc.go", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if imp == strings.TrimSuffix(prefix, "/") {
				t.Errorf("%s imports package builtin: a seam may not reach back into what wires it", p.ImportPath)
			}
			if sib, ok := strings.CutPrefix(imp, prefix); ok && !slices.Contains(allowed, sib) {
				t.Errorf("%s imports %s: builtinSeams allows it only %v", p.ImportPath, imp, allowed)
			}
		}
	}
	if seen < len(builtinSeams) {
		t.Errorf("go list found %d subpackages of service/builtin, builtinSeams names %d: remove the gone ones", seen, len(builtinSeams))
	}
}

// backendOf names the backend package rel (a path in the module) belongs
// to: "engine" or "builtin", else "".
func backendOf(rel string) string {
	for _, b := range []string{"engine", "builtin"} {
		if rel == "service/"+b || strings.HasPrefix(rel, "service/"+b+"/") {
			return b
		}
	}
	return ""
}

// TestPackageDocs requires a package comment on every package.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// TestBerthtestDeps: the Go package for go test users pulls in neither
// docker/compose, nor buildx, nor the docker CLI — only docker/cli's
// config-file reader (cli/config), which go-containerregistry uses to read
// registry credentials from ~/.docker/config.json as docker does.
func TestBerthtestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/berthdev/berth/cmd/berthtest").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found %d packages", len(deps))
	}
	for _, d := range deps {
		switch {
		case strings.HasPrefix(d, "github.com/docker/compose"), strings.HasPrefix(d, "github.com/docker/buildx"),
			strings.HasPrefix(d, "github.com/docker/cli/") && !strings.HasPrefix(d, "github.com/docker/cli/cli/config"):
			t.Errorf("cmd/berthtest depends on %s", d)
		}
	}
}
