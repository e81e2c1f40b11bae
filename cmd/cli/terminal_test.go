package cli

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berthdev/berth/service"
)

// openPty opens a pseudo-terminal pair: the controlling side and the
// terminal a program sees.
func openPty(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return ptm, pts
}

// TestTerminal: on a terminal, standard input goes raw and back, and the
// size of standard output is followed (SIGWINCH); elsewhere nothing
// happens.
func TestTerminal(t *testing.T) {
	_, pts := openPty(t)
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	g := &globals{stdio: Stdio{In: pts, Out: pts, Err: pts}}
	tm := terminal{g}
	restore := tm.MakeRaw()
	st, err := term.GetState(int(pts.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	restore()
	before, _ := term.GetState(int(pts.Fd()))
	if *st == *before {
		t.Error("MakeRaw changed nothing")
	}
	size, resize, stop := tm.Size()
	if size != (service.TerminalSize{Rows: 30, Cols: 100}) {
		t.Errorf("size %+v, want 30x100", size)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-resize:
		if got != (service.TerminalSize{Rows: 40, Cols: 120}) {
			t.Errorf("resized to %+v, want 40x120", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no resize after SIGWINCH")
	}
	stop()
	if _, open := <-resize; open {
		t.Error("the resize channel is open after stop")
	}

	// not a terminal: nothing
	g = &globals{stdio: Stdio{In: os.Stdin, Out: &syncBuffer{}}}
	if f, err := os.Open(os.DevNull); err == nil {
		defer f.Close()
		g.stdio.In = f
	}
	terminal{g}.MakeRaw()()
	if size, resize, stop := (terminal{g}).Size(); size != (service.TerminalSize{}) || resize != nil {
		t.Errorf("no terminal: size %+v, resize %v", size, resize)
	} else {
		stop()
	}
}
