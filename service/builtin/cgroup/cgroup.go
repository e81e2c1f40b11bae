package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultRoot is where the cgroup filesystem is mounted.
	DefaultRoot = "/sys/fs/cgroup"
	// DefaultParent is the group under which containers' groups are made.
	DefaultParent = "berth"

	cfsPeriod     = 100000 // µs, docker's CFS period for --cpus
	waitTimeout   = 2 * time.Second
	removeTimeout = time.Second
	pollInterval  = 10 * time.Millisecond
)

// Limits are the resource limits of one container. Zero means unset: the
// kernel's default (unlimited) or, on an existing group, the current value.
type Limits struct {
	Memory            int64  // bytes (docker --memory)
	MemoryReservation int64  // bytes, soft limit (docker --memory-reservation)
	MemorySwap        int64  // docker --memory-swap: memory+swap; -1 unlimited; 0 with Memory means 2*Memory
	NanoCPUs          int64  // docker --cpus * 1e9, a CFS quota over a 100ms period
	CPUShares         int64  // docker --cpu-shares (cpu.weight on v2)
	CpusetCpus        string // docker --cpuset-cpus, e.g. "0-1"
	PidsLimit         int64  // docker --pids-limit; <= 0 is unlimited
	// Devices, when not nil, are the only devices the group's processes
	// may create (m), read (r) or write (w), as v1 devices.allow rules
	// ("c 1:3 rwm", "b *:* m", "a *:* rwm"): everything else is denied.
	// Only cgroup v1 enforces them (v2 needs an eBPF program): see
	// EnforcesDevices.
	Devices []string
}

// DockerDevices are docker's device rules for a container that is not
// privileged: any node may be made (mknod), and the standard ones
// (/dev/null, zero, full, random, urandom, tty, console, ptmx, the
// terminals under /dev/pts, /dev/net/tun) opened; a disk may not.
var DockerDevices = []string{
	"c *:* m", "b *:* m",
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
	"c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
}

// EnforcesDevices reports whether Limits.Devices is enforced on the cgroup
// filesystem o locates (cgroup v1's devices controller is mounted).
func EnforcesDevices(o Options) bool {
	o = o.withDefaults()
	m, err := mode(o)
	if err != nil || m == "v2" {
		return false
	}
	_, ok := v1Mounts(o.Root)["devices"]
	return ok
}

// Options locate the cgroup filesystem; the zero value is the real one.
type Options struct {
	// Root is the cgroup mount point (DefaultRoot when empty).
	Root string
	// Parent is the path, relative to Root (to each v1 hierarchy), of the
	// group containing the containers' groups (DefaultParent when empty).
	Parent string
	// Version, when set, skips the detection of Mode: "v1", "v2" or
	// "hybrid". It is meant for tests on a fake tree under Root, where v1
	// hierarchies are found as directories of Root named after their
	// controllers ("memory", "cpu,cpuacct", ...).
	Version string
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = DefaultRoot
	}
	if o.Parent == "" {
		o.Parent = DefaultParent
	}
	o.Root = filepath.Clean(o.Root)
	return o
}

// Cgroup is a handle to one container's group. It is safe for concurrent
// use.
type Cgroup struct {
	name string
	rel  string            // <Parent>/<name>
	v2   bool              // unified hierarchy at mnt[""]
	mnt  map[string]string // v1: controller → hierarchy mount point
	err  error             // why Open failed, returned by every method
}

// New creates the group name (it may exist already) and applies l to it.
func New(name string, l Limits, o Options) (*Cgroup, error) {
	if err := l.validate(); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	c, err := open(name, o)
	if err != nil {
		return nil, err
	}
	if c.v2 {
		err = c.setupV2(l)
	} else {
		err = c.setupV1(l)
	}
	if err != nil {
		for _, d := range c.Paths() {
			_ = os.Remove(d) // best effort: fails harmlessly when in use
		}
		return nil, err
	}
	return c, nil
}

// Open returns a handle to the existing group name, for example to remove
// it. A missing group is no error: it has no processes and removing it
// succeeds. When the cgroup filesystem cannot be used, every method of the
// handle returns the error.
func Open(name string, o Options) *Cgroup {
	c, err := open(name, o)
	if err != nil {
		return &Cgroup{name: name, err: err}
	}
	for _, ctrl := range []string{"cpuset", "devices"} {
		// New makes cpuset's only when a cpuset is requested; a group
		// made before berth used devices has none.
		if d, ok := c.dir(ctrl); ok && !isDir(d) {
			delete(c.mnt, ctrl)
		}
	}
	return c
}

