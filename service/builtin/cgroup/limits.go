package cgroup

import (
	"errors"
	"io/fs"
	"strconv"
)

// validate applies docker's rules on the combination of memory limits.
func (l Limits) validate() error {
	switch {
	case l.MemorySwap < -1:
		return errors.New("invalid memory-swap limit (-1 is unlimited)")
	case l.MemorySwap > 0 && l.Memory <= 0:
		return errors.New("a memory-swap limit needs a memory limit")
	case l.MemorySwap > 0 && l.MemorySwap < l.Memory:
		return errors.New("the memory-swap limit must be at least the memory limit")
	case l.Memory > 0 && l.MemoryReservation > l.Memory:
		return errors.New("the memory reservation must not exceed the memory limit")
	}
	return nil
}

// needs returns the controllers l sets limits of, sorted.
func (l Limits) needs() []string {
	var ctrls []string
	for _, n := range []struct {
		ctrl string
		set  bool
	}{
		{"cpu", l.NanoCPUs > 0 || l.CPUShares > 0},
		{"cpuset", l.CpusetCpus != ""},
		{"memory", l.Memory > 0 || l.MemoryReservation > 0},
		{"pids", l.PidsLimit > 0},
		{"devices", l.Devices != nil},
	} {
		if n.set {
			ctrls = append(ctrls, n.ctrl)
		}
	}
	return ctrls
}

// swap is the memory+swap limit docker sets: twice Memory by default, -1
// for unlimited, 0 (unset) without a memory limit.
func (l Limits) swap() int64 {
	switch {
	case l.Memory <= 0:
		return 0
	case l.MemorySwap == 0:
		return 2 * l.Memory
	}
	return l.MemorySwap
}

// quota is the CFS quota in µs per cfsPeriod for NanoCPUs.
func (l Limits) quota() int64 { return l.NanoCPUs * cfsPeriod / 1e9 }

// weight converts CPUShares to a v2 cpu.weight as runc does, mapping
// [2, 262144] to [1, 10000].
func (l Limits) weight() int64 {
	s := min(max(l.CPUShares, 2), 262144)
	return 1 + (s-2)*9999/262142
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// setting is one value to write in a controller's file of the group.
type setting struct {
	ctrl, file, val string
	optional        bool // skipped when the kernel does not have the file
}

// apply writes the settings in order.
func (c *Cgroup) apply(settings []setting) error {
	for _, s := range settings {
		d, _ := c.dir(s.ctrl)
		if err := c.write(d, s.file, s.val); err != nil && !(s.optional && errors.Is(err, fs.ErrNotExist)) {
			return err
		}
	}
	return nil
}
