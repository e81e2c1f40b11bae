package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs berth in dir with args and env, and returns its exit code and
// outputs.
func runIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}, append(env, "BERTH_NO_CACHE=1"), dir)
	return code, out.String(), errOut.String()
}

func TestBuildPrint(t *testing.T) {
	dir := t.TempDir()
	compose := `
name: shop
services:
  web:
    build:
      context: ./web
      dockerfile: Dockerfile.prod
      args: {VERSION: "1"}
      tags: ["reg.example/web:1"]
      additional_contexts: {base: "service:base"}
  base:
    build: {context: ., dockerfile_inline: "FROM scratch"}
  db:
    image: redis:7
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runIn(t, dir, []string{"EXTRA=from env"}, "build", "--print", "--build-arg", "EXTRA", "--build-arg", "X=1", "--no-cache")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Group  map[string]map[string][]string
		Target map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Join(doc.Group["default"]["targets"], ","); got != "base,web" {
		t.Errorf("targets %q", got)
	}
	web := doc.Target["web"]
	if web["context"] != filepath.Join(dir, "web") || web["dockerfile"] != "Dockerfile.prod" || web["no-cache"] != true {
		t.Errorf("web: %v", web)
	}
	args, _ := json.Marshal(web["args"])
	if string(args) != `{"EXTRA":"from env","VERSION":"1","X":"1"}` {
		t.Errorf("web args %s", args)
	}
	tags, _ := json.Marshal(web["tags"])
	if string(tags) != `["shop-web","reg.example/web:1"]` {
		t.Errorf("web tags %s", tags)
	}
	after, _ := json.Marshal(web["x-berth-after"])
	if string(after) != `["base"]` {
		t.Errorf("web after %s", after)
	}
	if doc.Target["base"]["dockerfile-inline"] != "FROM scratch" {
		t.Errorf("base: %v", doc.Target["base"])
	}
}

func TestImageFlagErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  db: {image: redis:7}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "-d", "--build", "--no-build"}, "--build and --no-build are incompatible"},
		{[]string{"up", "-d", "--pull", "sometimes"}, `invalid --pull option "sometimes"`},
		{[]string{"down", "--rmi", "some"}, `invalid --rmi "some"`},
	} {
		code, _, errOut := runIn(t, dir, nil, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("berth %s: exit %d, %q; want an error saying %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}
