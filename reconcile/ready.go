package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// CondReady is up --wait's condition for a service that may be a one-shot
// (restart "no" or none): running (healthy where it has a healthcheck), or
// exited 0.
const CondReady = "ready"

// failureLogLines is how many of a failed container's last log lines a
// readiness failure quotes.
const failureLogLines = 20

// OneShot reports whether a service may exit on its own and be done: its
// restart policy is "no" or absent (and deploy's restart_policy, if any,
// is "none").
func OneShot(s types.ServiceConfig) bool {
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil && s.Deploy.RestartPolicy.Condition != "" {
		return s.Deploy.RestartPolicy.Condition == "none"
	}
	return s.Restart == "" || s.Restart == types.RestartPolicyNo
}

// WaitConditions are up --wait's conditions for the containers cs of p
// (its service containers, one-offs left out): completed (exited 0) for a
// service another depends on with service_completed_successfully, ready
// (running, or exited 0) for a one-shot, else running and healthy where
// there is a healthcheck.
func WaitConditions(p *project.Project, cs []service.Container) map[string]string {
	completed := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.Config.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				completed[dep] = true
			}
		}
	}
	conds := map[string]string{}
	for _, c := range cs {
		svc := c.Labels[service.LabelService]
		cond := CondRunningOrHealthy
		switch s := p.Service(svc); {
		case completed[svc]:
			cond = CondCompleted
		case s != nil && OneShot(s.Config):
			cond = CondReady
		}
		conds[c.Name] = cond
	}
	return conds
}

// NotReadyError is a readiness failure with what there is to know about the
// container: its state, exit code, health and last probe output, and its
// last log lines.
type NotReadyError struct {
	// Service and Container name what failed.
	Service, Container string
	// Err is the failure itself.
	Err error
	// State, ExitCode and Health are the container's at the failure.
	State    string
	ExitCode int
	Health   string
	// HealthOutput is what its last healthcheck probe printed.
	HealthOutput string
	// Logs are its last log lines.
	Logs []string
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s is not ready: %v", e.Service, e.Err)
	fmt.Fprintf(&b, "\n  container %s: %s", e.Container, e.State)
	if e.State == service.StateExited || e.State == service.StateDead {
		fmt.Fprintf(&b, ", exit code %d", e.ExitCode)
	}
	if e.Health != "" {
		fmt.Fprintf(&b, ", health %s", e.Health)
	}
	if out := strings.TrimSpace(e.HealthOutput); out != "" {
		fmt.Fprintf(&b, "\n  last health check output:\n    %s", strings.ReplaceAll(out, "\n", "\n    "))
	}
	if len(e.Logs) > 0 {
		fmt.Fprintf(&b, "\n  last %d log lines:\n    %s", len(e.Logs), strings.Join(e.Logs, "\n    "))
	}
	return b.String()
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// WaitUp waits until every container named in conds meets its condition,
// as up --wait does. When one never will, the error is a *NotReadyError
// about it. A timeout is ctx's: the error then names the containers not
// ready yet and what they are.
func WaitUp(ctx context.Context, b service.Backend, projectName string, conds map[string]string) error {
	err := WaitReady(ctx, b, projectName, conds)
	if err == nil {
		return nil
	}
	// which container: the first that fails its condition now, else (a
	// timeout) every one not ready
	names := make([]string, 0, len(conds))
	for n := range conds {
		names = append(names, n)
	}
	sort.Strings(names)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var pending []string
	for _, n := range names {
		c, ierr := b.InspectContainer(dctx, n)
		if ierr != nil {
			continue
		}
		ok, cerr := Check(c, conds[n])
		switch {
		case cerr != nil:
			return describeNotReady(dctx, b, c, cerr)
		case !ok:
			pending = append(pending, fmt.Sprintf("%s (%s)", c.Name, strings.ToLower(service.StatusText(c, time.Now()))))
		}
	}
	if errors.Is(err, context.DeadlineExceeded) && len(pending) > 0 {
		return fmt.Errorf("%w: not ready: %s", err, strings.Join(pending, ", "))
	}
	return err
}

// describeNotReady gathers what there is to say of c, which failed with err.
func describeNotReady(ctx context.Context, b service.Backend, c service.Container, err error) *NotReadyError {
	e := &NotReadyError{Service: c.Labels[service.LabelService], Container: c.Name, Err: err,
		State: c.State, ExitCode: c.ExitCode, Health: c.Health, HealthOutput: c.HealthOutput}
	if l, ok := b.(service.Logger); ok {
		var out bytes.Buffer
		w := &lockedWriter{w: &out}
		if l.Logs(ctx, c.ID, service.LogOptions{Stdout: true, Stderr: true, Tail: fmt.Sprint(failureLogLines)}, w, w) == nil {
			lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			if len(lines) > failureLogLines {
				lines = lines[len(lines)-failureLogLines:]
			}
			if len(lines) > 0 && lines[0] != "" {
				e.Logs = lines
			}
		}
	}
	return e
}

// lockedWriter serialises writes from a backend's stdout and stderr copies.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
