package engine

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// Stats implements service.StatsReader with the engine's one-shot stats.
func (b *Backend) Stats(ctx context.Context, id string) (service.Stats, error) {
	res, err := b.c.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return service.Stats{}, wrapf(err, "stats of container %q", id)
	}
	defer res.Body.Close()
	var r container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return service.Stats{}, wrapf(err, "stats of container %q", id)
	}
	return statsFrom(r), nil
}

// statsFrom converts the engine's sample, counting memory as docker's CLI
// does (the inactive page cache left out).
func statsFrom(r container.StatsResponse) service.Stats {
	s := service.Stats{
		Read: r.Read, CPU: r.CPUStats.CPUUsage.TotalUsage,
		Memory: r.MemoryStats.Usage, MemoryLimit: r.MemoryStats.Limit,
		Pids: r.PidsStats.Current,
	}
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := r.MemoryStats.Stats[k]; ok && v < s.Memory {
			s.Memory -= v
			break
		}
	}
	for _, n := range r.Networks {
		s.NetRx += n.RxBytes
		s.NetTx += n.TxBytes
	}
	for _, e := range r.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			s.BlockRead += e.Value
		case "write":
			s.BlockWrite += e.Value
		}
	}
	return s
}

// ResizeTTY implements service.Resizer.
func (b *Backend) ResizeTTY(ctx context.Context, id string, size service.TerminalSize) error {
	if size.Rows == 0 || size.Cols == 0 {
		return nil
	}
	_, err := b.c.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: uint(size.Rows), Width: uint(size.Cols)})
	return wrapf(err, "resize the terminal of container %q", id)
}
