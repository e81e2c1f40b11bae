package builtin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/image"
)

// Exec implements service.Execer by joining the container's namespaces
// with util-linux nsenter (a Go process cannot setns into a mount
// namespace itself).
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
	cmd, err := b.nsenter(ctx, r, spec)
	var se *startError
	if errors.As(err, &se) {
		// As the engine: the message on the exec's output, 126.
		if stdout != nil && !spec.Detach {
			fmt.Fprintf(stdout, "exec failed: %s\n", se.msg)
		}
		return 126, nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if spec.Tty && !spec.Detach {
		return b.execTTY(r, cmd, stdin, stdout, spec)
	}
	if spec.Detach {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
		}
		go cmd.Wait() //nolint:errcheck // reaped, not watched
		return 0, nil
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitStatus(ee.ProcessState), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	return 0, nil
}

func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	if s := ps.String(); strings.HasPrefix(s, "signal: ") {
		for i := 1; i < 65; i++ {
			if sig, _ := parseSignal(strconv.Itoa(i)); sig.String() == strings.TrimPrefix(s, "signal: ") {
				return 128 + i
			}
		}
	}
	return 137
}

// execTTY runs cmd on a new terminal, copying stdin to it and its output
// to stdout.
func (b *Backend) execTTY(r *record, cmd *exec.Cmd, stdin io.Reader, stdout io.Writer, spec service.ExecSpec) (int, error) {
	master, slave, err := openPty()
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: allocate a terminal: %w", r.Name, err)
	}
	defer master.Close()
	setWinsize(master, spec.Size)
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
					setWinsize(master, sz)
				case <-stop:
					return
				}
			}
		}()
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	setCtty(cmd)
	err = cmd.Start()
	slave.Close()
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(stdout, ptyReader{master}); close(done) }()
	err = cmd.Wait()
	<-done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitStatus(ee.ProcessState), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", r.Name, err)
	}
	return 0, nil
}

// nsenter prepares the command that runs spec in r's namespaces, as the
// user, in the working directory and with the environment docker gives an
// exec: the container's env with the exec's on top.
func (b *Backend) nsenter(ctx context.Context, r *record, spec service.ExecSpec) (*exec.Cmd, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("nsenter (util-linux) is needed to run commands in containers: %w", err)
	}
	pid := strconv.Itoa(r.State.Pid)
	user := r.Process.User
	if spec.User != "" {
		user = spec.User
	}
	rootDir := "/proc/" + pid + "/root"
	id, err := lookupUser(user, nil, func(p string) ([]byte, error) { return readInRoot(rootDir, p) })
	if err != nil {
		return nil, err
	}
	cwd := r.Process.Cwd
	if spec.WorkingDir != "" {
		cwd = spec.WorkingDir
	}
	// nsenter opens --wd's directory before it enters the namespaces: name
	// it through the container's root.
	args := []string{"--target", pid, "--mount", "--uts", "--ipc", "--pid", "--root", "--wd=" + filepath.Join(rootDir, filepath.Clean("/"+cwd))}
	if r.Spec.NetworkMode != "host" {
		args = append(args, "--net")
	}
	if id.UID != 0 || id.GID != 0 {
		args = append(args, "--setgid", strconv.Itoa(id.GID), "--setuid", strconv.Itoa(id.UID))
	}
	args = append(append(args, "--"), spec.Cmd...)
	env := image.MergeEnv(r.Process.Env, spec.Env)
	if err := execCheck(rootDir, cwd, spec.Cmd[0], env); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
		env = append(env, "HOME="+id.Home)
	}
	cmd := exec.CommandContext(ctx, nsenter, args...)
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd, nil
}

// execCheck finds the command of an exec in the container's root as the
// exec will (the PATH of env, or a path, relative to cwd), so that a
// missing or non-executable one gives docker's message (a *startError).
func execCheck(rootDir, cwd, cmd string, env []string) error {
	check := func(p string) error {
		f, err := openInRoot(rootDir, p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		switch {
		case err != nil:
			return err
		case st.IsDir():
			return errors.New("is a directory")
		case st.Mode()&0o111 == 0:
			return fs.ErrPermission
		}
		return nil
	}
	if strings.Contains(cmd, "/") {
		p := cmd
		if !path.IsAbs(p) {
			p = path.Join("/", cwd, p)
		}
		err := check(p)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, fs.ErrNotExist):
			err = fmt.Errorf("stat %s: no such file or directory", cmd)
		case errors.Is(err, fs.ErrPermission):
			err = errors.New("permission denied")
		}
		return &startError{code: 126, msg: fmt.Sprintf("exec: %q: %v", cmd, err)}
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if !path.IsAbs(dir) {
			dir = path.Join("/", cwd, dir)
		}
		if check(path.Join(dir, cmd)) == nil {
			return nil
		}
	}
	return &startError{code: 126, msg: fmt.Sprintf("exec: %q: executable file not found in $PATH", cmd)}
}

// readInRoot reads a small file of a container, resolving the path inside
// its root.
func readInRoot(root, p string) ([]byte, error) {
	f, err := openInRoot(root, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<20))
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
// the start period), failures in the start period not counted.
func (s *shim) healthLoop(ctx context.Context, r *record) {
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
		inStart = time.Since(started) < h.StartPeriod
		ok := s.probe(ctx, r, test, timeout)
		if ctx.Err() != nil {
			return
		}
		var changed bool
		nr, err := s.b.update(s.id, func(r *record) error {
			if r.State.Status != service.StateRunning {
				return nil
			}
			before := r.State.Health
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

// probe runs one healthcheck command; it passes when it exits 0 in time.
func (s *shim) probe(ctx context.Context, r *record, test []string, timeout time.Duration) bool {
	cur, err := s.b.load(s.id)
	if err != nil || cur.State.Pid == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd, err := s.b.nsenter(ctx, cur, service.ExecSpec{Cmd: test})
	if err != nil {
		return false
	}
	return cmd.Run() == nil
}