func open(name string, o Options) (*Cgroup, error) {
	o = o.withDefaults()
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("cgroup: invalid name %q", name)
	}
	if !filepath.IsLocal(o.Parent) {
		return nil, fmt.Errorf("cgroup %s: invalid parent %q", name, o.Parent)
	}
	mode, err := mode(o)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	c := &Cgroup{name: name, rel: filepath.Join(o.Parent, name)}
	if mode == "v2" {
		c.v2, c.mnt = true, map[string]string{"": o.Root}
	} else if c.mnt = v1Mounts(o.Root); len(c.mnt) == 0 {
		return nil, fmt.Errorf("cgroup %s: no cgroup v1 hierarchy under %s", name, o.Root)
	}
	return c, nil
}

// Mode reports how cgroups are mounted at o.Root: "v2" when Root is a
// cgroup2 filesystem, "hybrid" when Root holds v1 hierarchies and a cgroup2
// one at Root/unified, else "v1". A hybrid host is used as v1. It returns
// o.Version when set.
func Mode(o Options) (string, error) {
	m, err := mode(o.withDefaults())
	if err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	return m, nil
}

func mode(o Options) (string, error) {
	switch o.Version {
	case "v1", "v2", "hybrid":
		return o.Version, nil
	case "":
	default:
		return "", fmt.Errorf("invalid version %q", o.Version)
	}
	v2, err := isCgroup2(o.Root)
	if err != nil {
		return "", fmt.Errorf("statfs %s: %w", o.Root, unwrapPath(err))
	}
	if v2 {
		return "v2", nil
	}
	if v2, _ := isCgroup2(filepath.Join(o.Root, "unified")); v2 {
		return "hybrid", nil
	}
	return "v1", nil
}

