package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/network"
	"github.com/berthdev/berth/service/builtin/proc"
	"github.com/berthdev/berth/service/builtin/records"
)

// start starts the container's process in its namespaces and returns once
// the command is running (the init reported a successful exec) or failed.
func (s *shim) start() (*run, error) {
	r, err := s.b.load(s.id)
	if err != nil {
		return nil, err
	}
	networked := r.Spec.NetworkMode == "" && len(r.Networks) > 0
	if networked {
		if err := s.b.allocateIPs(s.id); err != nil {
			return nil, err
		}
		if r, err = s.b.load(s.id); err != nil {
			return nil, err
		}
	}
	cfg, err := s.b.initConfig(r)
	if err != nil {
		return nil, err
	}
	cg, err := cgroup.New(s.id, s.b.limits(r.Spec), s.b.cg)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	s.mu.Lock()
	s.cg = cg
	s.mu.Unlock()
	oom0, _ := s.cg.OOMKills()

	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		if err == nil {
			closeAfter = append(closeAfter, r, w)
		}
		return r, w, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		return nil, err
	}
	cfgR, cfgW, err := pipe()
	if err != nil {
		return nil, err
	}
	stR, stW, err := pipe()
	if err != nil {
		return nil, err
	}
	var stdin, stdinW, ptyMaster *os.File
	switch {
	case r.Spec.Tty:
		// One terminal for the three streams; the shim keeps the master:
		// it reads the output and writes what attach sends.
		master, slave, err := proc.OpenPty()
		if err != nil {
			return nil, fmt.Errorf("allocate a terminal: %w", err)
		}
		closeAfter = append(closeAfter, slave)
		stdin, outW, errW, ptyMaster = slave, slave, slave, master
		outR.Close()
		errR.Close()
		if r.Spec.OpenStdin {
			stdinW = master
		}
	case r.Spec.OpenStdin:
		if stdin, stdinW, err = os.Pipe(); err != nil {
			return nil, err
		}
		closeAfter = append(closeAfter, stdin)
	default:
		if stdin, err = os.Open(os.DevNull); err != nil {
			return nil, err
		}
		closeAfter = append(closeAfter, stdin)
	}

	flags := uintptr(syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	extra := []*os.File{cfgR, stW}
	switch mode := r.Spec.NetworkMode; {
	case mode == "host":
	case strings.HasPrefix(mode, "container:"):
		// The init joins the other container's network namespace (fd 5).
		nsf, err := s.b.netnsOf(strings.TrimPrefix(mode, "container:"))
		if err != nil {
			return nil, err
		}
		closeAfter = append(closeAfter, nsf)
		extra = append(extra, nsf)
		cfg.JoinNetNS = true
	default:
		flags |= syscall.CLONE_NEWNET
	}
	logStart := s.log.Size()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"berth", proc.InitCommand},
		Env:        helperEnv(),
		Dir:        "/",
		Stdin:      stdin,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			Pdeathsig:  syscall.SIGKILL,
			Setsid:     true,
			Setctty:    r.Spec.Tty,
			Ctty:       0,
		},
	}
	if err := cmd.Start(); err != nil {
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, fmt.Errorf("start the container's init: %w", err)
	}
	for _, f := range []*os.File{outW, errW, cfgR, stW} {
		f.Close() // the terminal's slave, when there is one, is closed twice: harmless
	}
	ru := &run{s: s, cmd: cmd, oom0: oom0}
	if ptyMaster != nil {
		ru.output.Add(1)
		go func() { defer ru.output.Done(); s.log.Copy("stdout", proc.PtyReader{File: ptyMaster}) }()
	} else {
		ru.output.Add(2)
		go func() { defer ru.output.Done(); s.log.Copy("stdout", outR) }()
		go func() { defer ru.output.Done(); s.log.Copy("stderr", errR) }()
	}
	closeAfter = []*os.File{stdin}

	if err := s.cg.Add(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		ru.wait()
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	// The init waits for its config: plug its network namespace in and
	// publish the ports first, so that the command starts connected.
	pctx, pcancel := context.WithCancel(context.Background())
	var prox *network.Proxy
	var ports []service.Port
	if networked {
		err = s.b.setUpEndpoints(r, cmd.Process.Pid)
		if err == nil && len(r.Spec.Ports) > 0 {
			prox, ports, err = network.Publish(pctx, r.Spec.Ports, primaryIP(r))
		}
		if err != nil {
			pcancel()
			_ = cmd.Process.Kill()
			ru.wait()
			return nil, err
		}
	}
	ru.proxy, ru.proxyCancel = prox, pcancel
	err = json.NewEncoder(cfgW).Encode(cfg)
	cfgW.Close()
	msg, _ := io.ReadAll(stR)
	stR.Close()
	if len(msg) > 0 || err != nil {
		code, _ := ru.wait()
		if stdinW != nil {
			stdinW.Close()
		}
		ru.unpublish()
		if len(msg) == 0 {
			return nil, fmt.Errorf("the container's init exited (%d) before running the command", code)
		}
		return nil, proc.ParseStartError(string(msg))
	}
	pidStart, _ := proc.StartTime(cmd.Process.Pid)
	now := time.Now().UTC()
	var health string
	if r.Health != nil {
		health = service.HealthStarting
	}
	r, err = s.b.update(s.id, func(r *records.Container) error {
		r.State.Status = service.StateRunning
		r.State.Pid, r.State.PidStart = cmd.Process.Pid, pidStart
		r.State.StartedAt, r.State.ExitCode, r.State.Error, r.State.OOMKilled = now, 0, "", false
		r.State.Health, r.State.FailingStreak = health, 0
		r.State.LogStart = logStart
		r.State.Runs++
		r.State.Ports = ports
		return nil
	})
	if err != nil {
		ru.unpublish()
		_ = cmd.Process.Kill()
		ru.wait()
		return nil, err
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.proc, s.exited, s.stdin, s.tty, s.term = cmd.Process, exited, stdinW, ptyMaster != nil, ptyMaster
	if ptyMaster != nil {
		proc.SetWinsize(ptyMaster, s.size) // the size asked for an earlier run
	}
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	ru.cancel = func() { cancel(); close(exited) }
	if r.Health != nil {
		go s.healthLoop(ctx, r, cfg.Confine)
	}
	s.b.emit(r, "start", 0)
	return ru, nil
}
