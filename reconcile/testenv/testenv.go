// Package testenv runs a scripted test environment, the whole of a CI job
// in one call (berth test): a project under a unique name is brought up and
// waited for, its endpoints are handed to a test command (its environment
// and a JSON file), the command's exit code becomes the result, the logs of
// every service are kept when it fails, and the project is taken down at
// the end — also when the context is cancelled (SIGINT, SIGTERM) or the
// time runs out — unless it failed and KeepOnFailure asks to keep it.
//
// Bringing up, running and taking down are Steps the caller gives (the
// command line passes up --wait, run --rm and down -v --remove-orphans, so
// that they are the very code those commands run); Run sequences them,
// bounds them in time and does the rest on the backend.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// Exit codes Run gives when the test command did not decide.
const (
	// CodeSetupFailed: the project did not come up (or its endpoints could
	// not be read), or the command could not be started.
	CodeSetupFailed = 1
	// CodeTimeout: Timeout ran out (as timeout(1)).
	CodeTimeout = 124
	// CodeInterrupted: the context was cancelled (Ctrl+C, SIGTERM).
	CodeInterrupted = 130
)

// DefaultTeardownTimeout bounds the logs and the teardown after the run
// (they run after a cancellation, so not under the run's context).
const DefaultTeardownTimeout = 2 * time.Minute

// Steps are what Run does to the project named project.
type Steps struct {
	// Up creates and starts the project and returns once it is ready (up
	// -d --wait).
	Up func(ctx context.Context, project string) error
	// Test runs the test command, env added to its environment, and
	// returns its exit code; an error means it could not run.
	Test func(ctx context.Context, project string, env []string) (int, error)
	// Down removes everything of the project (down -v --remove-orphans).
	Down func(ctx context.Context, project string) error
}

// Options steer Run.
type Options struct {
	// Project is the project name; empty: UniqueName(Base).
	Project string
	// Base is the start of a generated project name.
	Base string
	// Timeout bounds the run (up, the command), not the teardown; 0: no
	// bound.
	Timeout time.Duration
	// KeepOnFailure leaves the project up when the run failed (not when it
	// was interrupted), for a look at it.
	KeepOnFailure bool
	// EndpointsFile, if set, receives the endpoints as JSON
	// (reconcile.EndpointsDocument, as berth endpoints --format json).
	EndpointsFile string
	// LogsDir receives, when the run failed, the logs and health of every
	// service (reconcile.WriteLogFiles); empty: none written.
	LogsDir string
	// TeardownTimeout bounds the logs and the teardown
	// (DefaultTeardownTimeout when 0).
	TeardownTimeout time.Duration
	// Messages receives one line per stage ("project X", where the logs
	// went); nil: none.
	Messages io.Writer
}

// Result is what a run came to.
type Result struct {
	// Project is the project name used.
	Project string
	// Code is the exit code: the test command's, else one of the Code*
	// constants.
	Code int
	// LogFiles are the log files written (on failure).
	LogFiles []string
	// Kept is true when the project was left up (KeepOnFailure).
	Kept bool
}