// Paths returns the group's directories, one per hierarchy it is made in,
// sorted, whether they exist or not: on v1 those of the memory, cpu, pids
// and freezer hierarchies that are mounted, and cpuset's when New was asked
// for a cpuset or when the directory exists.
func (c *Cgroup) Paths() []string {
	var dirs []string
	for ctrl := range c.mnt {
		d, _ := c.dir(ctrl)
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return slices.Compact(dirs) // co-mounted controllers share a directory
}

// dir is the group's directory in the hierarchy of ctrl ("" on v2), and
// whether that hierarchy is mounted.
func (c *Cgroup) dir(ctrl string) (string, bool) {
	m, ok := c.mnt[ctrl]
	return filepath.Join(m, c.rel), ok
}

// Add moves the process pid (all its threads) into the group, in every
// hierarchy.
func (c *Cgroup) Add(pid int) error {
	if c.err != nil {
		return c.err
	}
	for _, d := range c.Paths() {
		if err := c.write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Procs returns the sorted pids of the processes in the group (on v1, in
// any of its hierarchies). It is empty when the group does not exist.
func (c *Cgroup) Procs() ([]int, error) {
	if c.err != nil {
		return nil, c.err
	}
	var pids []int
	for _, d := range c.Paths() {
		s, err := c.read(d, "cgroup.procs")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("cgroup %s: %s/cgroup.procs: %w", c.name, d, err)
			}
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// Kill sends SIGKILL to every process of the group, and waits up to 2s for
// the group to be empty. It uses cgroup.kill where v2 has it; else it
// freezes the group while it signals the processes, so that none escapes by
// forking, and thaws it then (frozen v1 processes die only once thawed).
func (c *Cgroup) Kill() error {
	if c.err != nil {
		return c.err
	}
	byKernel := false
	if c.v2 {
		d, _ := c.dir("")
		byKernel = c.write(d, "cgroup.kill", "1") == nil
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		pids, err := c.Procs()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %d processes left after SIGKILL", c.name, len(pids))
		}
		if !byKernel {
			c.killAll()
		}
		time.Sleep(pollInterval)
	}
}

// killAll signals the processes of the group, frozen if possible, and thaws
// the group.
func (c *Cgroup) killAll() {
	_ = c.freeze(true, 100*time.Millisecond)
	pids, _ := c.Procs()
	for _, pid := range pids {
		_ = kill(pid)
	}
	_ = c.freeze(false, 100*time.Millisecond)
}

// Freeze stops every process of the group, and returns once they are all
// stopped (v1 freezer.state FROZEN, v2 cgroup.freeze).
func (c *Cgroup) Freeze() error { return c.freeze(true, waitTimeout) }

// Thaw resumes the processes of a frozen group.
func (c *Cgroup) Thaw() error { return c.freeze(false, waitTimeout) }

func (c *Cgroup) freeze(on bool, timeout time.Duration) error {
	if c.err != nil {
		return c.err
	}
	dir, ok := c.dir("freezer")
	file, states := "freezer.state", [2]string{"THAWED", "FROZEN"}
	if c.v2 {
		dir, ok = c.dir("")
		file, states = "cgroup.freeze", [2]string{"0", "1"}
	}
	if !ok {
		return fmt.Errorf("cgroup %s: the freezer hierarchy is not mounted", c.name)
	}
	want := states[0]
	if on {
		want = states[1]
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := c.write(dir, file, want); err != nil {
			return err
		}
		if ok, err := c.frozen(dir, want); ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			if on {
				_ = c.write(dir, file, states[0])
			}
			return fmt.Errorf("cgroup %s: %s/%s did not reach %s", c.name, dir, file, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// frozen reports whether the freezer state of the group (in dir) is want:
// v1 freezer.state, v2 the "frozen" key of cgroup.events (taken as reached
// when the file is missing, as in a fake tree).
func (c *Cgroup) frozen(dir, want string) (bool, error) {
	if !c.v2 {
		s, err := c.read(dir, "freezer.state")
		return s == want, err
	}
	n, err := c.keyed(dir, "cgroup.events", "frozen")
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	return strconv.FormatInt(n, 10) == want, err
}

// OOMKills returns how many processes of the group the OOM killer killed:
// "oom_kill" of v1 memory.oom_control or of v2 memory.events; 0 when the
// kernel does not count them or the group has no memory controller.
func (c *Cgroup) OOMKills() (int64, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.v2 {
		d, _ := c.dir("")
		n, err := c.keyed(d, "memory.events", "oom_kill")
		if errors.Is(err, fs.ErrNotExist) && isDir(d) {
			return 0, nil // no memory controller
		}
		return n, err
	}
	d, ok := c.dir("memory")
	if !ok {
		return 0, nil
	}
	return c.keyed(d, "memory.oom_control", "oom_kill")
}

// Remove removes the group's directories, retrying for a while those still
// busy with exiting processes. A missing directory is no error.
func (c *Cgroup) Remove() error {
	if c.err != nil {
		return c.err
	}
	var errs []error
	for _, d := range c.Paths() {
		errs = append(errs, c.rmdir(d))
	}
	return errors.Join(errs...)
}

func (c *Cgroup) rmdir(dir string) error {
	deadline := time.Now().Add(removeTimeout)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, errBusy) || time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: rmdir %s: %w", c.name, dir, unwrapPath(err))
		}
		time.Sleep(pollInterval)
	}
}

// Stats is a sample of a group's resource usage; a figure the kernel
// does not keep (a controller not mounted) is 0.
type Stats struct {
	// CPU is the CPU time used, all CPUs together, in nanoseconds.
	CPU uint64
	// Memory is the memory used less the inactive page cache, as docker
	// counts it; MemoryLimit the limit (0: none).
	Memory, MemoryLimit uint64
	// Pids is the number of processes (tasks).
	Pids uint64
	// IORead and IOWrite are the bytes read from and written to block
	// devices.
	IORead, IOWrite uint64
}

// Stats samples the group's usage.
func (c *Cgroup) Stats() (Stats, error) {
	if c.err != nil {
		return Stats{}, c.err
	}
	var s Stats
	num := func(dir, file string) uint64 {
		v, err := c.read(dir, file)
		if err != nil {
			return 0
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		return n
	}
	keyed := func(dir, file, key string) uint64 {
		n, _ := c.keyed(dir, file, key)
		return uint64(max(n, 0))
	}
	io := func(dir, file string, v2 bool) {
		text, err := c.read(dir, file)
		if err != nil {
			return
		}
		for line := range strings.Lines(text) {
			f := strings.Fields(line)
			if v2 { // "8:0 rbytes=1 wbytes=2 ..."
				for _, kv := range f[1:] {
					k, v, _ := strings.Cut(kv, "=")
					n, _ := strconv.ParseUint(v, 10, 64)
					switch k {
					case "rbytes":
						s.IORead += n
					case "wbytes":
						s.IOWrite += n
					}
				}
				continue
			}
			if len(f) == 3 { // "8:0 Read 4096"
				n, _ := strconv.ParseUint(f[2], 10, 64)
				switch f[1] {
				case "Read":
					s.IORead += n
				case "Write":
					s.IOWrite += n
				}
			}
		}
	}
	if c.v2 {
		d, _ := c.dir("")
		s.CPU = keyed(d, "cpu.stat", "usage_usec") * 1000
		s.Memory = num(d, "memory.current")
		if inactive := keyed(d, "memory.stat", "inactive_file"); inactive < s.Memory {
			s.Memory -= inactive
		}
		s.MemoryLimit = num(d, "memory.max") // "max" parses as 0
		s.Pids = num(d, "pids.current")
		io(d, "io.stat", true)
		return s, nil
	}
	if d, ok := c.dir("cpuacct"); ok {
		s.CPU = num(d, "cpuacct.usage")
	}
	if d, ok := c.dir("memory"); ok {
		s.Memory = num(d, "memory.usage_in_bytes")
		if inactive := keyed(d, "memory.stat", "total_inactive_file"); inactive < s.Memory {
			s.Memory -= inactive
		}
		if l := num(d, "memory.limit_in_bytes"); l < 1<<62 {
			s.MemoryLimit = l
		}
	}
	if d, ok := c.dir("pids"); ok {
		s.Pids = num(d, "pids.current")
	}
	if d, ok := c.dir("blkio"); ok {
		io(d, "blkio.throttle.io_service_bytes_recursive", false)
	}
	return s, nil
}
