package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// The commands that change state, each with arguments for the test project
// below, and those that do not: every command berth has is in one list
// (TestDryRunChangesNothing fails on a new one that is in neither).
var (
	mutating = map[string][]string{
		"up":         {"up", "-d"},
		"create":     {"create"},
		"down":       {"down", "-v", "--rmi", "local"},
		"start":      {"start"},
		"stop":       {"stop"},
		"restart":    {"restart"},
		"kill":       {"kill"},
		"rm":         {"rm", "-f", "-s"},
		"pause":      {"pause"},
		"unpause":    {"unpause"},
		"scale":      {"scale", "web=3"},
		"run":        {"run", "--rm", "web", "true"},
		"commit":     {"commit", "web", "snap:1"},
		"gc":         {"gc"},
		"image rm":   {"image", "rm", "busybox"},
		"pull":       {"pull"},
		"push":       {"push"},
		"build":      {"build"},
		"watch":      nil, // runs until interrupted: its steps are up's and a sync's
		"publish":    nil, // a registry, not the runtime: tested in publish_test.go
		"cp":         {"cp", "compose.yaml", "web:/"},
		"exec":       nil, // a process, as docker compose (no --dry-run there)
		"attach":     nil, // streams, changes nothing
		"export":     nil, // writes a file: --dry-run tested in the e2e tests
		"image load": nil,
		"test":       nil, // a whole CI job: refuses --dry-run, says so
		"deploy":     {"deploy", "--build"},
		"deploy rm":  {"deploy", "rm"},
	}
	readOnly = []string{"config", "version", "ps", "logs", "top", "stats", "port", "endpoints", "wait", "images",
		"events", "ls", "volumes", "image ls", "image inspect", "help", "completion", "deploy ps", "deploy logs"}
)

// TestDryRunChangesNothing runs every command that changes state with
// --dry-run on the in-memory fake, the project up, and checks that no call
// changed anything (issue 13).
func TestDryRunChangesNothing(t *testing.T) {
	dir := t.TempDir()
	compose := "name: dry\nservices:\n  web:\n    image: busybox\n    build: .\n  db:\n    image: busybox\n    volumes: [data:/data]\nvolumes:\n  data: {}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := servicetest.NewFake()
	sw := servicetest.NewSwarmFake(f) // the fake is also a swarm manager, for deploy
	f.AddImage("busybox", "sha256:b0")
	f.AddImage("dry-web", "sha256:b1")
	env := []string{"BERTH_NO_CACHE=1", "HOME=" + t.TempDir()}
	cli := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		g := &globals{stdio: Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}, env: env, wd: dir,
			newBackend: func(context.Context) (service.Backend, func(), error) { return sw, func() {}, nil }}
		code := runWith(context.Background(), g, args)
		return out.String(), errOut.String(), code
	}
	if _, errOut, code := cli("up", "-d"); code != 0 {
		t.Fatalf("up: %d %s", code, errOut)
	}

	// every command is classified
	var all []string
	var walk func(c *cobra.Command, prefix string)
	walk = func(c *cobra.Command, prefix string) {
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			name := strings.TrimSpace(prefix + " " + sub.Name())
			if sub.HasSubCommands() {
				walk(sub, name)
				continue
			}
			all = append(all, name)
		}
	}
	walk(newRoot(&globals{}), "")
	sort.Strings(all)
	for _, name := range all {
		if _, ok := mutating[name]; !ok && !contains(readOnly, name) {
			t.Errorf("command %q is neither in mutating nor in readOnly: say whether it changes state (and test its --dry-run)", name)
		}
	}

	// the check sees a change: without --dry-run, stop stops
	f.ResetCalls()
	if _, errOut, code := cli("stop"); code != 0 {
		t.Fatalf("stop: %d %s", code, errOut)
	}
	if calls := f.Calls(); !slices.ContainsFunc(calls, func(c servicetest.Call) bool { return c.Op == "StopContainer" }) {
		t.Fatalf("stop made no StopContainer call: %+v", calls)
	}
	if _, errOut, code := cli("start"); code != 0 {
		t.Fatalf("start: %d %s", code, errOut)
	}

	for name, args := range mutating {
		if args == nil {
			continue
		}
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			f.ResetCalls()
			out, errOut, code := cli(append([]string{"--dry-run"}, args...)...)
			if code != 0 {
				t.Errorf("--dry-run %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
			}
			for _, c := range f.Calls() {
				if changes(c.Op) {
					t.Errorf("--dry-run %s called %s %s", strings.Join(args, " "), c.Op, c.Object)
				}
			}
		})
	}
}

// changes reports whether a backend call changes state.
func changes(op string) bool {
	for _, p := range []string{"List", "Inspect", "Events", "Logs", "Wait", "Stats", "Top", "CopyFrom", "Attach", "Resize"} {
		if strings.HasPrefix(op, p) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
