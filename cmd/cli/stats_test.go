package cli

import (
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

func TestStatsRow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := service.Container{ID: "0123456789abcdef0123", Name: "p-web-1"}
	prev := service.Stats{Read: t0, CPU: 1e9}
	cur := service.Stats{Read: t0.Add(time.Second), CPU: 1.5e9, Memory: 3 << 20, MemoryLimit: 64 << 20,
		NetRx: 1500, NetTx: 20, BlockRead: 4096, Pids: 4}
	got := statsRow(c, prev, cur, false)
	want := statsEntry{BlockIO: "4.1kB / 0B", CPUPerc: "50.00%", Container: "0123456789ab", ID: "0123456789ab",
		MemPerc: "4.69%", MemUsage: "3MiB / 64MiB", Name: "p-web-1", NetIO: "1.5kB / 20B", PIDs: "4"}
	if got != want {
		t.Errorf("statsRow =\n%+v, want\n%+v", got, want)
	}
	if got := statsRow(c, service.Stats{}, cur, true); got.CPUPerc != "0.00%" || got.ID != c.ID {
		t.Errorf("first sample / --no-trunc: %+v", got)
	}
}
