package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/berthdev/berth/reconcile"
)

// jsonKeys lists the JSON keys of t's encoding, nested ones as
// "outer.inner" ("outer[].inner" through slices), sorted.
func jsonKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag := f.Tag.Get("json"); tag != "" {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		key := prefix + name
		keys = append(keys, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.PkgPath() != "time":
			keys = append(keys, jsonKeys(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, jsonKeys(ft.Elem(), key+"[].")...)
		}
	}
	sort.Strings(keys)
	return keys
}

// TestJSONSchemas holds the keys of every machine-readable JSON shape berth
// prints (testdata/schema/<shape>.keys, with the shape's version): a
// renamed or removed key fails, as it would break the scripts that read it.
// Shapes that are docker compose's (ps, images, events, config) follow
// docker compose v5.5.0 and carry no version of berth's; berth's own
// (endpoints, --progress json) carry theirs.
func TestJSONSchemas(t *testing.T) {
	shapes := []struct {
		name    string
		typ     reflect.Type
		version int // 0: docker compose's shape
	}{
		{"ps", reflect.TypeOf(psEntry{}), 0},
		{"images", reflect.TypeOf(imageEntry{}), 0},
		{"events", reflect.TypeOf(eventEntry{}), 0},
		{"stats", reflect.TypeOf(statsEntry{}), 0},
		{"volumes", reflect.TypeOf(volumeEntry{}), 0},
		{"progress", reflect.TypeOf(jsonEvent{}), ProgressVersion},
		{"endpoints", reflect.TypeOf(reconcile.EndpointsDocument{}), reconcile.EndpointsVersion},
	}
	for _, sh := range shapes {
		got := strings.Join(jsonKeys(sh.typ, ""), "\n") + "\n"
		if sh.version > 0 {
			got = "version " + strconv.Itoa(sh.version) + "\n" + got
		}
		file := filepath.Join("..", "..", "testdata", "schema", sh.name+".keys")
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (go test ./cmd/cli -run TestJSONSchemas -update writes it)", sh.name, err)
		}
		have := map[string]bool{}
		for _, k := range strings.Split(got, "\n") {
			have[k] = true
		}
		for _, k := range strings.Split(strings.TrimSpace(string(want)), "\n") {
			if !have[k] {
				t.Errorf("%s: %q is gone from the JSON %s prints: scripts read it. Keep it, or bump the shape's version and document the change", sh.name, k, sh.name)
			}
		}
		if string(want) != got && !t.Failed() {
			t.Errorf("%s: keys were added: run go test ./cmd/cli -run TestJSONSchemas -update and document them", sh.name)
		}
	}
}
