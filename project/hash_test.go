package project

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestServiceHashesGolden checks berth's hashes against the reference
// docker compose binaries' on the testdata corpus: the hash berth writes is
// v5.5.0's (hash.golden: v5's config --hash is the containers' label), and
// the ones it accepts hold v2.40.3's (hash-v2.golden: v2's config --hash
// is of the model before env_file resolution, encoded by compose-go v2.9).
// testdata/gen-hash-golden.sh writes the goldens from the binaries;
// a compose-go upgrade in berth that moved a hash fails here.
func TestServiceHashesGolden(t *testing.T) {
	root := "../testdata/config"
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			src := filepath.Join(root, e.Name())
			// The goldens were computed there: hashes cover absolute paths.
			dir := filepath.Join("/tmp", "berth-golden", e.Name())
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			var args, env, profiles []string
			if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
				args = strings.Fields(string(b))
			}
			if b, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
				env = strings.Fields(string(b))
			}
			var files []string
			for i := 0; i+1 < len(args); i += 2 {
				switch args[i] {
				case "-f":
					files = append(files, filepath.Join(dir, args[i+1]))
				case "--profile":
					profiles = append(profiles, args[i+1])
				}
			}
			p, err := Load(context.Background(), Options{Files: files, Profiles: profiles, Env: env, WorkingDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			v5 := readHashes(t, filepath.Join(dir, "hash.golden"))
			v2 := readHashes(t, filepath.Join(dir, "hash-v2.golden"))
			if len(v5) == 0 || len(v2) != len(v5) {
				t.Fatalf("goldens: %d v5 hashes, %d v2 hashes", len(v5), len(v2))
			}
			for name, want := range v5 {
				s := p.Service(name)
				if s == nil {
					t.Fatalf("service %s of the golden is not in the project", name)
				}
				if s.Hash != want {
					t.Errorf("service %s: hash %s, docker compose v5.5.0 writes %s", name, s.Hash, want)
				}
				if !slices.Contains(s.Hashes, want) {
					t.Errorf("service %s: the accepted hashes %v lack v5.5.0's %s", name, s.Hashes, want)
				}
				unresolved, err := ServiceHashes(p.UnresolvedModel().Services[name])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(unresolved, v2[name]) {
					t.Errorf("service %s: v2.40.3's config --hash %s is not among berth's %v", name, v2[name], unresolved)
				}
			}
		})
	}
	if n < 12 {
		t.Fatalf("%d fixtures, want the whole corpus", n)
	}
}

// readHashes reads "service hash" lines.
func readHashes(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (testdata/gen-hash-golden.sh writes it)", err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, h, ok := strings.Cut(l, " "); ok {
			out[name] = h
		}
	}
	return out
}

func TestServiceHashIgnoresScaleAndDependencies(t *testing.T) {
	three := 3
	base := types.ServiceConfig{Name: "web"}
	base.Image = "busybox"
	base.Deploy = &types.DeployConfig{}
	h0, _ := ServiceHash(base)

	scaled := base
	scaled.Scale = &three
	scaled.Deploy = &types.DeployConfig{Replicas: &three} // replicas only: left out
	scaled.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
	scaled.Profiles = []string{"x"}
	scaled.PullPolicy = "always"
	scaled.Build = &types.BuildConfig{Context: "."}
	h1, _ := ServiceHash(scaled)
	if h0 != h1 {
		t.Errorf("scale, replicas, depends_on, profiles, pull_policy and build changed the hash")
	}
	if scaled.Deploy.Replicas == nil {
		t.Errorf("ServiceHash changed the caller's deploy.replicas")
	}

	changed := base
	changed.Environment = types.MappingWithEquals{"A": strPtr("1")}
	h2, _ := ServiceHash(changed)
	if h2 == h0 {
		t.Errorf("an environment change left the hash unchanged")
	}
}

func strPtr(s string) *string { return &s }
