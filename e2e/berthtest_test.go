package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/cmd/berthtest"
)

// TestBerthtestPackage uses the Go package for go test users on both
// backends: Up waits for readiness (a healthcheck, a one-shot) under a
// unique name on an ephemeral port, Endpoint, Exec and Logs work, and the
// cleanup leaves nothing.
func TestBerthtestPackage(t *testing.T) {
	for _, backend := range []string{"engine", "builtin"} {
		t.Run(backend, func(t *testing.T) {
			opts := []berthtest.Option{berthtest.WithBackend(backend)}
			env := os.Environ()
			if backend == "engine" {
				requireEngine(t)
			} else {
				requireBuiltin(t)
				root := builtinRoot(t)
				opts = append(opts, berthtest.WithBuiltin(root, berthBin))
				env = append(env, "BERTH_BACKEND=builtin", "BERTH_ROOT="+root, "DOCKER_HOST="+noEngine)
			}
			dir := t.TempDir()
			compose := fmt.Sprintf(`services:
  migrate:
    image: %[1]s
    command: ["sh", "-c", "echo migrated"]
  web:
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /www && echo hello berthtest > /www/index.html && echo web started && exec httpd -f -p 8080 -h /www"]
    ports: ["18080:8080"]
    healthcheck: {test: ["CMD", "test", "-f", "/www/index.html"], interval: 1s, retries: 30}
`, busyboxImage())
			if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
				t.Fatal(err)
			}
			var name string
			t.Run("use", func(t *testing.T) {
				env := berthtest.Up(t, filepath.Join(dir, "compose.yaml"), opts...)
				name = env.Name()
				ep := env.Endpoint("web", 8080)
				if strings.HasSuffix(ep, ":18080") {
					t.Errorf("endpoint %s: the fixed port was kept", ep)
				}
				resp, err := http.Get("http://" + ep + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "hello berthtest\n" {
					t.Errorf("GET %s: %q", ep, body)
				}
				if out, code := env.Exec("web", "cat", "/www/index.html"); code != 0 || out != "hello berthtest\n" {
					t.Errorf("Exec: %q, %d", out, code)
				}
				if logs := env.Logs("web"); !strings.Contains(logs, "web started") {
					t.Errorf("Logs: %q", logs)
				}
			})
			if name == "" {
				t.Fatalf("project name %q", name)
			}
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			if r := command(ctx, dir, env, nil, berthBin, "-p", name, "--dry-run", "down", "-v"); r.code != 0 || strings.Contains(r.stdout, "remove") {
				t.Errorf("left after the cleanup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
