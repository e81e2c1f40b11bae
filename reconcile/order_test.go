package reconcile

import (
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestModelOrder(t *testing.T) {
	dep := func(names ...string) types.DependsOnConfig {
		d := types.DependsOnConfig{}
		for _, n := range names {
			d[n] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
		}
		return d
	}
	svc := func(name string, deps ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		if len(deps) > 0 {
			s.DependsOn = dep(deps...)
		}
		return s
	}
	withNetwork := svc("a")
	withNetwork.NetworkMode = "service:z"
	for _, tc := range []struct {
		name     string
		services types.Services
		want     []string
	}{
		{"ties by name", types.Services{"b": svc("b"), "a": svc("a")}, []string{"a", "b"}},
		{"dependencies first", types.Services{"a": svc("a", "z"), "z": svc("z", "y"), "y": svc("y")}, []string{"y", "z", "a"}},
		{"several, by name", types.Services{"w": svc("w", "c", "b"), "b": svc("b"), "c": svc("c")}, []string{"b", "c", "w"}},
		// network_mode is not depends_on: normalization adds it to the model
		{"depends_on only", types.Services{"a": withNetwork, "z": svc("z")}, []string{"a", "z"}},
		{"a dependency not in the model", types.Services{"a": svc("a", "gone")}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ModelOrder(&types.Project{Services: tc.services}); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
