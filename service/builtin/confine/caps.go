package confine

import (
	"fmt"
	"slices"
	"strings"
)

// CapNames are the Linux capabilities by number, without the CAP_ prefix.
var CapNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// defaultCaps is docker's default capability set.
var defaultCaps = []string{
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}

// CapSet returns the capabilities a container keeps, as numbers (indexes
// in CapNames): docker's default set (all of them when privileged) with
// cap_add added and cap_drop removed; "ALL" works in both, and names may
// carry the CAP_ prefix. An unknown name is an error.
func CapSet(add, drop []string, privileged bool) ([]int, error) {
	norm := func(list []string) ([]string, error) {
		var out []string
		for _, c := range list {
			c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
			if c != "ALL" && !slices.Contains(CapNames, c) {
				return nil, fmt.Errorf("unknown capability %q", c)
			}
			out = append(out, c)
		}
		return out, nil
	}
	add, err := norm(add)
	if err != nil {
		return nil, err
	}
	drop, err = norm(drop)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	base := defaultCaps
	if privileged || slices.Contains(add, "ALL") {
		base = CapNames
	}
	if !slices.Contains(drop, "ALL") {
		for _, c := range base {
			keep[c] = true
		}
	}
	for _, c := range drop {
		delete(keep, c)
	}
	for _, c := range add {
		if c != "ALL" {
			keep[c] = true
		}
	}
	var out []int
	for i, c := range CapNames {
		if keep[c] {
			out = append(out, i)
		}
	}
	return out, nil
}
