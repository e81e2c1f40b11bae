package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthdev/berth/reconcile/testenv"
	"github.com/berthdev/berth/service"
)

// testOptions are berth test's flags.
type testOptions struct {
	keepOnFailure, fixedPorts bool
	timeout                   time.Duration
	endpointsFile, logsDir    string
	service                   string
}

func newTestCmd(g *globals) *cobra.Command {
	var o testOptions
	cmd := &cobra.Command{
		Use:   "test [OPTIONS] [-- COMMAND [ARGS...]]",
		Short: "Run a command against a fresh copy of the project, then remove it",
		Long: `Run a whole CI job: bring the project up under a unique name (printed;
-p NAME to choose it), wait until every service is ready (up -d --wait), run
COMMAND on this host with the endpoints in its environment (as berth endpoints
prints them, plus COMPOSE_PROJECT_NAME) — or, with --service S, a one-off
"run --rm S [COMMAND...]" of that service — and exit with its exit code.

Ports the files fix on the host are published on ephemeral ones (unless
--fixed-ports), so copies of one project run side by side. When the run
fails, the logs and health of every service go to --logs-dir, one file per
service. At the end the project is removed (down -v --remove-orphans), also
on Ctrl+C or SIGTERM, unless --keep-on-failure and the run failed.

Exit codes: the command's; 1 when the project did not come up; 124 when
--timeout ran out; 130 when interrupted.`,
		Example: `  berth test -- go test ./integration/...
  berth test --endpoints-file endpoints.json -- ./run-tests.sh
  berth test --service tests --timeout 10m`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTest(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&o.keepOnFailure, "keep-on-failure", false, "Leave the project up when the run fails")
	f.DurationVar(&o.timeout, "timeout", 0, "Bound the whole run, teardown aside (e.g. 10m; 0: none)")
	f.StringVar(&o.endpointsFile, "endpoints-file", "", "Write the endpoints there as JSON (as berth endpoints --format json)")
	f.StringVar(&o.logsDir, "logs-dir", "berth-logs", "Where the services' logs go when the run fails (one file per service)")
	f.StringVar(&o.service, "service", "", "Run the command in a one-off container of this service instead of on the host")
	f.BoolVar(&o.fixedPorts, "fixed-ports", false, "Publish ports on the host ports the files give (default: ephemeral ones)")
	return cmd
}

// runTest is berth test: testenv.Run with up, run and down as the steps.
func runTest(ctx context.Context, g *globals, o testOptions, command []string) error {
	if g.dryRun {
		return errors.New("berth test has no --dry-run: it runs a command (see up --dry-run for the plan)")
	}
	p, err := g.load(ctx, nil)
	if err != nil {
		return err
	}
	var upScope []string
	if o.service != "" {
		// as run, a service whose profile is not active may be named
		if sp, err := g.load(ctx, []string{o.service}); err != nil || sp.Service(o.service) == nil {
			return fmt.Errorf("--service: no such service: %s", o.service)
		}
		for _, s := range p.Services {
			if s.Name != o.service {
				upScope = append(upScope, s.Name)
			}
		}
	} else if len(command) == 0 {
		return errors.New("berth test: no command: give one after -- (berth test -- make check), or --service")
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	// the steps run commands on this name (set once: a cancelled step may
	// still be running while the teardown starts)
	if g.projectName == "" {
		g.projectName = testenv.UniqueName(p.Name)
	}
	eo := testenv.Options{
		Project: g.projectName, Timeout: o.timeout, KeepOnFailure: o.keepOnFailure,
		EndpointsFile: absIn(g.wd, o.endpointsFile), LogsDir: absIn(g.wd, o.logsDir), Messages: g.stdio.Err,
	}
	steps := testSteps(g, o, b, upScope, command)
	res, err := testenv.Run(ctx, b, eo, steps)
	switch {
	case err != nil:
		return &ExitError{Code: max(res.Code, 1), Msg: err.Error()}
	case res.Code != 0:
		return &ExitError{Code: res.Code}
	}
	return nil
}

// testSteps are berth test's steps: up (of upScope, or nothing when
// --service runs alone), the command on the host or in a one-off container
// of --service, and down.
func testSteps(g *globals, o testOptions, b service.Backend, upScope, command []string) testenv.Steps {
	steps := testenv.Steps{
		Up: func(ctx context.Context, _ string) error {
			if o.service != "" && len(upScope) == 0 {
				return nil // run brings up the networks and volumes
			}
			// a lifetime that outlives the run, owned by this process: a
			// berth test killed halfway is reaped by the next up or gc
			ttl := 24 * time.Hour
			if o.timeout > 0 {
				ttl = o.timeout + 30*time.Minute
			}
			return runUp(ctx, g, upOptions{wait: true, detach: true, ephemeralPorts: !o.fixedPorts, removeOrphans: true, pull: "policy", timeout: -1,
				ttl: ttl, ttlOwnedByBerth: true}, upScope)
		},
		Test: testenv.HostCommand(command, g.stdio.In, g.stdio.Out, g.stdio.Err, 10*time.Second),
		Down: func(ctx context.Context, name string) error {
			dp, _, err := g.projectOrName(ctx, nil)
			if err != nil {
				dp = nil // down by labels
			}
			unlock, err := g.lockProject(ctx, b, name)
			if err != nil {
				return err
			}
			defer unlock()
			return runDown(ctx, g, b, dp, name, downOptions{removeOrphans: true, volumes: true, timeout: -1})
		},
	}
	if o.service != "" {
		steps.Test = func(ctx context.Context, _ string, _ []string) (int, error) {
			err := runRun(ctx, g, runOptions{rm: true, noTTY: true, noDeps: true, images: imageFlags{pull: "policy"}}, o.service, command, false)
			var ee *ExitError
			switch {
			case err == nil:
				return 0, nil
			case errors.As(err, &ee):
				return ee.Code, nil
			}
			return testenv.CodeSetupFailed, err
		}
	}
	return steps
}

// absIn is path made absolute against dir ("" stays "").
func absIn(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
