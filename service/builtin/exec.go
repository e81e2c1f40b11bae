package builtin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/confine"
	"github.com/berthdev/berth/service/builtin/image"
	"github.com/berthdev/berth/service/builtin/proc"
	"github.com/berthdev/berth/service/builtin/records"
)

// Exec implements service.Execer: the command runs in the container
// through the exec helper (proc.ExecMain), confined as the container's init
// is: its capabilities, no_new_privs, seccomp filter, cgroup, namespaces,
// root, user and groups.
func (b *Backend) Exec(ctx context.Context, ref string, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	r, err := b.get(ref)
	if err != nil {
		return 0, err
	}
	if r.State.Status != service.StateRunning {
		return 0, fmt.Errorf("exec in container %s: it is %s, not running: %w", r.Name, r.State.Status, service.ErrConflict)
	}
	if len(spec.Cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command", r.Name)
	}
	confine, err := b.confinement(r.Spec)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	cmd, cfg := b.execCmd(ctx, r, spec, confine)
	if spec.Tty && !spec.Detach {
		return b.execTTY(r, cmd, cfg, stdin, stdout, spec)
	}
	if !spec.Detach {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	}
	h, err := startHelper(cmd, cfg)
	if err != nil {
		return execFailed(r, err, stdout, spec)
	}
	if spec.Detach {
		go cmd.Wait() //nolint:errcheck // reaped, not watched
		return 0, nil
	}
	return h.wait(r)
}

// execFailed turns a helper that could not start the command into the
// engine's answer: the message on the exec's output, 126.
func execFailed(r *records.Container, err error, stdout io.Writer, spec service.ExecSpec) (int, error) {
	var se *proc.StartError
	if !errors.As(err, &se) {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	if stdout != nil && !spec.Detach {
		fmt.Fprintf(stdout, "exec failed: %s\n", se.Msg)
	}
	return 126, nil
}

// execTTY runs the helper on a new terminal, copying stdin to it and its
// output to stdout; the helper makes it the command's controlling
// terminal.
func (b *Backend) execTTY(r *records.Container, cmd *exec.Cmd, cfg *proc.ExecConfig, stdin io.Reader, stdout io.Writer, spec service.ExecSpec) (int, error) {
	master, slave, err := proc.OpenPty()
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: allocate a terminal: %w", r.Name, err)
	}
	defer master.Close()
	proc.SetWinsize(master, spec.Size)
	if spec.Resize != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case sz, ok := <-spec.Resize:
					if !ok {
						return
					}
					proc.SetWinsize(master, sz)
				case <-stop:
					return
				}
			}
		}()
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cfg.Tty = true
	h, err := startHelper(cmd, cfg)
	slave.Close()
	if err != nil {
		return execFailed(r, err, stdout, spec)
	}
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(stdout, proc.PtyReader{File: master}); close(done) }()
	code, err := h.wait(r)
	<-done
	return code, err
}

// execCmd prepares (does not start) the helper that runs spec in r,
// confined by conf (b.confinement of the container), as the user, in
// the working directory and with the environment docker gives an exec: the
// container's env with the exec's on top.
func (b *Backend) execCmd(ctx context.Context, r *records.Container, spec service.ExecSpec, conf confine.Confinement) (*exec.Cmd, *proc.ExecConfig) {
	if spec.Privileged {
		// As dockerd: every capability; the container's filter stays.
		conf.Caps, _ = confine.CapSet(nil, nil, true)
	}
	cfg := &proc.ExecConfig{
		Pid: r.State.Pid, PidStart: r.State.PidStart,
		Cgroups: cgroup.Open(r.ID, b.cg).Paths(),
		Args:    spec.Cmd, Env: image.MergeEnv(r.Process.Env, spec.Env),
		Cwd: r.Process.Cwd, User: r.Process.User, GroupAdd: r.Spec.GroupAdd,
		Rlimits: r.Spec.Ulimits, Confine: conf,
	}
	if spec.User != "" {
		cfg.User = spec.User
	}
	if spec.WorkingDir != "" {
		cfg.Cwd = spec.WorkingDir
	}
	if cfg.Cwd == "" {
		cfg.Cwd = "/"
	}
	cfg.Detach = spec.Detach
	cmd := exec.CommandContext(ctx, b.exe, proc.ExecCommand)
	cmd.Env = helperEnv()
	// startHelper sets Cancel; a helper that outlives it is killed after
	// a while.
	cmd.WaitDelay = 5 * time.Second
	return cmd, cfg
}

// helper is a started exec helper.
type helper struct {
	cmd *exec.Cmd
	// lifeline is the config pipe's write end, kept open while the
	// command runs (nil when detached): closing it — cancel does, and so
	// does the death of this process — makes the helper kill the command.
	lifeline *os.File
}

