package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConfigListsMatchCompose: config's one-a-line lists (--services,
// normalized or not, --volumes, --networks, --images, --profiles, --hash
// '*') hold what docker compose v2.40.3 and v5.5.0 print, for every
// fixture of testdata/config and a project whose order goes through
// network_mode, volumes_from and links. docker compose walks maps and its
// dependency graph concurrently, so its order varies from run to run
// (seen: "m a b c z" then "b c m z a" for --services --no-normalize):
// the lists are compared as sets, and berth's --services must list each
// service after the depends_on of the model docker compose prints (with
// the same --no-normalize). The hashes are v5's (v2 hashed differently).
func TestConfigListsMatchCompose(t *testing.T) {
	for _, version := range []string{"v2.40.3", "v5.5.0"} {
		bin := referenceCompose(t, version)
		for name, dir := range configListFixtures(t) {
			args, env := fixtureArgsEnv(dir)
			for _, flags := range [][]string{{"--services"}, {"--services", "--no-normalize"}, {"--volumes"}, {"--networks"},
				{"--images"}, {"--profiles"}, {"--hash", "*"}} {
				if flags[0] == "--hash" && version != "v5.5.0" {
					continue
				}
				t.Run(version+"/"+name+"/"+strings.Join(flags, " "), func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
					defer cancel()
					a := append(append(slices.Clone(args), "config"), flags...)
					want := command(ctx, dir, env, nil, bin, a...)
					if want.code != 0 {
						t.Skipf("docker compose %s refuses it: %s", version, want.stderr)
					}
					got := command(ctx, dir, env, nil, berthBin, a...)
					if got.code != 0 {
						t.Fatalf("berth: exit %d %s", got.code, got.stderr)
					}
					gotLines, wantLines := strings.Fields(got.stdout), strings.Fields(want.stdout)
					if flags[0] == "--hash" {
						gotLines, wantLines = strings.Split(got.stdout, "\n"), strings.Split(want.stdout, "\n")
					}
					slices.Sort(gotLines)
					slices.Sort(wantLines)
					if !slices.Equal(gotLines, wantLines) {
						t.Errorf("berth config %s differs from docker compose %s's:\n--- berth\n%s--- docker compose\n%s", strings.Join(flags, " "), version, got.stdout, want.stdout)
					}
					if flags[0] == "--services" {
						model := command(ctx, dir, env, nil, bin, append(a[:len(a)-len(flags)], append(flags[1:], "--format", "json")...)...)
						checkDependencyOrder(t, strings.Fields(got.stdout), model.stdout)
					}
				})
			}
		}
	}
}

// configListFixtures are testdata/config's fixtures and the "order"
// project, by name.
func configListFixtures(t *testing.T) map[string]string {
	t.Helper()
	root, err := filepath.Abs("../testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			dirs[e.Name()] = filepath.Join(root, e.Name())
		}
	}
	order := t.TempDir()
	if err := os.WriteFile(filepath.Join(order, "compose.yaml"), []byte(`services:
  a: {image: busybox, depends_on: [m]}
  m: {image: busybox, network_mode: "service:z"}
  z: {image: busybox, volumes_from: [b]}
  b: {image: busybox}
  c: {image: busybox, links: [a]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dirs["order"] = order
	return dirs
}

// fixtureArgsEnv are a fixture's global arguments and environment.
func fixtureArgsEnv(dir string) (args, env []string) {
	if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
		args = strings.Fields(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
		env = strings.Fields(string(b))
	}
	return args, append(env, "PATH="+os.Getenv("PATH"), "BERTH_NO_CACHE=1")
}

// checkDependencyOrder fails t unless each service of order comes after
// the depends_on the model (docker compose's config --format json) gives it.
func checkDependencyOrder(t *testing.T, order []string, modelJSON string) {
	t.Helper()
	var model struct {
		Services map[string]struct {
			DependsOn map[string]any `json:"depends_on"`
		}
	}
	if err := json.Unmarshal([]byte(modelJSON), &model); err != nil {
		t.Fatalf("docker compose's model: %v", err)
	}
	at := map[string]int{}
	for i, s := range order {
		at[s] = i
	}
	for s, cfg := range model.Services {
		for dep := range cfg.DependsOn {
			if i, ok := at[dep]; ok && i > at[s] {
				t.Errorf("berth lists %s before its dependency %s: %q", s, dep, order)
			}
		}
	}
}
