package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// envFromFiles reads run --env-from-file files (dotenv syntax, as env_file:)
// and returns their variables as KEY=VALUE lines, sorted, leaving out those
// set (the -e ones, KEY=VALUE lines), which win as with docker compose. A
// file's ${VAR} refers to the -e values. A file that cannot be read or
// parsed is an error naming it.
func envFromFiles(files, set []string) ([]string, error) {
	have := map[string]string{}
	for _, kv := range set {
		k, v, _ := strings.Cut(kv, "=")
		have[k] = v
	}
	add := map[string]string{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--env-from-file: %w", err)
		}
		vars, err := dotenv.ParseWithLookup(f, func(k string) (string, bool) {
			v, ok := have[k]
			return v, ok
		})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--env-from-file %s: %w", file, err)
		}
		for k, v := range vars {
			if _, ok := have[k]; !ok {
				if _, ok := add[k]; !ok {
					add[k] = v
				}
			}
		}
	}
	out := make([]string, 0, len(add))
	for k, v := range add {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}
