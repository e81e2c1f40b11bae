//go:build !linux

package cgroup

import (
	"errors"
	"os"
	"syscall"
)

// errBusy is what rmdir returns for a group that still has processes.
const errBusy = syscall.EBUSY

// isCgroup2 fails: cgroups exist only on Linux.
func isCgroup2(string) (bool, error) { return false, errors.ErrUnsupported }

// kill sends SIGKILL to pid.
func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill()
	}
	return err
}
