package cgroup

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// v2Controllers are the controllers enabled for the groups, when available.
var v2Controllers = []string{"memory", "pids", "cpu", "cpuset"}

// setupV2 makes the group, enabling the controllers on the way, and applies l.
func (c *Cgroup) setupV2(l Limits) error {
	dir := c.mnt[""]
	for part := range strings.SplitSeq(c.rel, string(filepath.Separator)) {
		if err := c.enable(dir); err != nil {
			return err
		}
		dir = filepath.Join(dir, part)
		if err := c.mkdir(dir); err != nil {
			return err
		}
	}
	// v2 has no devices controller (see EnforcesDevices).
	needs := slices.DeleteFunc(l.needs(), func(c string) bool { return c == "devices" })
	if err := c.check(dir, needs); err != nil {
		return err
	}
	var s []setting
	if l.Memory > 0 {
		s = append(s, setting{file: "memory.max", val: itoa(l.Memory)})
	}
	if l.MemoryReservation > 0 {
		s = append(s, setting{file: "memory.low", val: itoa(l.MemoryReservation)})
	}
	if swap := l.swap(); swap == -1 {
		s = append(s, setting{file: "memory.swap.max", val: "max", optional: true})
	} else if swap > 0 {
		s = append(s, setting{file: "memory.swap.max", val: itoa(swap - l.Memory), optional: true})
	}
	if l.NanoCPUs > 0 {
		s = append(s, setting{file: "cpu.max", val: fmt.Sprintf("%d %d", l.quota(), cfsPeriod)})
	}
	if l.CPUShares > 0 {
		s = append(s, setting{file: "cpu.weight", val: itoa(l.weight())})
	}
	if l.CpusetCpus != "" {
		s = append(s, setting{file: "cpuset.cpus", val: l.CpusetCpus})
	}
	if l.PidsLimit > 0 {
		s = append(s, setting{file: "pids.max", val: itoa(l.PidsLimit)})
	}
	return c.apply(s)
}

// enable enables for the children of dir those of v2Controllers it has and
// are not enabled yet.
func (c *Cgroup) enable(dir string) error {
	have, err := c.read(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	on, err := c.read(dir, "cgroup.subtree_control")
	if err != nil {
		return err
	}
	var add []string
	for _, ctrl := range v2Controllers {
		if slices.Contains(strings.Fields(have), ctrl) && !slices.Contains(strings.Fields(on), ctrl) {
			add = append(add, "+"+ctrl)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return c.write(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

// check fails unless the controllers ctrls are available in dir.
func (c *Cgroup) check(dir string, ctrls []string) error {
	if len(ctrls) == 0 {
		return nil
	}
	have, err := c.read(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	for _, ctrl := range ctrls {
		if !slices.Contains(strings.Fields(have), ctrl) {
			return fmt.Errorf("cgroup %s: the %s controller is not available in %s", c.name, ctrl, dir)
		}
	}
	return nil
}
