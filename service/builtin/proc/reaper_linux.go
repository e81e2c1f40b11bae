package proc

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReaperMain is `init: true`: PID 1 of the container, it runs the command
// (args[0] is its path, args[1:] its argv), forwards signals to it, reaps
// every orphan, and exits with the command's status, as docker-init (tini)
// does.
func ReaperMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "berth init: no command")
		return 127
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	pid, err := syscall.ForkExec(args[0], args[1:], &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: false},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth init: exec %s: %v\n", args[1], err)
		return 127
	}
	for {
		switch sig := (<-sigs).(syscall.Signal); sig {
		case syscall.SIGCHLD:
		case syscall.SIGURG, syscall.SIGPIPE:
			// The Go runtime's own; not for the child.
		default:
			_ = unix.Kill(pid, sig)
		}
		for {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || got <= 0 {
				break
			}
			if got == pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
}
