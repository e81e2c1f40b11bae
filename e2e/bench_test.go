package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/engine"
)

// benchRuns is how many times each figure is measured; the median is shown.
const benchRuns = 5

// servicesFile is a project of n idle services.
func servicesFile(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  s%03d:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n", i, busyboxImage())
	}
	return b.String()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// timeIt runs fn benchRuns times (setup before each, untimed) and returns the median.
func timeIt(t *testing.T, setup, fn func() error) time.Duration {
	t.Helper()
	var ds []time.Duration
	for i := 0; i < benchRuns; i++ {
		if setup != nil {
			if err := setup(); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds)
}

// tool runs a compose-compatible CLI (berth, or docker compose) on a project.
type tool struct {
	name string
	argv []string // the command, before the subcommand
}

func (tl tool) run(p *testProject, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	argv := append(append([]string{}, tl.argv[1:]...), args...)
	r := command(ctx, p.dir, p.environ(), nil, tl.argv[0], argv...)
	if r.code != 0 {
		return fmt.Errorf("%s %s: exit %d: %s", tl.name, strings.Join(args, " "), r.code, r.stderr)
	}
	return nil
}

// composeTools finds docker compose: the reference v5.5.0 binary of
// ../shared/peers (built unmodified from docker/compose), else the v2
// plugin on PATH, else the standalone docker-compose (v2, or v1 named with
// its version).
func composeTools(t *testing.T) []tool {
	if ref := referenceComposeOrEmpty(t, "v5.5.0"); ref != "" {
		return []tool{{"docker compose v5.5.0", []string{ref}}}
	}
	return composeOnPath()
}

// referenceComposeOrEmpty is referenceCompose's binary, or "" when the
// reference binaries cannot be installed here (no skip, no failure: the
// benchmarks then use what is on PATH).
func referenceComposeOrEmpty(t *testing.T, version string) string {
	var bin string
	t.Run("reference-"+version, func(t *testing.T) { bin = referenceCompose(t, version) })
	return bin
}

// composeOnPath finds docker compose on PATH.
func composeOnPath() []tool {
	var out []tool
	if exec.Command("docker", "compose", "version").Run() == nil {
		out = append(out, tool{"docker compose", []string{"docker", "compose"}})
	} else if path, err := exec.LookPath("docker-compose"); err == nil {
		b, err := exec.Command(path, "version", "--short").Output()
		switch v := strings.TrimSpace(string(b)); {
		case err != nil:
		case strings.HasPrefix(v, "2"):
			out = append(out, tool{"docker-compose", []string{path}})
		default: // Debian's 1.x: another program, still the field's figure
			out = append(out, tool{"docker-compose " + v, []string{path}})
		}
	}
	return out
}

// TestBenchReport prints berth's figures (and docker compose's, when it is
// on PATH) as medians of benchRuns runs. It runs with BERTH_BENCH=1 (make
// bench), not in make test: timings are measured, not asserted.
func TestBenchReport(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("set BERTH_BENCH=1 (make bench)")
	}
	requireEngine(t)
	tools := append([]tool{{"berth", []string{berthBin}}}, composeTools(t)...)
	type row struct {
		what string
		by   map[string]time.Duration
	}
	var rows []row
	add := func(what, who string, d time.Duration) {
		for i := range rows {
			if rows[i].what == what {
				rows[i].by[who] = d
				return
			}
		}
		rows = append(rows, row{what, map[string]time.Duration{who: d}})
	}

	for _, tl := range tools {
		p := newProject(t, map[string]string{"compose.yaml": servicesFile(20)})
		down := func() error { return tl.run(p, "down", "-t", "0") }
		up := func() error { return tl.run(p, "up", "-d") }
		add("cold up -d, 20 services", tl.name, timeIt(t, down, up))
		add("no-op up -d, 20 running", tl.name, timeIt(t, nil, up))
		add("ps, 20 running", tl.name, timeIt(t, nil, func() error { return tl.run(p, "ps") }))
		add("config", tl.name, timeIt(t, nil, func() error { return tl.run(p, "config") }))
		add("down -t 0, 20 services", tl.name, timeIt(t, up, down))

		big := newProject(t, map[string]string{"compose.yaml": servicesFile(200)})
		if err := tl.run(big, "up", "-d"); err != nil {
			t.Fatal(err)
		}
		add("no-op up -d, 200 running", tl.name, timeIt(t, nil, func() error { return tl.run(big, "up", "-d") }))
		if err := tl.run(big, "down", "-t", "0"); err != nil {
			t.Fatal(err)
		}
	}

	// the engine's floor: 20 containers created and started straight
	// through the API, all at once; then removed all at once
	ctx := context.Background()
	b, err := engine.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	prefix := projectName("floor")
	all := func(fn func(i int) error) error {
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = fn(i) }()
		}
		wg.Wait()
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
		return nil
	}
	name := func(i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
	netName := prefix + "_default"
	labels := map[string]string{service.LabelProject: prefix}
	// the same containers as berth's: on a project network, with aliases
	create := func() error {
		if _, err := b.CreateNetwork(ctx, service.NetworkSpec{Name: netName, Labels: labels}); err != nil {
			return err
		}
		return all(func(i int) error {
			if _, err := b.CreateContainer(ctx, service.ContainerSpec{Name: name(i), Image: busyboxImage(), Command: []string{"sleep", "3600"}, StopSignal: "SIGKILL",
				Labels: labels, Networks: []service.Endpoint{{Network: netName, Aliases: []string{name(i), fmt.Sprintf("s%03d", i)}}}}); err != nil {
				return err
			}
			return b.StartContainer(ctx, name(i))
		})
	}
	remove := func() error {
		err := all(func(i int) error { return b.RemoveContainer(ctx, name(i), service.RemoveOptions{Force: true}) })
		if nerr := b.RemoveNetwork(ctx, netName); nerr != nil && err == nil && !errors.Is(nerr, service.ErrNotFound) {
			err = nerr
		}
		return err
	}
	defer func() { _ = remove() }()
	add("cold up -d, 20 services", "engine floor", timeIt(t, func() error { _ = remove(); return nil }, create))
	add("down -t 0, 20 services", "engine floor", timeIt(t, func() error { _ = remove(); return create() }, remove))

	// the report
	cols := []string{"berth"}
	for _, tl := range tools[1:] {
		cols = append(cols, tl.name)
	}
	cols = append(cols, "engine floor")
	var out strings.Builder
	fmt.Fprintf(&out, "\nmedians of %d runs (%s)\n", benchRuns, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&out, "%-28s", "")
	for _, c := range cols {
		fmt.Fprintf(&out, "%16s", c)
	}
	fmt.Fprintf(&out, "%22s\n", "ratio")
	for _, r := range rows {
		fmt.Fprintf(&out, "%-28s", r.what)
		for _, c := range cols {
			if d, ok := r.by[c]; ok {
				fmt.Fprintf(&out, "%16s", d.Round(time.Millisecond))
			} else {
				fmt.Fprintf(&out, "%16s", "-")
			}
		}
		var ratios []string
		for _, c := range cols[1:] {
			if d, ok := r.by[c]; ok && d > 0 {
				ratios = append(ratios, fmt.Sprintf("berth = %.2f× %s", float64(r.by["berth"])/float64(d), c))
			}
		}
		if len(ratios) == 0 {
			ratios = []string{"-"}
		}
		fmt.Fprintf(&out, "   %s\n", strings.Join(ratios, ", "))
	}
	fmt.Print(out.String())
}
