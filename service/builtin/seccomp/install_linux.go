package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install loads p as a seccomp filter of the calling thread only (no
// TSYNC: the caller locks its OS thread and execs from it, or forks the
// confined process from it). Without no_new_privs the thread needs
// CAP_SYS_ADMIN. A nil program installs nothing.
func Install(p *Program) error {
	if p == nil {
		return nil
	}
	if len(p.Instructions) == 0 {
		return errors.New("seccomp: empty filter")
	}
	f := make([]unix.SockFilter, len(p.Instructions))
	for i, in := range p.Instructions {
		f[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return fmt.Errorf("seccomp: install the filter: %w", e)
	}
	return nil
}
