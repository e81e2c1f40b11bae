package cgroup

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const mib = 1 << 20

// v1Kernel are the files of a fake v1 tree with group berth/c1, as the
// kernel would have them (cpu co-mounted with cpuacct), but for the group's
// cpuset directory, which New makes only when asked for a cpuset.
func v1Kernel() map[string]string {
	return map[string]string{
		"memory/berth/c1/memory.limit_in_bytes":       "9223372036854771712\n",
		"memory/berth/c1/memory.soft_limit_in_bytes":  "9223372036854771712\n",
		"memory/berth/c1/memory.memsw.limit_in_bytes": "9223372036854771712\n",
		"memory/berth/c1/memory.oom_control":          "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
		"memory/berth/c1/cgroup.procs":                "",
		"cpu,cpuacct/berth/c1/cpu.cfs_period_us":      "100000\n",
		"cpu,cpuacct/berth/c1/cpu.cfs_quota_us":       "-1\n",
		"cpu,cpuacct/berth/c1/cpu.shares":             "1024\n",
		"cpu,cpuacct/berth/c1/cgroup.procs":           "",
		"pids/berth/c1/pids.max":                      "max\n",
		"pids/berth/c1/cgroup.procs":                  "",
		"freezer/berth/c1/freezer.state":              "THAWED\n",
		"freezer/berth/c1/cgroup.procs":               "",
		"cpuset/cpuset.cpus":                          "0-3\n",
		"cpuset/cpuset.mems":                          "0\n",
		"cpuset/berth/cpuset.cpus":                    "\n",
		"cpuset/berth/cpuset.mems":                    "\n",
		"blkio/blkio.weight":                          "500\n",
		"blkio/berth/c1/cgroup.procs":                 "",
	}
}

// v2Kernel are the files of a fake v2 tree with group berth/c1, where
// berth already enables memory and pids.
func v2Kernel() map[string]string {
	return map[string]string{
		"cgroup.controllers":           "cpuset cpu io memory hugetlb pids rdma misc\n",
		"cgroup.subtree_control":       "\n",
		"berth/cgroup.controllers":     "cpuset cpu memory pids\n",
		"berth/cgroup.subtree_control": "memory pids\n",
		"berth/c1/cgroup.controllers":  "cpuset cpu memory pids\n",
		"berth/c1/memory.max":          "max\n",
		"berth/c1/memory.low":          "0\n",
		"berth/c1/memory.swap.max":     "max\n",
		"berth/c1/memory.events":       "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
		"berth/c1/cpu.max":             "max 100000\n",
		"berth/c1/cpu.weight":          "100\n",
		"berth/c1/cpuset.cpus":         "\n",
		"berth/c1/pids.max":            "max\n",
		"berth/c1/cgroup.procs":        "",
		"berth/c1/cgroup.freeze":       "0\n",
	}
}

// fakeTree writes files (relative path → content) under a new root.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// snapshot returns the files under root, relative path → content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

type newCase struct {
	name    string
	limits  Limits
	kernel  map[string]string // kernel files to change first
	missing []string          // and to delete
	written map[string]string // files New must write, with their content
	err     string            // substring of New's error
}

