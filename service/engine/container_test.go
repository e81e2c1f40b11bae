package engine

import (
	"maps"
	"testing"

	"github.com/moby/moby/api/types/network"
)

func TestEndpointNetworks(t *testing.T) {
	tests := []struct {
		name string
		eps  map[string]*network.EndpointSettings
		want map[string]string
	}{
		{"none", nil, nil},
		{"docker: IDs", map[string]*network.EndpointSettings{"p_default": {NetworkID: "5d1c"}, "p_back": nil},
			map[string]string{"p_default": "5d1c", "p_back": ""}},
		{"podman: the name as ID is no ID", map[string]*network.EndpointSettings{"p_default": {NetworkID: "p_default"}},
			map[string]string{"p_default": ""}},
	}
	for _, tt := range tests {
		if got := endpointNetworks(tt.eps); !maps.Equal(got, tt.want) {
			t.Errorf("%s: endpointNetworks = %v, want %v", tt.name, got, tt.want)
		}
	}
}
