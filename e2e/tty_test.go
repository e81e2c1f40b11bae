package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal of rows×cols: its master and slave.
func openPty(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	setSize(t, s, rows, cols)
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

func setSize(t *testing.T, f *os.File, rows, cols uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
}

// TestExecTerminalSize runs exec and run -t on a terminal, on both
// backends: the command's terminal has the size of berth's, and follows it
// when it changes (SIGWINCH).
func TestExecTerminalSize(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  app:
    image: %s
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`, busyboxImage())})
		p.mustRun(t, "up", "-d")
		run := func(script string, during func(cmd *exec.Cmd, slave *os.File), args ...string) string {
			master, slave := openPty(t, 33, 101)
			if args == nil {
				args = []string{"exec", "app"}
			}
			cmd := exec.Command(berthBin, append(args, "sh", "-c", script)...)
			cmd.Dir, cmd.Env = p.dir, p.environ()
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			read := make(chan struct{})
			go func() { _, _ = io.Copy(&out, master); close(read) }()
			if during != nil {
				during(cmd, slave)
			}
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			slave.Close()
			select {
			case <-read:
			case <-time.After(5 * time.Second):
			}
			return strings.TrimSpace(strings.ReplaceAll(out.String(), "\r", ""))
		}
		if got := run("sleep 0.5; stty size", nil); !strings.HasSuffix(got, "33 101") {
			t.Errorf("exec on a 33×101 terminal: stty size says %q", got)
		}
		got := run("sleep 2; stty size", func(cmd *exec.Cmd, slave *os.File) {
			time.Sleep(700 * time.Millisecond)
			setSize(t, slave, 40, 120)
			_ = cmd.Process.Signal(syscall.SIGWINCH)
		})
		if !strings.HasSuffix(got, "40 120") {
			t.Errorf("exec after the terminal became 40×120: stty size says %q", got)
		}
		// run -t: the container's terminal follows berth's too.
		got = run("sleep 2; stty size", func(cmd *exec.Cmd, slave *os.File) {
			time.Sleep(1200 * time.Millisecond)
			setSize(t, slave, 41, 121)
			_ = cmd.Process.Signal(syscall.SIGWINCH)
		}, "run", "--rm", "-t", "app")
		if !strings.HasSuffix(got, "41 121") {
			t.Errorf("run -t after the terminal became 41×121: stty size says %q", got)
		}
		if got := run("sleep 0.5; stty size", nil, "run", "--rm", "-t", "app"); !strings.HasSuffix(got, "33 101") {
			t.Errorf("run -t on a 33×101 terminal: stty size says %q", got)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
