package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestConfigCommand(t *testing.T) {
	c := newFakeCLI(t, testCompose)
	c.env = append(c.env, "MODE=prod")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "--services"}, "db\nweb\n"},
		{[]string{"--profile", "tools", "config", "--services"}, "db\ntool\nweb\n"},
		{[]string{"config", "--volumes"}, "data\n"},
		{[]string{"config", "--networks"}, "default\n"},
		{[]string{"config", "--images"}, "busybox\nbusybox\n"},
		{[]string{"config", "--profiles"}, "tools\n"},
		{[]string{"config", "-q"}, ""},
		{[]string{"config", "--variables", "--format", "json"}, "{\n  \"MODE\": {\n    \"Name\": \"MODE\",\n    \"DefaultValue\": \"dev\",\n    \"PresenceValue\": \"\",\n    \"Required\": false\n  }\n}\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if got := c.ok(tc.args...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		if got := c.ok("config", "--environment"); !strings.Contains(got, "MODE=prod\n") {
			t.Errorf("--environment lacks MODE=prod:\n%s", got)
		}
	})
	t.Run("hash", func(t *testing.T) {
		all := lines(c.ok("config", "--hash", "*"))
		if len(all) != 2 || !strings.HasPrefix(all[0], "db ") || !strings.HasPrefix(all[1], "web ") {
			t.Fatalf("--hash '*': %q", all)
		}
		if one := c.ok("config", "--hash", "web"); one != all[1]+"\n" {
			t.Errorf("--hash web: %q, want %q", one, all[1])
		}
		c.fails(1, "no such service: nope", "config", "--hash", "nope")
	})
	t.Run("interpolation", func(t *testing.T) {
		if got := c.ok("config"); !strings.Contains(got, "MODE: prod") {
			t.Errorf("config: MODE not interpolated:\n%s", got)
		}
		if got := c.ok("config", "--no-interpolate"); !strings.Contains(got, "${MODE:-dev}") {
			t.Errorf("--no-interpolate interpolated:\n%s", got)
		}
	})
	t.Run("json", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal([]byte(c.ok("config", "--format", "json")), &m); err != nil || m["name"] != "t" {
			t.Errorf("--format json: %v %v", m["name"], err)
		}
		c.fails(1, `unsupported format "toml"`, "config", "--format", "toml")
	})
	t.Run("output", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "out.yaml")
		if got := c.ok("config", "-o", file, "--services"); got != "" {
			t.Errorf("-o printed %q", got)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != "db\nweb\n" {
			t.Errorf("-o wrote %q %v", b, err)
		}
	})
	// the project is never touched
	if calls := c.f.Calls(); len(calls) != 0 {
		t.Errorf("config called the backend: %v", calls)
	}
}

// TestConfigServicesOrder: dependencies first, through network_mode,
// volumes_from and links too once normalized, by depends_on as written
// with --no-normalize: what docker compose v2.40.3 and v5.5.0 print.
func TestConfigServicesOrder(t *testing.T) {
	c := newFakeCLI(t, `services:
  a: {image: busybox, depends_on: [m]}
  m: {image: busybox, network_mode: "service:z"}
  z: {image: busybox, volumes_from: [b]}
  b: {image: busybox}
  c: {image: busybox, links: [a]}
`)
	if got := c.ok("config", "--services"); got != "b\nz\nm\na\nc\n" {
		t.Errorf("got %q", got)
	}
	if got := c.ok("config", "--services", "--no-normalize"); got != "m\na\nb\nc\nz\n" {
		t.Errorf("--no-normalize: got %q", got)
	}
}

// statsFake is the fake with container figures: each read adds a second
// of CPU time.
type statsFake struct {
	*servicetest.Fake
	mu  sync.Mutex
	cpu map[string]uint64
}

