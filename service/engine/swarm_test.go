package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

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

// networkRemover stubs NetworkRemove with a list of answers, one per call.
type networkRemover struct {
	apiClient
	answers []error
	calls   int
}

func (n *networkRemover) NetworkRemove(context.Context, string, client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	n.calls++
	if len(n.answers) == 0 {
		return client.NetworkRemoveResult{}, nil
	}
	err := n.answers[0]
	n.answers = n.answers[1:]
	return client.NetworkRemoveResult{}, err
}

// TestRemoveSwarmNetwork: a network still held by the tasks of a removed
// service is removed once they let go; one removed meanwhile is
// ErrNotFound (the manager answers it with a 500).
func TestRemoveSwarmNetwork(t *testing.T) {
	busy := errors.New("Error response from daemon: rpc error: code = FailedPrecondition desc = network n1 is in use by task t1")
	gone := errors.New("Error response from daemon: network n1 not found")
	tests := []struct {
		name     string
		answers  []error
		calls    int
		notFound bool
	}{
		{"removed", nil, 1, false},
		{"busy, then removed", []error{busy, busy}, 3, false},
		{"gone meanwhile", []error{gone}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &networkRemover{answers: tt.answers}
			err := NewWithClient(c).RemoveSwarmNetwork(context.Background(), "n1")
			if c.calls != tt.calls || errors.Is(err, service.ErrNotFound) != tt.notFound || (err != nil) != tt.notFound {
				t.Errorf("calls %d, err %v; want %d calls, not found %v", c.calls, err, tt.calls, tt.notFound)
			}
		})
	}
}
