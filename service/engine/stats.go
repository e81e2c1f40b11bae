package engine

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// Stats implements service.StatsReader with the engine's one-shot stats.
// A container that is not running has zero figures, whatever the engine
// answers for it (Podman ends the stream with no sample).
func (b *Backend) Stats(ctx context.Context, id string) (service.Stats, error) {
	res, err := b.c.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	var r container.StatsResponse
	if err == nil {
		err = json.NewDecoder(res.Body).Decode(&r)
		res.Body.Close()
	}
	if err != nil {
		if c, ierr := b.InspectContainer(ctx, id); ierr == nil && c.State != service.StateRunning && c.State != service.StatePaused {
			return service.Stats{Read: time.Now()}, nil
		}
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