func (s *statsFake) Stats(ctx context.Context, id string) (service.Stats, error) {
	c, err := s.InspectContainer(ctx, id)
	if err != nil {
		return service.Stats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpu[c.ID] += uint64(time.Second / 2)
	return service.Stats{Read: time.Now(), CPU: s.cpu[c.ID], Memory: 50 << 20, MemoryLimit: 100 << 20, NetRx: 1000, NetTx: 2000, Pids: 3}, nil
}

func TestStatsCommand(t *testing.T) {
	c := upFakeCLI(t)
	c.fails(1, "this backend has no stats", "stats", "--no-stream")
	c.b = &statsFake{Fake: c.f, cpu: map[string]uint64{}}
	out := lines(c.ok("stats", "--no-stream", "db"))
	if len(out) != 2 || !strings.HasPrefix(out[0], "CONTAINER ID") || !strings.Contains(out[1], "t-db-1") || !strings.Contains(out[1], "50MiB / 100MiB") {
		t.Errorf("stats --no-stream db:\n%s", strings.Join(out, "\n"))
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(c.ok("stats", "--no-stream", "--format", "json", "db")), &e); err != nil || e["Name"] != "t-db-1" || e["MemPerc"] != "50.00%" || e["PIDs"] != "3" {
		t.Errorf("--format json: %v %v", e, err)
	}
	if got := lines(c.ok("stats", "--no-stream", "--format", "{{.Name}}")); len(got) != 3 {
		t.Errorf("all services: %q", got)
	}
}

func TestTopCommand(t *testing.T) {
	c := upFakeCLI(t)
	out := c.ok("top", "db")
	if !strings.HasPrefix(out, "t-db-1\n") || !strings.Contains(out, "PID") {
		t.Errorf("top db:\n%s", out)
	}
	if strings.Contains(out, "t-web-1") {
		t.Errorf("top db shows web:\n%s", out)
	}
	c.fails(1, "no such service: nope", "top", "nope")
}

func TestEventsCommand(t *testing.T) {
	c := upFakeCLI(t)
	c.ok("stop", "db")
	out := lines(c.ok("events", "--json", "--since", "1h", "--until", "0s", "db"))
	var actions []string
	for _, l := range out {
		var e eventEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if e.Service != "db" || e.Type != "container" {
			t.Errorf("event of %q (%s): %s", e.Service, e.Type, l)
		}
		actions = append(actions, e.Action)
	}
	joined := strings.Join(actions, " ")
	if !strings.Contains(joined, "create") || !strings.Contains(joined, "start") || !strings.Contains(joined, "stop") {
		t.Errorf("events of db: %q, want create, start and stop", joined)
	}
	if plain := c.ok("events", "--since", "1h", "--until", "0s", "db"); !strings.Contains(plain, "container start") {
		t.Errorf("events, plain: %q", plain)
	}
	c.fails(1, "", "events", "--since", "yesterday")
}

func TestVersionCommand(t *testing.T) {
	c := newFakeCLI(t, testCompose)
	c.env = append(c.env, "BERTH_BACKEND=builtin")
	if got := c.ok("version", "--short"); got != "dev\n" {
		t.Errorf("--short: %q", got)
	}
	if got := c.ok("version"); !strings.HasPrefix(got, "berth version dev (") || !strings.Contains(got, "backend: builtin (BERTH_BACKEND)") {
		t.Errorf("version: %q", got)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(c.ok("version", "--format", "json")), &v); err != nil || v["backend"] != "builtin" || v["version"] != "dev" {
		t.Errorf("--format json: %v %v", v, err)
	}
	c.fails(1, "unsupported format", "version", "--format", "xml")
	if got := c.ok("--version"); got != "berth version dev\n" {
		t.Errorf("--version: %q", got)
	}
}

// TestGCCommand: gc removes a project whose lifetime is over, and says so
// when there is none.
func TestGCCommand(t *testing.T) {
	c := newFakeCLI(t, testCompose)
	if _, errOut, _ := c.run("gc"); !strings.Contains(errOut, "Nothing to remove.") {
		t.Errorf("gc of nothing: %q", errOut)
	}
	c.ok("up", "-d", "--ttl", "1s")
	c.ok("gc")
	if c.state("t-db-1") == "" {
		t.Fatal("gc removed a project whose lifetime is not over")
	}
	time.Sleep(2100 * time.Millisecond)
	c.ok("--dry-run", "gc")
	if c.state("t-db-1") == "" {
		t.Fatal("gc --dry-run removed the project")
	}
	c.ok("gc")
	if c.state("t-db-1") != "" || c.state("t-web-1") != "" {
		t.Error("gc left the expired project")
	}
	if _, ok := c.f.Volume("t_data"); ok {
		t.Error("gc left the expired project's volume")
	}
}

// TestTestCommand: berth test brings the project up under another name,
// runs the command, exits with its code and removes the project.
func TestTestCommand(t *testing.T) {
	c := newFakeCLI(t, testCompose)
	out, errOut, code := c.run("-p", "tt", "test", "--", "sh", "-c", `echo "$COMPOSE_PROJECT_NAME"; exit 3`)
	if code != 3 || !strings.Contains(out, "tt\n") {
		t.Errorf("test: exit %d, stdout %q, stderr %q; want 3 and the project's name", code, out, errOut)
	}
	if len(c.calls("CreateContainer")) != 3 {
		t.Errorf("created %q, want the three containers of tt", c.calls("CreateContainer"))
	}
	cs, _ := c.f.ListContainers(context.Background(), service.Filter{All: true})
	if len(cs) != 0 {
		t.Errorf("%d containers left after berth test", len(cs))
	}
	c.fails(1, "no command", "test")
	c.fails(1, "has no --dry-run", "--dry-run", "test", "--", "true")
	c.fails(1, "--service: no such service: nope", "test", "--service", "nope")
}
