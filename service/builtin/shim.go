package builtin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/logfile"
	"github.com/berthdev/berth/service/builtin/network"
	"github.com/berthdev/berth/service/builtin/proc"
	"github.com/berthdev/berth/service/builtin/records"
)

// The hidden subcommands of the berth binary that the runtime runs.
const (
	shimCommand = "__berth-shim"
)

// Dispatch runs the hidden subcommand args[1] names, if it is one, and
// returns its exit code; ok is false for any other command line. main calls
// it first thing.
func Dispatch(args []string) (code int, ok bool) {
	if len(args) < 2 {
		return 0, false
	}
	switch args[1] {
	case shimCommand:
		return shimMain(args[2:]), true
	case proc.InitCommand:
		return proc.InitMain(), true
	case proc.ReaperCommand:
		return proc.ReaperMain(args[2:]), true
	case proc.ExecCommand:
		return proc.ExecMain(), true
	case dnsCommand:
		return dnsMain(args[2:]), true
	}
	return 0, false
}

// helperEnv returns the environment of a process the runtime starts from
// its own binary (shim, init, exec helper, DNS server): env, plus
// GOCOVERDIR when this process has it, so that a berth (or a test binary)
// built with -cover collects its children's coverage, and does not print
// Go's "GOCOVERDIR not set" warning into a container's output.
// Never nil: a nil exec.Cmd.Env would inherit this process's environment.
func helperEnv(env ...string) []string {
	out := make([]string, 0, len(env)+1)
	out = append(out, env...)
	if v, ok := os.LookupEnv("GOCOVERDIR"); ok {
		out = append(out, "GOCOVERDIR="+v)
	}
	return out
}

// request is a call to a shim over its control socket, one JSON line.
type request struct {
	// Op is "stop" (signal, wait up to Timeout, SIGKILL; the policy does
	// not restart), "kill" (send Signal), "stdin" (the rest of the
	// connection is the container's standard input) or "resize" (the
	// terminal's new Size, kept for the runs a restart policy makes).
	Op      string
	Signal  string        `json:",omitempty"`
	Timeout time.Duration `json:",omitempty"`
	// Size is the terminal size of "resize".
	Size service.TerminalSize `json:",omitzero"`
}

// response answers a request.
type response struct {
	Error string `json:",omitempty"`
}

// errShimGone says the shim is not there to answer: the container has
// stopped.
var errShimGone = errors.New("the container's shim has exited")

// call sends req to the container's shim and returns its answer.
func (b *Backend) call(ctx context.Context, r *records.Container, req request) (response, error) {
	conn, err := b.dial(ctx, r)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return response{}, fmt.Errorf("shim: %w", err)
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			return response{}, nil // the shim ended while answering: done
		}
		return response{}, fmt.Errorf("shim: %w", err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

func (b *Backend) dial(ctx context.Context, r *records.Container) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", b.sockPath(r.ID))
	if err != nil {
		if _, gerr := b.get(r.ID); gerr != nil && errors.Is(gerr, service.ErrNotFound) {
			return nil, gerr
		}
		return nil, errShimGone
	}
	return conn, nil
}

// shim supervises one container: it is the process `berth __berth-shim
// <root> <id> <cgroup root> <cgroup parent>`, detached from the CLI that
// started it.
type shim struct {
	b   *Backend
	id  string
	cg  *cgroup.Cgroup
	log *logfile.Writer

	mu      sync.Mutex
	proc    *os.Process
	exited  chan struct{} // closed when the current run's process exits
	manual  bool          // stop or kill asked: the policy does not restart
	stopped bool          // stop asked
	stopCh  chan struct{} // closed when stop is asked
	done    chan struct{} // closed when supervision ends
	stdin   *os.File      // the write end of the container's stdin, if open
	tty     bool          // stdin is the terminal's master: never closed by attach
	term    *os.File      // the terminal's master of the current run, if any
	size    service.TerminalSize
}

