package builtin

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/proc"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
)

// load reads a container's record by exact ID.
func (b *Backend) load(id string) (*records.Container, error) { return records.Load(b.root, id) }

// ids lists the IDs of all containers.
func (b *Backend) ids() ([]string, error) { return records.IDs(b.root) }

// resolve finds a container by ID, name or unique ID prefix and returns
// its ID.
func (b *Backend) resolve(ref string) (string, error) {
	ref = strings.TrimPrefix(ref, "/")
	if len(ref) == 64 && state.Exists(b.recordPath(ref)) {
		return ref, nil
	}
	ids, err := b.ids()
	if err != nil {
		return "", err
	}
	var prefixed []string
	for _, id := range ids {
		r, err := b.load(id)
		if err != nil {
			continue
		}
		if r.Name == ref {
			return id, nil
		}
		if len(ref) >= 3 && strings.HasPrefix(id, ref) {
			prefixed = append(prefixed, id)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0], nil
	}
	return "", fmt.Errorf("container %q: %w", ref, service.ErrNotFound)
}

// get resolves ref and loads the container's record, repairing what a dead
// shim left first.
func (b *Backend) get(ref string) (*records.Container, error) {
	id, err := b.resolve(ref)
	if err != nil {
		return nil, err
	}
	r, err := b.load(id)
	if err != nil {
		return nil, err
	}
	if r.State.Active() && !alive(r.State.ShimPid, r.State.ShimStart) {
		return b.repair(id)
	}
	return r, nil
}

// update applies fn to a container's record under its lock and writes it
// back (records.Update).
func (b *Backend) update(id string, fn func(r *records.Container) error) (*records.Container, error) {
	return records.Update(b.root, id, fn)
}

// repair cleans up after a shim that died without recording its
// container's end: kills what is left of the container, removes its
// cgroup, and records it as exited.
func (b *Backend) repair(id string) (*records.Container, error) {
	var died bool
	r, err := b.update(id, func(r *records.Container) error {
		if !r.State.Active() || alive(r.State.ShimPid, r.State.ShimStart) {
			return nil
		}
		b.killLeftovers(r)
		died = r.State.Status != service.StateRestarting
		r.State.Status = service.StateExited
		if died {
			r.State.ExitCode = 137
		}
		r.State.Error = "the container's supervisor (shim) died"
		r.State.FinishedAt = time.Now().UTC()
		r.State.Pid, r.State.PidStart, r.State.ShimPid, r.State.ShimStart = 0, 0, 0, 0
		r.State.Health = ""
		return nil
	})
	if err == nil && died {
		b.emit(r, "die", r.State.ExitCode)
	}
	return r, err
}

// alive reports whether pid is the process that started at start (field 22
// of /proc/<pid>/stat), so that a reused PID is not mistaken for it.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got, ok := proc.StartTime(pid)
	return ok && (start == 0 || got == start)
}

// killLeftovers kills what is left of a container whose shim died: its
// init (which takes the PID namespace with it) and its cgroup.
func (b *Backend) killLeftovers(r *records.Container) {
	if alive(r.State.Pid, r.State.PidStart) {
		_ = syscall.Kill(r.State.Pid, syscall.SIGKILL)
	}
	cg := cgroup.Open(r.ID, b.cg)
	_ = cg.Kill()
	_ = cg.Remove()
	os.Remove(b.sockPath(r.ID))
}
