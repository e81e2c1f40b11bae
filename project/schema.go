package project

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// maxSchemaProblems bounds the problems listed per file.
const maxSchemaProblems = 50

// schemaProblems validates each file against the compose schema and lists
// every problem, where compose-go reports only the first: after each
// problem it drops the offending key and validates again. It returns nil when
// it finds nothing, so that the caller keeps compose-go's own error.
func schemaProblems(files []string, env map[string]string) error {
	var errs []error
	for _, f := range files {
		if f == "-" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var dict map[string]any
		if err := yaml.Unmarshal(data, &dict); err != nil || dict == nil {
			continue
		}
		dict, err = interpolation.Interpolate(dict, interpolation.Options{LookupValue: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}})
		if err != nil {
			continue
		}
		for i := 0; i < maxSchemaProblems; i++ {
			err := schema.Validate(dict)
			if err == nil {
				break
			}
			le, ok := explain(fmt.Errorf("validating %s: %w", f, err), files).(*LoadError)
			if !ok || le.Path == "" || !remove(dict, strings.Split(le.Path, ".")) {
				break
			}
			errs = append(errs, le)
		}
	}
	return errors.Join(errs...)
}

// remove deletes the key at path from the tree, reporting whether it did.
func remove(node any, path []string) bool {
	m, ok := node.(map[string]any)
	if !ok || len(path) == 0 {
		return false
	}
	if len(path) == 1 {
		if _, ok := m[path[0]]; !ok {
			return false
		}
		delete(m, path[0])
		return true
	}
	return remove(m[path[0]], path[1:])
}

// serviceKeys are the keys a service may have, from compose-go's model.
var serviceKeys = yamlKeys(reflect.TypeOf(types.ServiceConfig{}))

// topLevelKeys are the keys a compose file may have at its top level.
var topLevelKeys = []string{"name", "version", "include", "services", "networks", "volumes", "secrets", "configs", "models"}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && strings.Contains(opts, "inline") {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if name != "" && name != "-" && !strings.HasPrefix(name, "#") {
			keys = append(keys, name)
		}
	}
	return keys
}

// suggest gives the known key closest to key, if one is close enough to be
// a likely typo.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