func shimMain(args []string) int {
	// The container's init is started from this thread, and its parent-death
	// signal is tied to the thread: keep it for the shim's lifetime.
	runtime.LockOSThread()
	report := os.NewFile(3, "report")
	fail := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintln(os.Stderr, msg)
		if report != nil {
			fmt.Fprintln(report, msg)
		}
		return 1
	}
	if len(args) < 4 {
		return fail("usage: %s ROOT ID CGROUP-ROOT CGROUP-PARENT", shimCommand)
	}
	b, err := Open(Options{Root: args[0], Cgroup: cgroup.Options{Root: args[2], Parent: args[3]}})
	if err != nil {
		return fail("%v", err)
	}
	s := &shim{b: b, id: args[1], stopCh: make(chan struct{}), done: make(chan struct{})}
	self, _ := proc.StartTime(os.Getpid())
	var already bool
	r, err := b.update(s.id, func(r *records.Container) error {
		if r.State.Active() && alive(r.State.ShimPid, r.State.ShimStart) {
			already = true
			return errShimGone
		}
		r.State.ShimPid, r.State.ShimStart = os.Getpid(), self
		r.State.ManualStop, r.State.Restarts = false, 0
		return nil
	})
	if already {
		fmt.Fprintln(report, "ok")
		return 0
	}
	if err != nil {
		return fail("%v", err)
	}
	os.Remove(b.sockPath(s.id))
	ln, err := net.Listen("unix", b.sockPath(s.id))
	if err != nil {
		s.finish(r, 0, fmt.Sprintf("control socket: %v", err))
		return fail("container %s: control socket: %v", r.Name, err)
	}
	if s.log, err = logfile.Open(b.logPath(s.id), r.Spec.LogOptions); err != nil {
		ln.Close()
		s.finish(r, 0, err.Error())
		return fail("container %s: %v", r.Name, err)
	}
	go s.serve(ln)
	s.supervise(report)
	ln.Close()
	os.Remove(b.sockPath(s.id))
	return 0
}

// serve answers control requests until the listener closes.
func (s *shim) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go s.handle(conn)
	}
}

func (s *shim) handle(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return
	}
	var resp response
	switch req.Op {
	case "stop":
		s.stop(req.Signal, req.Timeout)
	case "kill":
		if err := s.kill(req.Signal); err != nil {
			resp.Error = err.Error()
		}
	case "stdin":
		s.mu.Lock()
		w := s.stdin
		s.stdin = nil // one writer: the first attach
		s.mu.Unlock()
		if w == nil {
			resp.Error = "the container's stdin is not open"
			break
		}
		_ = json.NewEncoder(conn).Encode(resp)
		_, _ = io.Copy(w, br)
		s.mu.Lock()
		tty := s.tty
		s.mu.Unlock()
		if !tty {
			w.Close() // EOF for the container; a terminal cannot half-close
		}
		return
	case "resize":
		s.mu.Lock()
		s.size = req.Size
		if s.term != nil {
			proc.SetWinsize(s.term, req.Size)
		}
		s.mu.Unlock()
	default:
		resp.Error = "unknown request " + strconv.Quote(req.Op)
	}
	_ = json.NewEncoder(conn).Encode(resp)
}

// stop signals the container, kills it after grace, and returns once the
// shim has recorded its end.
func (s *shim) stop(signal string, grace time.Duration) {
	s.mu.Lock()
	s.manual = true
	if !s.stopped {
		s.stopped = true
		close(s.stopCh)
	}
	p, exited, cg := s.proc, s.exited, s.cg
	s.mu.Unlock()
	if p != nil {
		// kill events, as the engine's stop gives: the stop signal, then
		// SIGKILL after the grace period
		r, lerr := s.b.load(s.id)
		if sig, err := parseSignal(signal); err == nil {
			if lerr == nil {
				s.b.emitKill(r, int(sig))
			}
			_ = p.Signal(sig)
		}
		select {
		case <-exited:
		case <-time.After(grace):
			if lerr == nil {
				s.b.emitKill(r, int(syscall.SIGKILL))
			}
			_ = p.Kill()
			if cg != nil {
				_ = cg.Kill()
			}
		}
	}
	<-s.done
}

// kill sends signal to the container's main process.
func (s *shim) kill(signal string) error {
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	s.mu.Lock()
	p, cg := s.proc, s.cg
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT {
		s.manual = true
	}
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("it is not running: %w", service.ErrConflict)
	}
	if r, err := s.b.load(s.id); err == nil {
		s.b.emitKill(r, int(sig))
	}
	err = p.Signal(sig)
	if sig == syscall.SIGKILL && cg != nil {
		_ = cg.Kill()
	}
	if errors.Is(err, os.ErrProcessDone) {
		return nil // it was exiting anyway
	}
	return err
}

