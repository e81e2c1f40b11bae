package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
)

// TestBenchBuiltin prints the built-in runtime's figures next to the
// engine's (BERTH_BENCH=1, make bench): a container's start (create,
// start, wait for `true` to exit, remove) through each backend in-process
// and through the CLIs, and a 20-service project's up and down.
func TestBenchBuiltin(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("set BERTH_BENCH=1 (make bench)")
	}
	requireEngine(t)
	requireBuiltin(t)
	ctx := context.Background()
	root := builtinRoot(t)
	bb, err := builtin.Open(builtin.Options{Root: root, Exe: berthBin})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := engine.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer eb.Close()

	type row struct {
		what             string
		builtin, against time.Duration
		vs               string
		compose          time.Duration // docker compose's figure, when it runs here
	}
	compose := composeTools(t)
	var rows []row
	prefix := projectName("benchbuiltin")
	startOnce := func(b service.Backend) func() error {
		n := 0
		return func() error {
			n++
			id, err := b.CreateContainer(ctx, service.ContainerSpec{Name: fmt.Sprintf("%s-%d", prefix, n), Image: busyboxImage(), Command: []string{"true"},
				Labels: map[string]string{service.LabelProject: prefix}})
			if err != nil {
				return err
			}
			if err := b.StartContainer(ctx, id); err != nil {
				return err
			}
			if _, err := b.(service.Waiter).WaitContainer(ctx, id); err != nil {
				return err
			}
			return b.RemoveContainer(ctx, id, service.RemoveOptions{Force: true})
		}
	}
	rows = append(rows, row{"container start (create, start, exit, rm)", timeIt(t, nil, startOnce(bb)), timeIt(t, nil, startOnce(eb)), "engine API", 0})

	p := newBuiltinProject(t, map[string]string{"compose.yaml": servicesFile(20)})
	cli := func(env []string, args ...string) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			r := command(ctx, p.dir, append(p.environ(), env...), nil, args[0], args[1:]...)
			if r.code != 0 {
				return fmt.Errorf("%s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
			}
			return nil
		}
	}
	engineEnv := []string{"BERTH_BACKEND=engine", "DOCKER_HOST=unix:///var/run/docker.sock"}
	rows = append(rows, row{"run --rm s001 true", timeIt(t, nil, cli(nil, berthBin, "run", "--rm", "s001", "true")),
		timeIt(t, nil, cli(engineEnv, "docker", "run", "--rm", "--network", "none", busyboxImage(), "true")), "docker run --rm", 0})

	// 20 services: builtin berth against berth on the engine, then
	// against docker compose on the engine (after berth's containers went:
	// both tools name the project's network alike).
	cases := []struct {
		what string
		args []string
		pre  []string
	}{
		{"cold up -d, 20 services", []string{"up", "-d"}, []string{"down", "-t", "0"}},
		{"no-op up -d, 20 running", []string{"up", "-d"}, nil},
		{"down -t 0, 20 services", []string{"down", "-t", "0"}, []string{"up", "-d"}},
	}
	first := len(rows)
	for _, c := range cases {
		var setupB, setupE func() error
		if c.pre != nil {
			setupB = cli(nil, append([]string{berthBin}, c.pre...)...)
			setupE = cli(engineEnv, append([]string{berthBin}, c.pre...)...)
		}
		rows = append(rows, row{what: c.what,
			builtin: timeIt(t, setupB, cli(nil, append([]string{berthBin}, c.args...)...)),
			against: timeIt(t, setupE, cli(engineEnv, append([]string{berthBin}, c.args...)...)), vs: "berth on the engine"})
	}
	_ = cli(nil, berthBin, "down", "-t", "0")()
	_ = cli(engineEnv, berthBin, "down", "-t", "0")()
	if len(compose) > 0 {
		argv := compose[0].argv
		for i, c := range cases {
			var setupC func() error
			if c.pre != nil {
				setupC = cli(engineEnv, append(slices.Clone(argv), c.pre...)...)
			}
			rows[first+i].compose = timeIt(t, setupC, cli(engineEnv, append(slices.Clone(argv), c.args...)...))
		}
		_ = cli(engineEnv, append(slices.Clone(argv), "down", "-t", "0")...)()
	}
	p.env = append(p.env, engineEnv...) // the cleanup's view

	var out strings.Builder
	fmt.Fprintf(&out, "\nbuilt-in runtime, medians of %d runs (%s)\n", benchRuns, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&out, "%-44s%14s%14s   %s\n", "", "builtin", "against", "ratio")
	for _, r := range rows {
		fmt.Fprintf(&out, "%-44s%14s%14s   builtin = %.2f× %s\n", r.what, r.builtin.Round(time.Millisecond), r.against.Round(time.Millisecond),
			float64(r.builtin)/float64(r.against), r.vs)
		if r.compose > 0 {
			fmt.Fprintf(&out, "%-44s%14s%14s   builtin = %.2f× %s on the engine\n", "", "", r.compose.Round(time.Millisecond),
				float64(r.builtin)/float64(r.compose), compose[0].name)
		}
	}
	if len(compose) == 0 {
		fmt.Fprintln(&out, "(no docker compose on PATH: no figures for it)")
	}
	fmt.Print(out.String())
}
