package proc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/berthdev/berth/service/builtin/confine"
	"golang.org/x/sys/unix"
)

// ExecMain is `berth __berth-exec`: it runs one process in a running
// container — an exec, a healthcheck, a hook, a watch action — confined as
// the container's init is. It reads its ExecConfig from fd 3 and reports
// failure to start on fd 4 ("<exit code> <message>"), closing it empty
// once the process runs; then it waits for the process, passes signals on
// and exits with the process's status. Unless detached, fd 3 stays open
// as a lifeline: when the caller closes it, or dies, the process is
// killed. (A parent-death signal cannot serve: Go's fork checks that the
// parent is still there with getppid, which is 0 in the container's PID
// namespace.)
//
// How it enters: it moves itself into the container's cgroup (so the
// process is born there), opens the init's namespaces and root, checks
// that the init is still the same process, then on one locked thread
// unshares its filesystem context (which lets a thread of a
// multi-threaded process join a mount namespace), joins the namespaces,
// chroots into the container's root, confines the thread (apply) and
// forks the process from it. The process inherits all of that; the
// helper's other threads stay outside. The helper is not dumpable, so a
// process of the container cannot open its executable or memory through
// /proc while the forked child has not exec'ed yet.
func ExecMain() int {
	cfgFile, status := os.NewFile(3, "config"), os.NewFile(4, "status")
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	fail := func(code int, err error) int {
		fmt.Fprintf(status, "%d %v", code, err)
		return code
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail(126, fmt.Errorf("exec: make the helper non-dumpable: %w", err))
	}
	var c ExecConfig
	if err := json.NewDecoder(cfgFile).Decode(&c); err != nil {
		return fail(126, fmt.Errorf("exec: read config: %w", err))
	}
	if len(c.Args) == 0 {
		return fail(126, errors.New("exec: no command"))
	}
	for _, dir := range c.Cgroups {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return fail(126, fmt.Errorf("exec: join the container's cgroup: %w", err))
		}
	}
	proc := "/proc/" + strconv.Itoa(c.Pid)
	kinds := []struct {
		name string
		flag int
	}{{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS}}
	fds := make([]int, len(kinds))
	for i, k := range kinds {
		fd, err := unix.Open(proc+"/ns/"+k.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(126, fmt.Errorf("exec: the container's %s namespace: %w", k.name, err))
		}
		fds[i] = fd
	}
	root, err := unix.Open(proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(126, fmt.Errorf("exec: the container's root: %w", err))
	}
	// Opened first, checked after: the handles are the init's, not those of
	// a process that took its pid.
	if start, ok := StartTime(c.Pid); !ok || start != c.PidStart {
		return fail(126, errors.New("exec: the container's process has exited"))
	}
	for _, u := range c.Rlimits {
		res, ok := rlimits[u.Name]
		if !ok {
			return fail(126, fmt.Errorf("ulimit %q: unknown resource", u.Name))
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: uint64(u.Soft), Max: uint64(u.Hard)}); err != nil {
			return fail(126, fmt.Errorf("ulimit %s=%d:%d: %w", u.Name, u.Soft, u.Hard, err))
		}
	}

	// Opened on the host, for after the start (see there).
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return fail(126, fmt.Errorf("exec: %w", err))
	}

	runtime.LockOSThread() // for good: this thread ends up in the container
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fail(126, fmt.Errorf("exec: unshare the filesystem context: %w", err))
	}
	for i, k := range kinds {
		if err := unix.Setns(fds[i], k.flag); err != nil {
			return fail(126, fmt.Errorf("exec: join the container's %s namespace: %w", k.name, err))
		}
		unix.Close(fds[i])
	}
	if err := unix.Fchdir(root); err != nil {
		return fail(126, fmt.Errorf("exec: enter the container's root: %w", err))
	}
	if err := unix.Chroot("."); err != nil {
		return fail(126, fmt.Errorf("exec: enter the container's root: %w", err))
	}
	unix.Close(root)
	// From here on, paths are the container's.
	id, err := confine.LookupUser(c.User, c.GroupAdd, os.ReadFile)
	if err != nil {
		return fail(126, err)
	}
	env := c.Env
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
		env = append(env, "HOME="+id.Home)
	}
	if err := unix.Chdir(c.Cwd); err != nil {
		return fail(126, fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", c.Cwd, err))
	}
	prog, err := lookPath(c.Args[0], env)
	if err != nil {
		return fail(126, err)
	}
	if err := c.Confine.Apply(id); err != nil {
		return fail(126, fmt.Errorf("exec: confine the process: %w", err))
	}
	cmd := &exec.Cmd{
		Path: prog, Args: c.Args, Env: env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Setctty: c.Tty},
	}
	// Signals sent to the helper are the process's; the goroutine that
	// passes them on runs on another thread, which is fine: the helper
	// signals its own child.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := cmd.Start(); err != nil {
		return fail(126, fmt.Errorf("exec: %q: %w", c.Args[0], err))
	}
	status.Close()
	// The helper's standard error is the command's: what a Go runtime
	// prints when it exits (a build with -cover reports there that it
	// cannot write its counters from inside the container) must not end up
	// in the command's output.
	_ = unix.Dup3(int(devNull.Fd()), 2, 0)
	devNull.Close()
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	if !c.Detach {
		go func() {
			_, _ = io.Copy(io.Discard, cfgFile)
			_ = cmd.Process.Kill()
		}()
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ExitStatus(ee.ProcessState)
	}
	if err != nil {
		return 126
	}
	return 0
}