// supervise runs the container, and runs it again as its restart policy
// says, until it stops for good.
func (s *shim) supervise(report *os.File) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		began := time.Now()
		run, err := s.start()
		if err != nil {
			r, _ := s.b.load(s.id)
			if first {
				fmt.Fprintln(report, err.Error())
				report.Close()
			}
			if r != nil {
				s.finish(r, exitCodeOf(err), err.Error())
				s.b.emit(r, "die", exitCodeOf(err))
			}
			return
		}
		if first {
			fmt.Fprintln(report, "ok")
			report.Close()
		}
		code, oom := run.wait()
		s.mu.Lock()
		s.proc, s.stdin, s.term = nil, nil, nil
		manual, stopped := s.manual, s.stopped
		s.mu.Unlock()
		r, err := s.b.load(s.id)
		if err != nil {
			return
		}
		restart := !manual && s.policyRestarts(r, code)
		if !restart {
			s.finish(r, code, "", func(st *records.RunState) { st.OOMKilled = oom })
			if oom {
				s.b.emit(r, "oom", 0)
			}
			s.b.emit(r, "die", code)
			if stopped {
				s.b.emit(r, "stop", 0)
			}
			if r.Spec.AutoRemove {
				_ = s.b.destroy(s.id)
			}
			return
		}
		_, _ = s.b.update(s.id, func(r *records.Container) error {
			r.State.Status = service.StateRestarting
			r.State.ExitCode, r.State.OOMKilled = code, oom
			r.State.FinishedAt = time.Now().UTC()
			r.State.Pid, r.State.PidStart, r.State.Health = 0, 0, ""
			r.State.Ports = nil
			r.State.Restarts++
			return nil
		})
		if oom {
			s.b.emit(r, "oom", 0)
		}
		s.b.emit(r, "die", code)
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-time.After(backoff):
		case <-s.stopCh:
			r, _ = s.b.load(s.id)
			if r != nil {
				s.finish(r, code, "")
				s.b.emit(r, "stop", 0)
			}
			return
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// policyRestarts applies the restart policy to an exit.
func (s *shim) policyRestarts(r *records.Container, code int) bool {
	switch p := r.Spec.Restart; p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaxRetries <= 0 || r.State.Restarts < p.MaxRetries)
	}
	return false
}

// finish records the container's end, after removing its cgroup: the
// state says exited only once nothing of the run is left.
func (s *shim) finish(r *records.Container, code int, errMsg string, more ...func(*records.RunState)) {
	if s.cg != nil {
		_ = s.cg.Kill()
		_ = s.cg.Remove()
	}
	_, _ = s.b.update(s.id, func(r *records.Container) error {
		r.State.Status = service.StateExited
		r.State.ExitCode, r.State.Error = code, errMsg
		r.State.FinishedAt = time.Now().UTC()
		r.State.Pid, r.State.PidStart, r.State.ShimPid, r.State.ShimStart = 0, 0, 0, 0
		r.State.Health, r.State.FailingStreak = "", 0
		r.State.Ports = nil
		r.State.ManualStop = s.manual
		r.State.OOMKilled = false
		for _, f := range more {
			f(&r.State)
		}
		return nil
	})
}

func exitCodeOf(err error) int {
	var se *proc.StartError
	if errors.As(err, &se) {
		return se.Code
	}
	return 128
}

// run is one run of a container's process.
type run struct {
	s           *shim
	cmd         *exec.Cmd
	output      sync.WaitGroup
	oom0        int64
	cancel      context.CancelFunc
	proxy       *network.Proxy
	proxyCancel context.CancelFunc
}

// unpublish stops the run's port forwarders.
func (ru *run) unpublish() {
	ru.proxy.Close()
	if ru.proxyCancel != nil {
		ru.proxyCancel()
	}
}

// primaryIP is the container's address on its first network.
func primaryIP(r *records.Container) string {
	if nets := orderedNetworks(r); len(nets) > 0 {
		return nets[0].A.IP
	}
	return ""
}

// wait waits for the run's process to exit and its output to be logged,
// and returns its exit code (128+n when killed by signal n) and whether
// the kernel's OOM killer killed it.
func (ru *run) wait() (code int, oom bool) {
	_ = ru.cmd.Wait()
	if ru.cancel != nil {
		ru.cancel()
	}
	ru.unpublish()
	// The PID namespace died with its init, so every writer of the
	// output pipes is gone: the copies end.
	ru.output.Wait()
	ws, _ := ru.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		code = 128 + int(ws.Signal())
	default:
		code = ws.ExitStatus()
	}
	if n, err := ru.s.cg.OOMKills(); err == nil && n > ru.oom0 {
		oom = true
	}
	return code, oom
}

// parseSignal accepts "SIGTERM", "TERM", "term" and "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unixSignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

// limits converts the contract's resources to the cgroup's, with
// docker's device rules unless privileged (where they are enforced).
func (b *Backend) limits(s service.ContainerSpec) cgroup.Limits {
	r := s.Resources
	var devices []string
	if b.devices && !s.Privileged {
		devices = cgroup.DockerDevices
	}
	return cgroup.Limits{
		Devices:           devices,
		Memory:            r.Memory,
		MemoryReservation: r.MemoryReservation,
		MemorySwap:        r.MemorySwap,
		NanoCPUs:          r.NanoCPUs,
		CPUShares:         r.CPUShares,
		CpusetCpus:        r.CpusetCpus,
		PidsLimit:         r.PidsLimit,
	}
}

// containerFile is a file the runtime writes for a container and the init
// bind-mounts into it (/etc/hosts, ...).
func (b *Backend) containerFile(id, name string) string {
	return filepath.Join(b.containerDir(id), name)
}