// wait waits for the helper and returns the command's exit status.
func (h *helper) wait(r *records.Container) (int, error) {
	err := h.cmd.Wait()
	if h.lifeline != nil {
		h.lifeline.Close()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return proc.ExitStatus(ee.ProcessState), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	return 0, nil
}

// startHelper starts the exec helper cmd with cfg and returns once the
// command runs in the container, or with a *proc.StartError saying why it
// could not start.
func startHelper(cmd *exec.Cmd, cfg *proc.ExecConfig) (*helper, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		cfgW.Close()
		return nil, err
	}
	defer stR.Close()
	defer stW.Close()
	cmd.ExtraFiles = []*os.File{cfgR, stW}
	// A cancelled context cuts the lifeline: the helper kills the command
	// and exits (cmd.WaitDelay bounds a helper that would not).
	cmd.Cancel = func() error { return cfgW.Close() }
	if err := cmd.Start(); err != nil {
		cfgW.Close()
		return nil, fmt.Errorf("start the exec helper: %w", err)
	}
	cfgR.Close()
	stW.Close()
	h := &helper{cmd: cmd, lifeline: cfgW}
	err = json.NewEncoder(cfgW).Encode(cfg)
	if cfg.Detach || err != nil {
		cfgW.Close()
		h.lifeline = nil
	}
	msg, _ := io.ReadAll(stR)
	if len(msg) > 0 || err != nil {
		_ = cmd.Wait()
		cfgW.Close()
		if len(msg) == 0 {
			return nil, fmt.Errorf("the exec helper exited before running the command: %v", err)
		}
		return nil, proc.ParseStartError(string(msg))
	}
	return h, nil
}

// Top implements service.Toper: ps on the host, as the engine runs it,
// keeping the processes of the container's cgroup.
func (b *Backend) Top(ctx context.Context, ref string, psArgs []string) ([]string, [][]string, error) {
	r, err := b.get(ref)
	if err != nil {
		return nil, nil, err
	}
	if r.State.Status != service.StateRunning && r.State.Status != service.StatePaused {
		return nil, nil, fmt.Errorf("top of container %s: it is not running: %w", r.Name, service.ErrConflict)
	}
	pids, err := cgroup.Open(r.ID, b.cg).Procs()
	if err != nil {
		return nil, nil, fmt.Errorf("top of container %s: %w", r.Name, err)
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.CommandContext(ctx, "ps", psArgs...).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("top of container %s: ps %s: %w", r.Name, strings.Join(psArgs, " "), err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("top of container %s: ps printed nothing", r.Name)
	}
	titles := strings.Fields(sc.Text())
	pidCol := slices.Index(titles, "PID")
	if pidCol < 0 {
		return nil, nil, fmt.Errorf("top of container %s: ps %s prints no PID column", r.Name, strings.Join(psArgs, " "))
	}
	var rows [][]string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < len(titles) {
			continue
		}
		// The last column takes the rest of the line (the command).
		row := append(f[:len(titles)-1:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		if pid, err := strconv.Atoi(row[pidCol]); err == nil && slices.Contains(pids, pid) {
			rows = append(rows, row)
		}
	}
	return titles, rows, nil
}

// healthLoop runs the container's healthcheck for the run ctx covers, as
// docker does: the first probe after an interval (start_interval during
// the start period), failures in the start period not counted. The probes
// are confined as the container's init (confine).
func (s *shim) healthLoop(ctx context.Context, r *records.Container, confine confine.Confinement) {
	h := *r.Health
	interval := orDefault(h.Interval, 30*time.Second)
	timeout := orDefault(h.Timeout, 30*time.Second)
	startInterval := orDefault(h.StartInterval, 5*time.Second)
	retries := h.Retries
	if retries <= 0 {
		retries = 3
	}
	test := h.Test
	switch {
	case len(test) > 0 && test[0] == "CMD-SHELL":
		test = []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}
	case len(test) > 0 && test[0] == "CMD":
		test = test[1:]
	}
	if len(test) == 0 {
		return
	}
	started := time.Now()
	for {
		wait := interval
		inStart := time.Since(started) < h.StartPeriod
		if inStart && h.StartInterval > 0 {
			wait = startInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if cur, err := s.b.load(s.id); err == nil && cur.State.Status == service.StatePaused {
			// A probe would freeze in the container's frozen cgroup:
			// none while paused; the health stays what it was.
			continue
		}
		inStart = time.Since(started) < h.StartPeriod
		ok, output := s.probe(ctx, test, timeout, confine)
		if ctx.Err() != nil {
			return
		}
		var changed bool
		nr, err := s.b.update(s.id, func(r *records.Container) error {
			if r.State.Status != service.StateRunning {
				return nil
			}
			before := r.State.Health
			r.State.HealthOutput = output
			switch {
			case ok:
				r.State.FailingStreak = 0
				r.State.Health = service.HealthHealthy
			case inStart:
			default:
				r.State.FailingStreak++
				if r.State.FailingStreak >= retries {
					r.State.Health = service.HealthUnhealthy
				}
			}
			changed = before != r.State.Health
			return nil
		})
		if err == nil && changed {
			s.b.emit(nr, "health_status: "+nr.State.Health, 0)
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// maxProbeOutput bounds the output of a probe kept, as docker keeps 4 KiB.
const maxProbeOutput = 4096

// probe runs one healthcheck command; it passes when it exits 0 in time.
// It returns what the command printed (standard output and error), or why
// it could not run.
func (s *shim) probe(ctx context.Context, test []string, timeout time.Duration, confine confine.Confinement) (bool, string) {
	cur, err := s.b.load(s.id)
	if err != nil || cur.State.Pid == 0 {
		return false, "the container is not running"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd, cfg := s.b.execCmd(ctx, cur, service.ExecSpec{Cmd: test}, confine)
	out := &probeOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	h, err := startHelper(cmd, cfg)
	if err != nil {
		return false, err.Error()
	}
	code, err := h.wait(cur)
	switch {
	case ctx.Err() != nil:
		return false, fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	case err != nil:
		return false, err.Error()
	}
	return code == 0, out.String()
}

// probeOutput keeps the first maxProbeOutput bytes written to it.
type probeOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *probeOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if room := maxProbeOutput - p.buf.Len(); room > 0 {
		p.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (p *probeOutput) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}
