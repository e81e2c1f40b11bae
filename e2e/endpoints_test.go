package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestEndpoints: berth endpoints gives, on both backends, the address of
// each published port as a process on this host reaches it (env and JSON),
// and that address answers.
func TestEndpoints(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  web-app:
    image: berth-test/busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello endpoints > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["127.0.0.1::8080", "9/udp"]
    stop_signal: SIGKILL
  worker:
    image: berth-test/busybox
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
`})
		p.mustRun(t, "up", "-d")
		env := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(p.mustRun(t, "endpoints").stdout), "\n") {
			k, v, _ := strings.Cut(l, "=")
			env[k] = v
		}
		addr := env["WEB_APP_8080"]
		if env["WEB_APP_8080_HOST"] != "127.0.0.1" || addr != "127.0.0.1:"+env["WEB_APP_8080_PORT"] || env["WEB_APP_9_UDP_PORT"] == "" || len(env) != 6 {
			t.Fatalf("berth endpoints: %v", env)
		}
		var doc struct {
			Version   int
			Project   string
			Endpoints []struct {
				Service, Protocol, Host string
				Target, Port, Replica   int
			}
		}
		if err := json.Unmarshal([]byte(p.mustRun(t, "endpoints", "web-app", "--format", "json").stdout), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Version != 1 || doc.Project != p.name || len(doc.Endpoints) != 2 || doc.Endpoints[1].Target != 8080 ||
			fmt.Sprintf("%s:%d", doc.Endpoints[1].Host, doc.Endpoints[1].Port) != addr {
			t.Errorf("berth endpoints --format json: %+v", doc)
		}
		eventually(t, func() string {
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			r := command(ctx, "", nil, nil, busyboxPath, "wget", "-qO-", "http://"+addr+"/")
			if !strings.Contains(r.stdout, "hello endpoints") {
				return fmt.Sprintf("wget http://%s/: exit %d %s%s", addr, r.code, r.stdout, r.stderr)
			}
			return ""
		})
		p.mustRun(t, "down")
	})
}
