package swarm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
)

// DigestsLabel is the service label in which berth records a digest of
// each part of the spec it deployed ("args=1a2b3c4d,env=...,image=..."), so
// that the next deploy knows what changed without reading the engine's
// rendering of the spec back.
const DigestsLabel = "com.berth.swarm.digests"

// Digests returns a short digest of each part of s: the fields of its
// container spec and of its deploy settings, by their JSON names. Unset
// parts have none. The service's own labels are a part ("labels"), less
// DigestsLabel and service.StackImageLabel (which follows the image).
func Digests(s service.SwarmService) map[string]string {
	out := map[string]string{}
	add := func(v any, skip ...string) {
		b, err := json.Marshal(v)
		if err != nil {
			return // the spec types always marshal
		}
		var parts map[string]json.RawMessage
		if json.Unmarshal(b, &parts) != nil {
			return
		}
		for k, raw := range parts {
			if slices.Contains(skip, k) {
				continue
			}
			sum := sha256.Sum256(raw)
			out[k] = hex.EncodeToString(sum[:4])
		}
	}
	labels := maps.Clone(s.Labels)
	delete(labels, DigestsLabel)
	delete(labels, service.StackImageLabel)
	s.Labels = labels
	add(s.Container)
	add(s, "name", "service", "container", "depends_on")
	return out
}

// EncodeDigests renders digests as the value of DigestsLabel.
func EncodeDigests(d map[string]string) string {
	parts := make([]string, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, k+"="+d[k])
	}
	return strings.Join(parts, ",")
}

// DecodeDigests reads a DigestsLabel value; nil when there is none.
func DecodeDigests(label string) map[string]string {
	if label == "" {
		return nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(label, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// Changed returns the parts whose digests differ between old and new (set
// in one only, or to different digests), sorted.
func Changed(old, new map[string]string) []string {
	var out []string
	for k := range old {
		if new[k] != old[k] {
			out = append(out, k)
		}
	}
	for k := range new {
		if _, ok := old[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