// runNew checks, on a fake tree made of kernel minus tc.missing, that New
// writes exactly tc.written and leaves every other file alone.
func runNew(t *testing.T, version string, kernel map[string]string, tc newCase) {
	maps.Copy(kernel, tc.kernel)
	for _, p := range tc.missing {
		delete(kernel, p)
	}
	root := fakeTree(t, kernel)
	c, err := New("c1", tc.limits, Options{Root: root, Version: version})
	if tc.err != "" {
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Fatalf("New: got error %v, want %q", err, tc.err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(kernel)
	maps.Copy(want, tc.written)
	got := snapshot(t, root)
	for p := range keys(got, want) {
		if got[p] != want[p] {
			t.Errorf("%s = %q, want %q", p, got[p], want[p])
		}
	}
	for _, d := range c.Paths() {
		if !isDir(d) {
			t.Errorf("path %s is not a directory", d)
		}
	}
}

func keys(ms ...map[string]string) map[string]bool {
	k := map[string]bool{}
	for _, m := range ms {
		for p := range m {
			k[p] = true
		}
	}
	return k
}

func TestNewV1(t *testing.T) {
	for _, tc := range []newCase{
		{name: "none"},
		{name: "memory", limits: Limits{Memory: 64 * mib}, written: map[string]string{
			"memory/berth/c1/memory.limit_in_bytes":       "67108864",
			"memory/berth/c1/memory.memsw.limit_in_bytes": "134217728", // docker: 2*memory
		}},
		{name: "swap unlimited", limits: Limits{Memory: 64 * mib, MemorySwap: -1}, written: map[string]string{
			"memory/berth/c1/memory.limit_in_bytes":       "67108864",
			"memory/berth/c1/memory.memsw.limit_in_bytes": "-1",
		}},
		{name: "swap and reservation", limits: Limits{Memory: 64 * mib, MemorySwap: 96 * mib, MemoryReservation: 32 * mib}, written: map[string]string{
			"memory/berth/c1/memory.limit_in_bytes":       "67108864",
			"memory/berth/c1/memory.memsw.limit_in_bytes": "100663296",
			"memory/berth/c1/memory.soft_limit_in_bytes":  "33554432",
		}},
		{name: "no swap accounting", limits: Limits{Memory: 64 * mib},
			missing: []string{"memory/berth/c1/memory.memsw.limit_in_bytes"},
			written: map[string]string{"memory/berth/c1/memory.limit_in_bytes": "67108864"}},
		{name: "swap without memory is a no-op", limits: Limits{MemorySwap: -1}},
		{name: "cpus", limits: Limits{NanoCPUs: 1.5e9, CPUShares: 512}, written: map[string]string{
			"cpu,cpuacct/berth/c1/cpu.cfs_period_us": "100000",
			"cpu,cpuacct/berth/c1/cpu.cfs_quota_us":  "150000",
			"cpu,cpuacct/berth/c1/cpu.shares":        "512",
		}},
		{name: "cpuset", limits: Limits{CpusetCpus: "1"}, kernel: map[string]string{
			"cpuset/berth/c1/cpuset.cpus":  "\n",
			"cpuset/berth/c1/cpuset.mems":  "\n",
			"cpuset/berth/c1/cgroup.procs": "",
		}, written: map[string]string{
			"cpuset/berth/cpuset.cpus":    "0-3",
			"cpuset/berth/cpuset.mems":    "0",
			"cpuset/berth/c1/cpuset.cpus": "1",
			"cpuset/berth/c1/cpuset.mems": "0",
		}},
		{name: "pids", limits: Limits{PidsLimit: 20}, written: map[string]string{"pids/berth/c1/pids.max": "20"}},
		{name: "pids unlimited", limits: Limits{PidsLimit: -1}},
		{name: "pids not mounted", limits: Limits{PidsLimit: 20},
			missing: []string{"pids/berth/c1/pids.max", "pids/berth/c1/cgroup.procs"},
			err:     "pids controller is not mounted"},
		{name: "devices", limits: Limits{Devices: []string{"c 1:3 rwm", "b *:* m"}}, kernel: map[string]string{
			"devices/berth/c1/devices.deny":  "",
			"devices/berth/c1/devices.allow": "",
			"devices/berth/c1/cgroup.procs":  "",
		}, written: map[string]string{
			"devices/berth/c1/devices.deny":  "a",
			"devices/berth/c1/devices.allow": "b *:* m", // one rule a write: the last one stays
		}},
		{name: "devices not mounted", limits: Limits{Devices: DockerDevices}, err: "devices controller is not mounted"},
		{name: "swap without memory", limits: Limits{MemorySwap: mib}, err: "needs a memory limit"},
		{name: "swap below memory", limits: Limits{Memory: 2 * mib, MemorySwap: mib}, err: "at least the memory limit"},
		{name: "reservation above memory", limits: Limits{Memory: mib, MemoryReservation: 2 * mib}, err: "reservation"},
	} {
		t.Run(tc.name, func(t *testing.T) { runNew(t, "v1", v1Kernel(), tc) })
	}
}

func TestNewV2(t *testing.T) {
	enabled := map[string]string{
		"cgroup.subtree_control":       "+memory +pids +cpu +cpuset",
		"berth/cgroup.subtree_control": "+cpu +cpuset",
	}
	for _, tc := range []newCase{
		{name: "none"},
		{name: "memory", limits: Limits{Memory: 64 * mib}, written: map[string]string{
			"berth/c1/memory.max":      "67108864",
			"berth/c1/memory.swap.max": "67108864", // docker: 2*memory in all
		}},
		{name: "swap unlimited", limits: Limits{Memory: 64 * mib, MemorySwap: -1}, written: map[string]string{
			"berth/c1/memory.max":      "67108864",
			"berth/c1/memory.swap.max": "max",
		}},
		{name: "swap and reservation", limits: Limits{Memory: 64 * mib, MemorySwap: 96 * mib, MemoryReservation: 32 * mib}, written: map[string]string{
			"berth/c1/memory.max":      "67108864",
			"berth/c1/memory.swap.max": "33554432",
			"berth/c1/memory.low":      "33554432",
		}},
		{name: "no swap accounting", limits: Limits{Memory: 64 * mib}, missing: []string{"berth/c1/memory.swap.max"},
			written: map[string]string{"berth/c1/memory.max": "67108864"}},
		{name: "cpus", limits: Limits{NanoCPUs: 1.5e9, CPUShares: 1024}, written: map[string]string{
			"berth/c1/cpu.max":    "150000 100000",
			"berth/c1/cpu.weight": "39",
		}},
		{name: "cpuset", limits: Limits{CpusetCpus: "0-1"}, written: map[string]string{"berth/c1/cpuset.cpus": "0-1"}},
		{name: "pids", limits: Limits{PidsLimit: 20}, written: map[string]string{"berth/c1/pids.max": "20"}},
		{name: "devices are not enforced on v2", limits: Limits{Devices: DockerDevices}},
		{name: "controller not available", limits: Limits{PidsLimit: 20},
			kernel: map[string]string{"berth/c1/cgroup.controllers": "cpu memory\n"},
			err:    "pids controller is not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.written = maps.Clone(tc.written)
			if tc.written == nil {
				tc.written = map[string]string{}
			}
			maps.Copy(tc.written, enabled)
			runNew(t, "v2", v2Kernel(), tc)
		})
	}
}

func TestWeight(t *testing.T) {
	for shares, want := range map[int64]int64{1: 1, 2: 1, 512: 20, 1024: 39, 262144: 10000, 1 << 20: 10000} {
		if got := (Limits{CPUShares: shares}).weight(); got != want {
			t.Errorf("weight(%d) = %d, want %d", shares, got, want)
		}
	}
}

// TestHandle exercises the methods other than New on fake trees.
func TestHandle(t *testing.T) {
	for _, tc := range []struct {
		version string
		kernel  map[string]string
		freeze  string // file written by Freeze
		frozen  string // and its content
		oom     string // file with the OOM kill count
		dirs    []string
	}{
		{"v1", v1Kernel(), "freezer/berth/c1/freezer.state", "FROZEN", "memory/berth/c1/memory.oom_control",
			[]string{"blkio/berth/c1", "cpu,cpuacct/berth/c1", "freezer/berth/c1", "memory/berth/c1", "pids/berth/c1"}},
		{"v2", v2Kernel(), "berth/c1/cgroup.freeze", "1", "berth/c1/memory.events", []string{"berth/c1"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			root := fakeTree(t, tc.kernel)
			o := Options{Root: root, Version: tc.version}
			c, err := New("c1", Limits{}, o)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range tc.dirs {
				want = append(want, filepath.Join(root, d))
			}
			if got := c.Paths(); !slices.Equal(got, want) {
				t.Errorf("Paths = %v, want %v", got, want)
			}
			if got := Open("c1", o).Paths(); !slices.Equal(got, want) {
				t.Errorf("Open: Paths = %v, want %v", got, want)
			}

			if err := c.Add(4242); err != nil {
				t.Fatal(err)
			}
			for _, d := range want {
				if b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs")); string(b) != "4242" {
					t.Errorf("%s/cgroup.procs = %q after Add", d, b)
				}
			}
			os.WriteFile(filepath.Join(want[0], "cgroup.procs"), []byte("7\n4242\n"), 0o644)
			if pids, err := c.Procs(); err != nil || !slices.Equal(pids, []int{7, 4242}) {
				t.Errorf("Procs = %v, %v", pids, err)
			}
			for _, d := range want {
				os.WriteFile(filepath.Join(d, "cgroup.procs"), nil, 0o644)
			}
			if err := c.Kill(); err != nil {
				t.Errorf("Kill of an empty group: %v", err)
			}

			if err := c.Freeze(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(root, tc.freeze)); string(b) != tc.frozen {
				t.Errorf("Freeze: %s = %q", tc.freeze, b)
			}
			if err := c.Thaw(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(root, tc.freeze)); string(b) == tc.frozen {
				t.Errorf("Thaw: %s = %q", tc.freeze, b)
			}

			if n, err := c.OOMKills(); n != 0 || err != nil {
				t.Errorf("OOMKills = %d, %v", n, err)
			}
			os.WriteFile(filepath.Join(root, tc.oom), []byte("oom 3\noom_kill 3\n"), 0o644)
			if n, err := c.OOMKills(); n != 3 || err != nil {
				t.Errorf("OOMKills = %d, %v, want 3", n, err)
			}
			os.WriteFile(filepath.Join(root, tc.oom), []byte("under_oom 0\n"), 0o644)
			if n, err := c.OOMKills(); n != 0 || err != nil {
				t.Errorf("OOMKills without the key = %d, %v", n, err)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			root := fakeTree(t, map[string]string{
				"cgroup.controllers": "", "cgroup.subtree_control": "",
				"berth/cgroup.controllers": "", "berth/cgroup.subtree_control": "",
				"memory/x": "", "cpu/x": "", "pids/x": "", "freezer/x": "", "cpuset/x": "",
			})
			o := Options{Root: root, Version: version}
			c, err := New("c1", Limits{}, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Remove(); err != nil {
				t.Fatal(err)
			}
			for _, d := range c.Paths() {
				if _, err := os.Stat(d); !os.IsNotExist(err) {
					t.Errorf("%s left: %v", d, err)
				}
			}
			gone := Open("c1", o)
			if err := gone.Remove(); err != nil {
				t.Errorf("Remove of a missing group: %v", err)
			}
			if pids, err := gone.Procs(); len(pids) != 0 || err != nil {
				t.Errorf("Procs of a missing group = %v, %v", pids, err)
			}
		})
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b"} {
		if err := Open(name, Options{Version: "v2"}).Remove(); err == nil {
			t.Errorf("Open(%q).Remove() succeeded", name)
		}
	}
	if _, err := New("c1", Limits{}, Options{Parent: "../x", Version: "v2"}); err == nil {
		t.Error("New with parent ../x succeeded")
	}
}

func TestMode(t *testing.T) {
	for _, v := range []string{"v1", "v2", "hybrid"} {
		if got, err := Mode(Options{Version: v}); got != v || err != nil {
			t.Errorf("Mode(Version %s) = %q, %v", v, got, err)
		}
	}
	if _, err := Mode(Options{Version: "v3"}); err == nil {
		t.Error("Mode accepted version v3")
	}
	if runtime.GOOS != "linux" {
		return
	}
	if got, err := Mode(Options{Root: t.TempDir()}); got != "v1" || err != nil {
		t.Errorf("Mode of a plain directory = %q, %v, want v1", got, err)
	}
	if _, err := Mode(Options{Root: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("Mode of a missing root succeeded")
	}
}

func TestParseMountinfo(t *testing.T) {
	const mountinfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 22 0:35 / /mnt/pids rw,relatime - cgroup cgroup rw,pids
`
	got, found := parseMountinfo(strings.NewReader(mountinfo), "/sys/fs/cgroup")
	want := map[string]string{
		"cpu":     "/sys/fs/cgroup/cpu,cpuacct",
		"cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory":  "/sys/fs/cgroup/memory",
		"freezer": "/sys/fs/cgroup/freezer",
	}
	if !maps.Equal(got, want) || !found {
		t.Errorf("parseMountinfo = %v, %v, want %v, true", got, found, want)
	}
	if _, found := parseMountinfo(strings.NewReader(mountinfo), "/tmp"); found {
		t.Error("parseMountinfo found cgroups under /tmp")
	}
}

func TestStats(t *testing.T) {
	for _, tc := range []struct {
		version string
		files   map[string]string
		want    Stats
	}{
		{"v1", map[string]string{
			"cpu,cpuacct/berth/c1/cpuacct.usage":                       "123456789\n",
			"memory/berth/c1/memory.usage_in_bytes":                    "10000\n",
			"memory/berth/c1/memory.stat":                              "cache 5\ntotal_inactive_file 1000\n",
			"memory/berth/c1/memory.limit_in_bytes":                    "9223372036854771712\n",
			"pids/berth/c1/pids.current":                               "3\n",
			"blkio/berth/c1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
			"freezer/berth/c1/cgroup.procs":                            "",
		}, Stats{CPU: 123456789, Memory: 9000, Pids: 3, IORead: 4096, IOWrite: 512}},
		{"v2", map[string]string{
			"berth/c1/cpu.stat":       "usage_usec 1500\nuser_usec 1000\n",
			"berth/c1/memory.current": "20000\n",
			"berth/c1/memory.stat":    "anon 1\ninactive_file 5000\n",
			"berth/c1/memory.max":     "67108864\n",
			"berth/c1/pids.current":   "2\n",
			"berth/c1/io.stat":        "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
		}, Stats{CPU: 1500000, Memory: 15000, MemoryLimit: 67108864, Pids: 2, IORead: 101, IOWrite: 202}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			root := fakeTree(t, tc.files)
			got, err := Open("c1", Options{Root: root, Version: tc.version}).Stats()
			if err != nil || got != tc.want {
				t.Errorf("Stats = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
