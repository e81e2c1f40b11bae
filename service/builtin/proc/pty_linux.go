package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berthdev/berth/service"
)

// OpenPty allocates a pseudo-terminal of 24×80 and returns its master and
// slave.
func OpenPty() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock the terminal: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("terminal number: %w", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	_ = unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	return master, slave, nil
}

// PtyReader reads a terminal's master, taking the EIO it gives once every
// slave is closed for the end of the stream.
type PtyReader struct{ File *os.File }

// Read reads from the master; EIO is the end of the stream.
func (p PtyReader) Read(b []byte) (int, error) {
	n, err := p.File.Read(b)
	if errors.Is(err, syscall.EIO) {
		return n, io.EOF
	}
	return n, err
}

// Close closes the master.
func (p PtyReader) Close() error { return p.File.Close() }

// SetWinsize gives the terminal of f (either side) a size; a zero size is
// left alone.
func SetWinsize(f *os.File, sz service.TerminalSize) {
	if sz.Rows == 0 || sz.Cols == 0 {
		return
	}
	_ = unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Rows, Col: sz.Cols})
}
