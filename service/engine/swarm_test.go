package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berthdev/berth/service"
)

// TestServiceSpecGolden maps the stacks of testdata/swarm/*/swarm.golden.json
// (what reconcile/swarm makes of each compose file) onto the swarm API's
// ServiceSpec and compares them with engine.golden.json beside them: with
// the conversion's golden files, compose → ServiceSpec for every key.
// BERTH_UPDATE_GOLDEN=1 rewrites them.
func TestServiceSpecGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "swarm", "*", "swarm.golden.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden stacks under testdata/swarm: %v", err)
	}
	for _, file := range files {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var g struct {
				Stack *service.SwarmStack `json:"stack"`
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			if g.Stack == nil {
				t.Skip("the conversion fails: no stack")
			}
			specs := map[string]swarm.ServiceSpec{}
			for _, s := range g.Stack.Services {
				specs[s.Name] = serviceSpec(s)
			}
			got, err := json.MarshalIndent(specs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join(dir, "engine.golden.json")
			if os.Getenv("BERTH_UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (BERTH_UPDATE_GOLDEN=1 go test ./service/engine -run TestServiceSpecGolden)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (BERTH_UPDATE_GOLDEN=1 rewrites it); got:\n%s", path, got)
			}
		})
	}
}
