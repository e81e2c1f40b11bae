package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/reconcile/gc"
	"github.com/berthdev/berth/service"
)

const upProject = `
name: cu
services:
  server:
    image: busybox
    restart: always
  tests:
    image: busybox
    depends_on: [server]
`

// TestUpCmdDetached runs up -d and its flags on the fake and checks what
// runs afterwards.
func TestUpCmdDetached(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// want is each container's state afterwards
		want    map[string]string
		wantErr string
	}{
		{"-d", []string{"up", "-d"}, map[string]string{"cu-server-1": "running", "cu-tests-1": "running"}, "Container cu-tests-1 Started"},
		{"--scale", []string{"up", "-d", "--scale", "tests=3"}, map[string]string{"cu-tests-1": "running", "cu-tests-2": "running", "cu-tests-3": "running"}, ""},
		{"--no-start", []string{"up", "--no-start"}, map[string]string{"cu-server-1": "created", "cu-tests-1": "created"}, "Container cu-tests-1 Created"},
		{"--wait", []string{"up", "--wait"}, map[string]string{"cu-server-1": "running", "cu-tests-1": "running"}, "Container cu-tests-1 Healthy"},
		{"one service, --no-deps", []string{"up", "-d", "--no-deps", "tests"}, map[string]string{"cu-server-1": "", "cu-tests-1": "running"}, ""},
		{"one service and its dependencies", []string{"up", "-d", "tests"}, map[string]string{"cu-server-1": "running", "cu-tests-1": "running"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCLI(t, upProject)
			r := c.result(tt.args...)
			if r.code != 0 {
				t.Fatalf("%v: exit %d\n%s", tt.args, r.code, r.err)
			}
			for name, want := range tt.want {
				if got := c.state(name); got != want {
					t.Errorf("%s is %q, want %q", name, got, want)
				}
			}
			if !strings.Contains(r.err.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, r.err)
			}
		})
	}
}

// TestUpCmdErrors: bad flags are refused with a message naming the flag,
// before anything is created.
func TestUpCmdErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "-d", "--abort-on-container-exit"}, "--abort-on-container-exit and --abort-on-container-failure cannot be combined with --detach"},
		{[]string{"up", "--wait", "--exit-code-from", "tests"}, "cannot be combined with --detach"},
		{[]string{"up", "--force-recreate", "--no-recreate"}, "--force-recreate and --no-recreate are incompatible"},
		{[]string{"up", "--build", "--no-build"}, "--build and --no-build are incompatible"},
		{[]string{"up", "--pull", "sometimes"}, `invalid --pull option "sometimes"`},
		{[]string{"up", "--scale", "tests=x"}, `invalid --scale "tests=x": use SERVICE=NUMBER`},
		{[]string{"up", "--scale", "nosuch=2"}, "--scale: no such service: nosuch"},
		{[]string{"up", "--exit-code-from", "nosuch"}, "--exit-code-from: no such service: nosuch"},
		{[]string{"up", "--ttl", "-1m"}, "--ttl -1m0s: want a positive duration"},
		{[]string{"up", "-d", "nosuch"}, "no such service: nosuch"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newFakeCLI(t, upProject)
			r := c.result(tt.args...)
			if r.code != 1 || !strings.Contains(r.err.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.err, tt.want)
			}
			if calls := c.f.Calls(); len(calls) != 0 {
				t.Errorf("a refused up called %v", calls)
			}
		})
	}
}

