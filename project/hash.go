package project

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// ServiceHash is docker compose's configuration hash of a service: the
// SHA-256 of the JSON of its compose-go model, leaving out what does not
// change a container (build, pull policy, scale, replicas, depends_on,
// profiles). The name, the berth/compose labels and x-* extensions are left
// out by compose-go's JSON tags. Both tools compute the same value, so a
// container created by one is up to date for the other.
func ServiceHash(s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy // do not touch the caller's model
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	return hashJSON(s, "service "+s.Name)
}

// NetworkHash is docker compose's configuration hash of a network: the
// SHA-256 of the JSON of its whole model, name included.
func NetworkHash(n types.NetworkConfig) (string, error) {
	return hashJSON(&n, "network "+n.Name)
}

// VolumeHash is docker compose's configuration hash of a volume, with the
// driver defaulting to "local".
func VolumeHash(v types.VolumeConfig) (string, error) {
	if v.Driver == "" {
		v.Driver = "local"
	}
	return hashJSON(v, "volume "+v.Name)
}

func hashJSON(v any, what string) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("hash of %s: %w", what, err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
