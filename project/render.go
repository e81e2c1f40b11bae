package project

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"
)

// Render prints a model as docker compose v5's config does, byte for byte:
// compose-go's rendering, with each service's keys in the order of the
// compose-go that docker compose v5 links (v2.14; berth's own compose-go
// orders them otherwise). format is "yaml" or "json".
func Render(m *types.Project, format string) ([]byte, error) {
	if format == "json" {
		out, err := m.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return reorderServicesJSON(out)
	}
	out, err := m.MarshalYAML()
	if err != nil {
		return nil, err
	}
	return reorderServicesYAML(out)
}

// serviceKeyRank ranks a service key by serviceKeys214; keys it lacks
// (newer ones, x- extensions) come after, in their order.
func serviceKeyRank(k string) int {
	if i := slices.Index(serviceKeys214, k); i >= 0 {
		return i
	}
	return len(serviceKeys214)
}

func reorderServicesJSON(out []byte) ([]byte, error) {
	root, err := parseObject(out)
	if err != nil {
		return nil, err
	}
	raw, ok := root.get("services")
	if !ok {
		return out, nil
	}
	services, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	for _, name := range services.keys {
		svc, err := parseObject(services.vals[name])
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(svc.keys, func(a, b string) int { return serviceKeyRank(a) - serviceKeyRank(b) })
		services.vals[name] = svc.encode()
	}
	root.set("services", services.encode())
	var b bytes.Buffer
	if err := json.Indent(&b, root.encode(), "", "  "); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func reorderServicesYAML(out []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("render the model: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return out, nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "services" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		services := root.Content[i+1]
		for j := 1; j < len(services.Content); j += 2 {
			svc := services.Content[j]
			if svc.Kind != yaml.MappingNode {
				continue
			}
			type pair struct{ k, v *yaml.Node }
			pairs := make([]pair, 0, len(svc.Content)/2)
			for k := 0; k+1 < len(svc.Content); k += 2 {
				pairs = append(pairs, pair{svc.Content[k], svc.Content[k+1]})
			}
			slices.SortStableFunc(pairs, func(a, b pair) int { return serviceKeyRank(a.k.Value) - serviceKeyRank(b.k.Value) })
			svc.Content = svc.Content[:0]
			for _, p := range pairs {
				svc.Content = append(svc.Content, p.k, p.v)
			}
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("render the model: %w", err)
	}
	return b.Bytes(), nil
}