// TestUpCmdAttached runs attached ups on the fake: the output shown, the
// exit code, what is stopped.
func TestUpCmdAttached(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// exits: container → code, in this order; interrupt: Ctrl+C instead
		exits     [][2]string
		interrupt bool
		wantCode  int
		wantOut   []string
		wantErr   string
		wantStops bool
	}{
		{name: "--exit-code-from", args: []string{"up", "--exit-code-from", "tests"}, exits: [][2]string{{"cu-tests-1", "7"}}, wantCode: 7,
			wantOut: []string{"Attaching to server-1, tests-1", "tests-1   | running tests", "tests-1 exited with code 7"}, wantErr: "Aborting on container exit...", wantStops: true},
		{name: "--abort-on-container-exit", args: []string{"up", "--abort-on-container-exit"}, exits: [][2]string{{"cu-server-1", "3"}}, wantCode: 3,
			wantOut: []string{"server-1 exited with code 3"}, wantErr: "Aborting on container exit...", wantStops: true},
		{name: "--abort-on-container-failure, 0 goes on", args: []string{"up", "--abort-on-container-failure"}, exits: [][2]string{{"cu-tests-1", "0"}, {"cu-server-1", "2"}}, wantCode: 2,
			wantOut: []string{"tests-1 exited with code 0", "server-1 exited with code 2"}, wantErr: "Aborting"}, // nothing left to stop
		{name: "all stop", args: []string{"up"}, exits: [][2]string{{"cu-tests-1", "0"}, {"cu-server-1", "1"}}, wantCode: 0,
			wantOut: []string{"server-1 exited with code 1"}},
		{name: "Ctrl+C", args: []string{"up"}, interrupt: true, wantCode: 130,
			wantErr: "Gracefully stopping... (press Ctrl+C again to force)", wantStops: true},
		{name: "--attach", args: []string{"up", "--attach", "server", "--abort-on-container-exit"}, exits: [][2]string{{"cu-server-1", "1"}}, wantCode: 1,
			wantOut: []string{"Attaching to server-1\n"}, wantStops: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCLI(t, upProject)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := c.start(ctx, "", tt.args...)
			c.waitRunning("cu-tests-1")
			waitUntil(t, "attached", func() bool { return strings.Contains(r.out.String(), "Attaching to") })
			_ = c.f.Log("cu-tests-1", "stdout", "running tests")
			waitUntil(t, "the output", func() bool {
				return strings.Contains(r.out.String(), "running tests") || !strings.Contains(r.out.String(), "tests-1")
			})
			c.f.ResetCalls()
			if tt.interrupt {
				cancel()
			}
			for _, e := range tt.exits {
				if err := c.f.Exit(e[0], atoi(e[1])); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(r.out.String(), "Attaching to") {
					status := strings.TrimPrefix(e[0], "cu-") + " exited with code " + e[1]
					if strings.Contains(r.out.String(), strings.TrimPrefix(e[0], "cu-")) {
						waitUntil(t, status, func() bool { return strings.Contains(r.out.String(), status) })
					}
				}
			}
			r.wait(t)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.out, r.err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(r.out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.out)
				}
			}
			if !strings.Contains(r.err.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, r.err)
			}
			if stops := c.ops("StopContainer"); (len(stops) > 0) != tt.wantStops {
				t.Errorf("stops %v, want some: %v", stops, tt.wantStops)
			}
			if tt.wantStops && (c.state("cu-tests-1") == service.StateRunning || c.state("cu-server-1") == service.StateRunning) {
				t.Error("a container still runs")
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// TestUpCmdLifetimeAndPorts: --ttl labels what up makes with its end and
// owner; --ephemeral-ports publishes the fixed host ports on ephemeral ones.
func TestUpCmdLifetimeAndPorts(t *testing.T) {
	c := newFakeCLI(t, upProject+"    ports: [\"8080:80\"]\n")
	r := c.result("up", "-d", "--ttl", "1h", "--ephemeral-ports")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	spec, _ := c.f.ContainerSpec("cu-tests-1")
	if spec.Labels[gc.LabelExpires] == "" || spec.Labels[gc.LabelOwner] == "" {
		t.Errorf("labels %v: no lifetime", spec.Labels)
	}
	if len(spec.Ports) != 1 || spec.Ports[0].HostPort == "8080" {
		t.Errorf("ports %+v: want 80 on an ephemeral host port", spec.Ports)
	}
}

// TestUpCmdWatch: up --watch watches once the services run, detached or
// attached, until Ctrl+C.
func TestUpCmdWatch(t *testing.T) {
	compose := upProject + "    develop:\n      watch:\n        - {action: sync, path: ./src, target: /app}\n"
	for _, tt := range []struct {
		args     []string
		wantCode int
	}{
		{[]string{"up", "-d", "--watch"}, 0},
		{[]string{"up", "--wait", "--watch"}, 0},
		{[]string{"up", "--watch"}, 130},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newFakeCLI(t, compose)
			if err := os.Mkdir(filepath.Join(c.dir, "src"), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := c.start(ctx, "", tt.args...)
			waitUntil(t, "the watch", func() bool { return strings.Contains(r.out.String(), "Watch enabled") })
			if c.state("cu-tests-1") != service.StateRunning {
				t.Error("watching before the services run")
			}
			cancel()
			r.wait(t)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d: %s", r.code, tt.wantCode, r.err)
			}
		})
	}
	c := newFakeCLI(t, upProject)
	if r := c.result("up", "-d", "--watch"); r.code != 1 || !strings.Contains(r.err.String(), "watch") {
		t.Errorf("--watch without develop.watch: exit %d, %s", r.code, r.err)
	}
}
