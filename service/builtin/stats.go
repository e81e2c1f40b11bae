package builtin

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
)

// Stats implements service.StatsReader: the container's cgroup (CPU,
// memory, pids, block I/O) and its network namespace's interfaces.
func (b *Backend) Stats(ctx context.Context, ref string) (service.Stats, error) {
	r, err := b.get(ref)
	if err != nil {
		return service.Stats{}, err
	}
	s := service.Stats{Read: time.Now()}
	if r.State.Status != service.StateRunning && r.State.Status != service.StatePaused {
		return s, nil
	}
	cs, err := cgroup.Open(r.ID, b.cg).Stats()
	if err != nil {
		return s, fmt.Errorf("stats of container %s: %w", r.Name, err)
	}
	s.CPU, s.Memory, s.MemoryLimit, s.Pids = cs.CPU, cs.Memory, cs.MemoryLimit, cs.Pids
	s.BlockRead, s.BlockWrite = cs.IORead, cs.IOWrite
	if s.MemoryLimit == 0 {
		s.MemoryLimit = hostMemory()
	}
	if r.Spec.NetworkMode != "host" {
		s.NetRx, s.NetTx = netDev("/proc/" + strconv.Itoa(r.State.Pid) + "/net/dev")
	}
	return s, nil
}

// netDev sums the bytes received and sent on the interfaces of a
// /proc/<pid>/net/dev, loopback left out.
func netDev(path string) (rx, tx uint64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}

// hostMemory is the host's memory in bytes (MemTotal), the limit of a
// container that has none, as docker reports it.
func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
