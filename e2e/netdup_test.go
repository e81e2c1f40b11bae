package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"

	"github.com/berthdev/berth/service"
)

// rawNetworkCreate makes a network through the Engine API as a client that
// does not ask for the duplicate check does (the moby client, and berth
// before it sent CheckDuplicate): on engines before API 1.44 a second
// network of a taken name is made. The docker CLI asks for the check, so it
// cannot make the stuck state of issue 11 on its own.
func rawNetworkCreate(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Ping(t.Context(), client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatal(err)
	}
	res, err := c.NetworkCreate(t.Context(), name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err != nil {
		t.Fatalf("create network %s through the API: %v", name, err)
	}
	return res.ID
}

// networkIDs lists the IDs of the networks named exactly name.
func networkIDs(t *testing.T, name string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Fields(docker(t, "network", "ls", "--no-trunc", "--filter", "name="+name, "--format", "{{.ID}}/{{.Name}}")) {
		id, n, _ := strings.Cut(line, "/")
		if n == name {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestDuplicateNetworkConverges reproduces issue 11's stuck state on the
// engine: two networks with the project's default network's name and
// labels (what two ups that raced made on API 1.41), no container (their
// creates failed on the ambiguous name). up must say it removes one
// (--dry-run), then converge to one network with the service running on
// it; a second up changes nothing; down, with a duplicate there again,
// leaves no network of the project.
func TestDuplicateNetworkConverges(t *testing.T) {
	requireEngine(t)
	if v := docker(t, "version", "--format", "{{.Server.APIVersion}}"); versions.GreaterThanOrEqualTo(v, "1.44") {
		t.Skipf("engine API %s refuses a second network of a name: the state cannot arise", v)
	}
	p := newProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
`, busyboxImage())})
	netName := p.name + "_default"

	// the labels berth gives the network, then the stuck state by hand
	p.mustRun(t, "up", "-d")
	var labels map[string]string
	if err := json.Unmarshal([]byte(docker(t, "network", "inspect", "--format", "{{json .Labels}}", netName)), &labels); err != nil {
		t.Fatal(err)
	}
	if labels[service.LabelProject] != p.name {
		t.Fatalf("network %s labels: %v", netName, labels)
	}
	p.mustRun(t, "down", "-t", "0")
	first := rawNetworkCreate(t, netName, labels)
	time.Sleep(10 * time.Millisecond) // distinct creation times
	second := rawNetworkCreate(t, netName, labels)
	if ids := networkIDs(t, netName); len(ids) != 2 {
		t.Fatalf("the stuck state was not made: networks %s = %v (API %s)", netName, ids, docker(t, "version", "--format", "{{.Server.APIVersion}}"))
	}

	plan := p.mustRun(t, "up", "-d", "--dry-run").stdout
	if !strings.Contains(plan, "remove network "+netName+": duplicate "+second[:12]+", same name and project (keeping "+first[:12]+": the oldest)") {
		t.Errorf("up --dry-run does not say it removes the newer duplicate %s:\n%s", second[:12], plan)
	}
	if ids := networkIDs(t, netName); len(ids) != 2 {
		t.Errorf("--dry-run changed the networks: %v", ids)
	}

	p.mustRun(t, "up", "-d")
	if ids := networkIDs(t, netName); !slices.Equal(ids, []string{first}) {
		t.Errorf("after up, networks %s = %v, want the oldest only (%s)", netName, ids, first)
	}
	web := p.inspect(t, p.name+"-web-1")
	if web.State != service.StateRunning || web.Networks[netName] != first {
		t.Errorf("web after up: %s on %v, want running on %s", web.State, web.Networks, first)
	}
	if r := p.mustRun(t, "up", "-d", "--dry-run"); !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("a second up plans:\n%s", r.stdout)
	}

	// a duplicate appears again while web runs on the first: down removes
	// both, and web
	rawNetworkCreate(t, netName, labels)
	p.mustRun(t, "down", "-t", "0")
	if left := p.leftovers(t); len(left) != 0 {
		t.Errorf("down left %v", left)
	}
	if ids := networkIDs(t, netName); len(ids) != 0 {
		t.Errorf("down left networks %s: %v", netName, ids)
	}
}

// TestUpReportsAKilledDependency: a dependency killed while up waits for it
// to be healthy is reported as exited with its code (the engine calls a
// killed container unhealthy, which said nothing of what happened).
func TestUpReportsAKilledDependency(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  db:
    image: %[1]s
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 60s
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    depends_on:
      db: {condition: service_healthy}
`, busyboxImage())})
		done := make(chan result, 1)
		go func() { done <- p.run("up", "-d") }()
		db := p.name + "-db-1"
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		for ctx.Err() == nil {
			if r := p.run("ps", "--format", "{{.Name}} {{.State}}", "db"); strings.Contains(r.stdout, db+" running") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.mustRun(t, "kill", "db")
		var r result
		select {
		case r = <-done:
		case <-ctx.Done():
			t.Fatal("up did not end after its dependency was killed")
		}
		if r.code == 0 {
			t.Fatalf("up succeeded although its dependency was killed:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "container "+db+" exited (137), killed by SIGKILL") || strings.Contains(r.stderr, "unhealthy") {
			t.Errorf("up does not report %s as exited (137):\n%s", db, r.stderr)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestBuiltinLeftoverCheckIsScoped: the leftover check of a state root
// looks at the bridges of its own networks only, not at those another root
// (another test, another berth user on the host) has up meanwhile.
func TestBuiltinLeftoverCheckIsScoped(t *testing.T) {
	requireBuiltin(t)
	mine := builtinRoot(t)
	other := newBuiltinProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["sleep", "3600"]
`, busyboxImage())})
	other.mustRun(t, "up", "-d")
	if got := bridgesOf(builtinRootOf(other)); len(got) != 1 {
		t.Errorf("bridges of the other root = %v, want its network's", got)
	}
	if got := bridgesOf(mine); len(got) != 0 {
		t.Errorf("bridges of this root = %v, want none: another root's were counted", got)
	}
	other.mustRun(t, "down", "-t", "0")
	if got := bridgesOf(builtinRootOf(other)); len(got) != 0 {
		t.Errorf("bridges of the other root after down = %v", got)
	}
}
