package cli

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestLifecycleCommands: each command's calls on the fake and the states
// it leaves, with its flags.
func TestLifecycleCommands(t *testing.T) {
	all := []string{"t-db-1", "t-web-1", "t-web-2"}
	web := []string{"t-web-1", "t-web-2"}
	for _, tc := range []struct {
		name   string
		before [][]string // commands run first
		args   []string
		op     string   // the fake call the command makes
		on     []string // on these containers
		detail string   // with this detail (signal), when set
		states map[string]string
	}{
		{"stop", nil, []string{"stop"}, "StopContainer", all, "", map[string]string{"t-web-1": "exited", "t-db-1": "exited"}},
		{"stop a service", nil, []string{"stop", "-t", "1", "web"}, "StopContainer", web, "", map[string]string{"t-web-1": "exited", "t-db-1": "running"}},
		{"start", [][]string{{"stop"}}, []string{"start"}, "StartContainer", all, "", map[string]string{"t-web-2": "running", "t-db-1": "running"}},
		{"start a service", [][]string{{"stop"}}, []string{"start", "db"}, "StartContainer", []string{"t-db-1"}, "", map[string]string{"t-web-1": "exited", "t-db-1": "running"}},
		{"restart", nil, []string{"restart", "-t", "0", "db"}, "StartContainer", []string{"t-db-1"}, "", map[string]string{"t-db-1": "running"}},
		{"kill", nil, []string{"kill", "web"}, "KillContainer", web, "SIGKILL", map[string]string{"t-web-1": "exited", "t-db-1": "running"}},
		{"kill -s", nil, []string{"kill", "-s", "SIGTERM", "db"}, "KillContainer", []string{"t-db-1"}, "SIGTERM", map[string]string{"t-db-1": "exited"}},
		{"pause", nil, []string{"pause", "web"}, "PauseContainer", web, "", map[string]string{"t-web-1": "paused", "t-db-1": "running"}},
		{"unpause", [][]string{{"pause"}}, []string{"unpause"}, "UnpauseContainer", all, "", map[string]string{"t-web-1": "running", "t-db-1": "running"}},
		{"rm", [][]string{{"stop", "web"}}, []string{"rm", "-f"}, "RemoveContainer", web, "", map[string]string{"t-web-1": "", "t-db-1": "running"}},
		{"rm -s", nil, []string{"rm", "-f", "-s", "db"}, "RemoveContainer", []string{"t-db-1"}, "", map[string]string{"t-web-1": "running", "t-db-1": ""}},
		{"down", nil, []string{"down"}, "RemoveContainer", all, "", map[string]string{"t-web-1": "", "t-db-1": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := upFakeCLI(t)
			for _, b := range tc.before {
				c.ok(b...)
			}
			c.f.ResetCalls()
			c.ok(tc.args...)
			if got := c.calls(tc.op); !slices.Equal(got, tc.on) {
				t.Errorf("%s calls on %q, want %q", tc.op, got, tc.on)
			}
			if tc.detail != "" {
				for _, call := range c.f.Calls() {
					if call.Op == tc.op && call.Detail != tc.detail {
						t.Errorf("%s with %q, want %q", tc.op, call.Detail, tc.detail)
					}
				}
			}
			for name, want := range tc.states {
				if got := c.state(name); got != want {
					t.Errorf("%s is %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestRmAsks: without -f, rm asks and removes only on yes.
func TestRmAsks(t *testing.T) {
	c := upFakeCLI(t)
	c.ok("stop", "db")
	c.in = "n\n"
	_, errOut, code := c.run("rm", "db")
	if code != 0 || !strings.Contains(errOut, "Going to remove t-db-1") || c.state("t-db-1") == "" {
		t.Errorf("rm, answered no: exit %d, %q, db %q", code, errOut, c.state("t-db-1"))
	}
	c.in = "y\n"
	c.ok("rm", "db")
	if c.state("t-db-1") != "" {
		t.Error("rm, answered yes: db not removed")
	}
	if _, errOut, _ := c.run("rm", "-f"); !strings.Contains(errOut, "No stopped containers") {
		t.Errorf("rm with nothing stopped: %q", errOut)
	}
}

// TestDownFlags: -v removes the volumes, --remove-orphans the containers
// of services the files do not have, --rmi local the images built.
func TestDownFlags(t *testing.T) {
	c := upFakeCLI(t)
	c.ok("down")
	if _, ok := c.f.Volume("t_data"); !ok {
		t.Error("down without -v removed the volume")
	}
	c.ok("up", "-d")
	c.ok("down", "-v", "-t", "0")
	if _, ok := c.f.Volume("t_data"); ok {
		t.Error("down -v left the volume")
	}
	if _, ok := c.f.Network("t_default"); ok {
		t.Error("down left the network")
	}

	c.ok("up", "-d")
	orphan := map[string]string{service.LabelProject: "t", service.LabelService: "gone", service.LabelContainerNumber: "1", service.LabelOneoff: "False"}
	if _, err := c.f.CreateContainer(context.Background(), service.ContainerSpec{Name: "t-gone-1", Image: "busybox", Labels: orphan}); err != nil {
		t.Fatal(err)
	}
	c.ok("down")
	if c.state("t-gone-1") == "" {
		t.Error("down without --remove-orphans removed the orphan")
	}
	c.ok("down", "--remove-orphans")
	if c.state("t-gone-1") != "" {
		t.Error("down --remove-orphans left the orphan")
	}
	c.fails(1, "rmi", "down", "--rmi", "some")
	if _, errOut, code := c.run("down"); code != 0 || !strings.Contains(errOut, "No resource found to remove") {
		t.Errorf("down of nothing: %d %q", code, errOut)
	}
}

// TestWaitPortCommands: wait prints the exit codes (and exits with the
// last), port the published address.
func TestWaitPortCommands(t *testing.T) {
	c := upFakeCLI(t)
	if err := c.f.Exit("t-db-1", 5); err != nil {
		t.Fatal(err)
	}
	out, _, code := c.run("wait", "db")
	if out != "5\n" || code != 5 {
		t.Errorf("wait db: %q exit %d, want 5 and 5", out, code)
	}
	web1, _ := c.f.Container("t-web-1")
	got := strings.TrimSpace(c.ok("port", "web", "80"))
	if !strings.HasSuffix(got, ":"+portOf(web1, 80)) {
		t.Errorf("port web 80: %q, want the host port %s", got, portOf(web1, 80))
	}
	if got := strings.TrimSpace(c.ok("port", "--index", "2", "web", "80")); got == "" {
		t.Error("port --index 2: nothing")
	}
	c.fails(1, "no port 81/tcp published", "port", "web", "81")
	c.fails(1, "invalid port", "port", "web", "x")
	if _, _, code := c.run("wait", "--down-project", "db"); code != 5 || c.state("t-web-1") != "" {
		t.Errorf("wait --down-project: exit %d, web-1 %q", code, c.state("t-web-1"))
	}
}

func portOf(c service.Container, target uint16) string {
	for _, p := range c.Ports {
		if p.ContainerPort == target {
			return strconv.Itoa(int(p.HostPort))
		}
	}
	return "?"
}
