package confine

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/berthdev/berth/service/builtin/seccomp"
	"golang.org/x/sys/unix"
)

// Apply confines the calling thread as the container's processes are, and
// switches it to the user id: the bounding set cut to c.Caps, no_new_privs
// when asked, the seccomp filter, the groups and ids, then the capability
// sets (none for a user other than root, as docker). The caller has locked
// the thread, which must not be unlocked afterwards (it exits with its
// goroutine), and execs or forks the process from it.
//
// The order is runc's: without no_new_privs the filter is loaded while the
// thread still has CAP_SYS_ADMIN, and must allow the calls after it;
// with no_new_privs it is loaded last, just before the exec.
func (c *Confinement) Apply(id Identity) error {
	last := capLast()
	for cp := 0; cp <= last; cp++ {
		if !slices.Contains(c.Caps, cp) {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(cp), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("drop capability %d: %w", cp, err)
			}
		}
	}
	if c.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	} else if err := seccomp.Install(c.Seccomp); err != nil {
		return err
	}
	groups := make([]uint32, 0, len(id.Groups))
	for _, g := range id.Groups {
		groups = append(groups, uint32(g))
	}
	var gp unsafe.Pointer
	if len(groups) > 0 {
		gp = unsafe.Pointer(&groups[0])
	}
	// Raw calls: credentials are per thread, and syscall.Setuid would
	// change every thread of the process.
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(gp), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id.GID), uintptr(id.GID), uintptr(id.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", id.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id.UID), uintptr(id.UID), uintptr(id.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", id.UID, e)
	}
	var set [2]uint32
	if id.UID == 0 {
		for _, cp := range c.Caps {
			set[cp/32] |= 1 << (cp % 32)
		}
	}
	// What berth itself lacks (in a confined host) cannot be given: a
	// privileged container gets what berth has, as with dockerd.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	set[0] &= cur[0].Permitted
	set[1] &= cur[1].Permitted
	// The inheritable set stays empty, as docker's since 20.10.14
	// (CVE-2022-24769): a file's inheritable capabilities give nothing.
	data := [2]unix.CapUserData{
		{Effective: set[0], Permitted: set[0]},
		{Effective: set[1], Permitted: set[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if c.NoNewPrivs {
		if err := seccomp.Install(c.Seccomp); err != nil {
			return err
		}
	}
	return nil
}

// capLast is the highest capability the kernel knows.
func capLast() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return len(CapNames) - 1
}
