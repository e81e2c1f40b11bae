package cgroup

import "golang.org/x/sys/unix"

// errBusy is what rmdir returns for a group that still has processes.
const errBusy = unix.EBUSY

// isCgroup2 reports whether path is on a cgroup2 filesystem.
func isCgroup2(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return uint32(st.Type) == unix.CGROUP2_SUPER_MAGIC, nil
}

// kill sends SIGKILL to pid.
func kill(pid int) error { return unix.Kill(pid, unix.SIGKILL) }