// UniqueName is base (or "berth-test") followed by a dash and 8 random
// hex digits: a project name no other run picks.
func UniqueName(base string) string {
	if base == "" {
		base = "berth-test"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base + "-" + hex.EncodeToString(b[:])
}

// Run brings the project up, runs the test command with the endpoints in
// its environment and takes the project down (see the package doc). The
// error says why the command's code is not the result (setup failed, time
// ran out, interrupted; a teardown that failed is joined). The result's
// Code is always set.
func Run(ctx context.Context, b service.Backend, o Options, steps Steps) (Result, error) {
	res := Result{Project: o.Project}
	if res.Project == "" {
		res.Project = UniqueName(o.Base)
	}
	say := func(format string, args ...any) {
		if o.Messages != nil {
			fmt.Fprintf(o.Messages, format+"\n", args...)
		}
	}
	say("berth test: project %s", res.Project)

	rctx, cancel := ctx, context.CancelFunc(func() {})
	if o.Timeout > 0 {
		rctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, errTimeout)
	}
	code, runErr := run(rctx, b, o, steps, res.Project)
	cancel()
	// classify: the caller's cancellation, the timeout, else the steps
	switch {
	case ctx.Err() != nil:
		code, runErr = CodeInterrupted, fmt.Errorf("berth test: interrupted: %w", context.Cause(ctx))
	case errors.Is(context.Cause(rctx), errTimeout) && (runErr != nil || code != 0):
		code, runErr = CodeTimeout, fmt.Errorf("berth test: %w after %s (project %s)", errTimeout, o.Timeout, res.Project)
	}
	res.Code = code
	failed := code != 0 || runErr != nil
	if failed && res.Code == 0 {
		res.Code = CodeSetupFailed
	}

	tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), cmpOr(o.TeardownTimeout, DefaultTeardownTimeout))
	defer tcancel()
	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	if failed && o.LogsDir != "" {
		files, err := reconcile.WriteLogFiles(tctx, b, res.Project, o.LogsDir, reconcile.LogFilesOptions{Health: true})
		if err != nil {
			errs = append(errs, fmt.Errorf("berth test: write logs: %w", err))
		}
		res.LogFiles = files
		if len(files) > 0 {
			say("berth test: logs of %d services in %s", len(files), o.LogsDir)
		}
	}
	if failed && o.KeepOnFailure && ctx.Err() == nil {
		res.Kept = true
		say("berth test: project %s kept (remove it with: berth -p %s down -v --remove-orphans)", res.Project, res.Project)
		return res, errors.Join(errs...)
	}
	if err := steps.Down(tctx, res.Project); err != nil {
		errs = append(errs, fmt.Errorf("berth test: take project %s down: %w", res.Project, err))
	}
	return res, errors.Join(errs...)
}

var errTimeout = errors.New("timeout")

// run is up, the endpoints, and the test command; it returns when the
// command is done or ctx is, whichever comes first (a step that ignores
// ctx is left to finish on its own: the teardown removes what it acts on).
func run(ctx context.Context, b service.Backend, o Options, steps Steps, project string) (int, error) {
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := setupAndTest(ctx, b, o, steps, project)
		done <- result{code, err}
	}()
	select {
	case r := <-done:
		return r.code, r.err
	case <-ctx.Done():
	}
	// give the step a moment to see the cancellation (a command its
	// SIGTERM), so that the teardown does not race it
	t := time.NewTimer(stepGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return CodeInterrupted, context.Cause(ctx)
}

// stepGrace is how long run waits for a step to return once cancelled.
const stepGrace = 10 * time.Second

func setupAndTest(ctx context.Context, b service.Backend, o Options, steps Steps, project string) (int, error) {
	if err := steps.Up(ctx, project); err != nil {
		return CodeSetupFailed, err
	}
	eps, err := reconcile.Endpoints(ctx, b, project, nil)
	if err != nil {
		return CodeSetupFailed, err
	}
	if o.EndpointsFile != "" {
		if err := writeEndpoints(o.EndpointsFile, project, eps); err != nil {
			return CodeSetupFailed, err
		}
	}
	env := append([]string{"COMPOSE_PROJECT_NAME=" + project}, reconcile.EndpointEnv(eps)...)
	return steps.Test(ctx, project, env)
}

// writeEndpoints writes the endpoints document to path.
func writeEndpoints(path, project string, eps []reconcile.Endpoint) error {
	data, err := json.MarshalIndent(reconcile.NewEndpointsDocument(project, eps), "", "  ")
	if err != nil {
		return fmt.Errorf("endpoints file: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("endpoints file: %w", err)
		}
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("endpoints file: %w", err)
	}
	return nil
}

// HostCommand is a Steps.Test that runs argv on this host, with the
// process's environment plus env, its output to stdout and stderr, in a
// process group of its own. When ctx is done the group gets SIGTERM, then
// SIGKILL after grace. A command killed by a signal gives 128+signal, as a
// shell does.
func HostCommand(argv []string, stdin io.Reader, stdout, stderr io.Writer, grace time.Duration) func(ctx context.Context, project string, env []string) (int, error) {
	return func(ctx context.Context, _ string, env []string) (int, error) {
		if len(argv) == 0 {
			return CodeSetupFailed, errors.New("berth test: no command to run (give one after --, or --service)")
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		// its own process group, so that the whole tree it starts (make,
		// go test and the test binaries) is signalled, not only its head
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = grace
		err := cmd.Run()
		if cmd.Process != nil && ctx.Err() != nil {
			// what of the group outlived grace
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, nil
		case errors.As(err, &ee):
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ee.ExitCode(), nil
		default:
			return CodeSetupFailed, fmt.Errorf("berth test: run %s: %w", argv[0], err)
		}
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
