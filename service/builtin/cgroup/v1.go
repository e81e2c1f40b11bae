package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// v1Controllers are the v1 hierarchies a group is made in.
var v1Controllers = []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"}

// v1Mounts finds the mount points of the v1Controllers' hierarchies directly
// under root: from /proc/self/mountinfo, or when no cgroup is mounted under
// root (a fake tree), as directories of root named after the controllers they
// hold ("memory", "cpu,cpuacct").
func v1Mounts(root string) map[string]string {
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		m, found := parseMountinfo(f, root)
		f.Close()
		if found {
			return m
		}
	}
	m := map[string]string{}
	entries, _ := os.ReadDir(root)
	for _, ctrl := range v1Controllers {
		for _, e := range entries {
			p := filepath.Join(root, e.Name())
			if m[ctrl] == "" && slices.Contains(strings.Split(e.Name(), ","), ctrl) && isDir(p) {
				m[ctrl] = p
			}
		}
	}
	return m
}

// parseMountinfo returns the mount points directly under root of the cgroup
// v1 hierarchies of the v1Controllers, from a mountinfo file, and whether any
// v1 hierarchy is mounted there.
func parseMountinfo(r io.Reader, root string) (m map[string]string, found bool) {
	m = map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, _ := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != "cgroup" || filepath.Dir(f[4]) != root {
			continue
		}
		found = true
		for opt := range strings.SplitSeq(g[2], ",") {
			if slices.Contains(v1Controllers, opt) {
				m[opt] = f[4]
			}
		}
	}
	return m, found
}

// setupV1 makes the group in the hierarchies it needs and applies l.
func (c *Cgroup) setupV1(l Limits) error {
	for _, ctrl := range l.needs() {
		if _, ok := c.mnt[ctrl]; !ok {
			return fmt.Errorf("cgroup %s: the %s controller is not mounted", c.name, ctrl)
		}
	}
	if d, _ := c.dir("cpuset"); l.CpusetCpus == "" && !isDir(d) {
		delete(c.mnt, "cpuset")
	}
	for ctrl := range c.mnt {
		if err := c.mkdirV1(ctrl); err != nil {
			return err
		}
	}
	if err := c.setMemoryV1(l.Memory, l.swap()); err != nil {
		return err
	}
	var s []setting
	if l.MemoryReservation > 0 {
		s = append(s, setting{ctrl: "memory", file: "memory.soft_limit_in_bytes", val: itoa(l.MemoryReservation)})
	}
	if l.NanoCPUs > 0 {
		s = append(s, setting{ctrl: "cpu", file: "cpu.cfs_period_us", val: itoa(cfsPeriod)},
			setting{ctrl: "cpu", file: "cpu.cfs_quota_us", val: itoa(l.quota())})
	}
	if l.CPUShares > 0 {
		s = append(s, setting{ctrl: "cpu", file: "cpu.shares", val: itoa(l.CPUShares)})
	}
	if l.CpusetCpus != "" {
		s = append(s, setting{ctrl: "cpuset", file: "cpuset.cpus", val: l.CpusetCpus})
	}
	if l.PidsLimit > 0 {
		s = append(s, setting{ctrl: "pids", file: "pids.max", val: itoa(l.PidsLimit)})
	}
	if l.Devices != nil {
		// Deny everything, then allow the list (devices.allow takes one
		// rule a write).
		s = append(s, setting{ctrl: "devices", file: "devices.deny", val: "a"})
		for _, d := range l.Devices {
			s = append(s, setting{ctrl: "devices", file: "devices.allow", val: d})
		}
	}
	return c.apply(s)
}

// mkdirV1 makes the group's directory in the hierarchy of ctrl, with its
// parents. A new cpuset group has no CPUs and memory nodes, which makes
// adding processes fail: each level gets those of its parent.
func (c *Cgroup) mkdirV1(ctrl string) error {
	dir := c.mnt[ctrl]
	for part := range strings.SplitSeq(c.rel, string(filepath.Separator)) {
		parent := dir
		dir = filepath.Join(dir, part)
		if err := c.mkdir(dir); err != nil {
			return err
		}
		if ctrl != "cpuset" {
			continue
		}
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			if err := c.inherit(parent, dir, file); err != nil {
				return err
			}
		}
	}
	return nil
}

// inherit copies file of dir from parent when it is empty in dir.
func (c *Cgroup) inherit(parent, dir, file string) error {
	if s, err := c.read(dir, file); err != nil || s != "" {
		return err
	}
	s, err := c.read(parent, file)
	if err == nil {
		err = c.write(dir, file, s)
	}
	return err
}

// setMemoryV1 sets the memory limit then the memory+swap one, or the other
// way round when the kernel refuses a memory limit above the current
// memory+swap limit (as runc does). The latter is skipped when the kernel
// does not account swap.
func (c *Cgroup) setMemoryV1(mem, swap int64) error {
	limit := setting{ctrl: "memory", file: "memory.limit_in_bytes", val: itoa(mem)}
	memsw := setting{ctrl: "memory", file: "memory.memsw.limit_in_bytes", val: itoa(swap), optional: true}
	var s []setting
	if mem > 0 {
		s = append(s, limit)
	}
	if swap != 0 { // implies mem > 0
		s = append(s, memsw)
	}
	err := c.apply(s)
	if errors.Is(err, syscall.EINVAL) && len(s) == 2 {
		err = c.apply([]setting{memsw, limit})
	}
	return err
}
