package project

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// ServiceHash is docker compose's configuration hash of a service as the
// current release line (docker compose v5) computes it: the SHA-256 of the
// JSON of its compose-go model, leaving out what does not change a
// container (build, pull policy, scale, replicas, depends_on, profiles).
// The name, the berth/compose labels and x-* extensions are left out by
// compose-go's JSON tags. See release for how berth keeps it independent
// of its own compose-go.
func ServiceHash(s types.ServiceConfig) (string, error) {
	hs, err := ServiceHashes(s)
	if err != nil {
		return "", err
	}
	return hs[0], nil
}

// ServiceHashes are the configuration hashes every docker compose release
// line berth knows computes for s, the current line's first: a container
// whose hash label is any of them is up to date, whichever tool or release
// made it.
func ServiceHashes(s types.ServiceConfig) ([]string, error) {
	h := hashable(s)
	var out []string
	for _, r := range releases {
		encs, err := r.encodings(h)
		if err != nil {
			return nil, fmt.Errorf("hash of service %s: %w", s.Name, err)
		}
		for _, e := range encs {
			sum := sha256.Sum256(e)
			if hex := hex.EncodeToString(sum[:]); !slices.Contains(out, hex) {
				out = append(out, hex)
			}
		}
	}
	return out, nil
}

// hashable is the part of a service that its hash covers.
func hashable(s types.ServiceConfig) types.ServiceConfig {
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
	return s
}

// ConfigDigest summarises the hashed configuration of a service key by key
// (environment variable by variable), as "key=hash,..." sorted by key, with
// 8 hex digits per key. berth writes it on containers (LabelConfigDigest) so
// that a plan can say which keys changed, not only that the hash did.
func ConfigDigest(s types.ServiceConfig) string {
	data, err := json.Marshal(hashable(s))
	if err != nil {
		return ""
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return ""
	}
	parts := map[string]string{}
	for k, v := range fields {
		if k == "environment" {
			var env map[string]json.RawMessage
			if json.Unmarshal(v, &env) == nil {
				for ek, ev := range env {
					parts["environment."+ek] = short(ev)
				}
				continue
			}
		}
		parts[k] = short(v)
	}
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + parts[k]
	}
	return strings.Join(out, ",")
}

// ChangedKeys compares two ConfigDigest values and lists the keys that were
// added, removed or changed, sorted.
func ChangedKeys(old, new string) []string {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(s, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	a, b := parse(old), parse(new)
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func short(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:4])
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
