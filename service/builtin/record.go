package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/state"
)

// record is everything the runtime keeps about a container, in
// containers/<id>/container.json. The CLI and the container's shim both
// change it, always through Backend.update, under the container's lock.
type record struct {
	ID      string
	Name    string
	Created time.Time
	Spec    service.ContainerSpec
	ImageID string
	// Layers are the directories under layers/ of the image, bottom first.
	Layers []string
	// Process is what runs: the image config merged with the spec.
	Process process
	// Health is the merged healthcheck; nil when there is none.
	Health *service.Healthcheck
	// StopSignal is the merged stop signal.
	StopSignal string
	// Networks maps the networks the container is attached to to their IDs.
	Networks map[string]attachment
	// State is the run state.
	State runState
}

// process is the command a container runs.
type process struct {
	Args []string
	Env  []string
	Cwd  string
	User string
}

// attachment is a container's endpoint on a network.
type attachment struct {
	ID      string
	Aliases []string `json:",omitempty"`
	// IP is the address, allocated at start (or asked for: Fixed);
	// Prefix its length; MAC derived from it, unless asked for (FixedMAC).
	IP       string `json:",omitempty"`
	Fixed    bool   `json:",omitempty"`
	Prefix   int    `json:",omitempty"`
	MAC      string `json:",omitempty"`
	FixedMAC string `json:",omitempty"`
	// Order ranks the container's networks: 0 is the primary (eth0).
	Order int
}

// endpointAttachment is the attachment ep asks for on the network whose ID
// is id, ranked order among the container's networks. A MAC address must
// be a unicast Ethernet one, which a veth can take.
func endpointAttachment(id string, ep service.Endpoint, order int) (attachment, error) {
	a := attachment{ID: id, Aliases: ep.Aliases, IP: ep.IPv4Address, Fixed: ep.IPv4Address != "", Order: order}
	if ep.MacAddress != "" {
		mac, err := net.ParseMAC(ep.MacAddress)
		switch {
		case err != nil || len(mac) != 6:
			return attachment{}, fmt.Errorf("network %s: mac address %q: not an Ethernet (EUI-48) address", ep.Network, ep.MacAddress)
		case mac[0]&1 == 1:
			return attachment{}, fmt.Errorf("network %s: mac address %s: a multicast address, which an interface cannot have", ep.Network, mac)
		}
		a.FixedMAC = mac.String()
	}
	return a, nil
}

// runState is what the shim reports of the container's process.
type runState struct {
	Status     string
	Pid        int    `json:",omitempty"`
	PidStart   uint64 `json:",omitempty"`
	ShimPid    int    `json:",omitempty"`
	ShimStart  uint64 `json:",omitempty"`
	ExitCode   int
	OOMKilled  bool   `json:",omitempty"`
	Error      string `json:",omitempty"`
	StartedAt  time.Time
	FinishedAt time.Time
	// Restarts counts the restarts by the policy since the last start.
	Restarts int `json:",omitempty"`
	// ManualStop is set by stop and kill: the policy does not restart.
	ManualStop bool `json:",omitempty"`
	// Health is "" (no healthcheck) or a service.Health* state.
	Health        string `json:",omitempty"`
	FailingStreak int    `json:",omitempty"`
	// HealthOutput is what the last probe printed (at most maxProbeOutput).
	HealthOutput string `json:",omitempty"`
	// LogStart is the log file's size when the current run started.
	LogStart int64 `json:",omitempty"`
	// Runs counts the runs since creation: attach uses it to see a new one.
	Runs int `json:",omitempty"`
	// Ports are the ports published by the current run.
	Ports []service.Port `json:",omitempty"`
}

// active reports whether the state says a shim supervises the container.
func (s runState) active() bool {
	switch s.Status {
	case service.StateRunning, service.StatePaused, service.StateRestarting:
		return true
	}
	return false
}

// load reads a container's record by exact ID.
func (b *Backend) load(id string) (*record, error) {
	var r record
	if err := state.ReadJSON(b.recordPath(id), &r); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, service.ErrNotFound)
		}
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return &r, nil
}

// ids lists the IDs of all containers.
func (b *Backend) ids() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(b.root, "containers"))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) == 64 {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

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
func (b *Backend) get(ref string) (*record, error) {
	id, err := b.resolve(ref)
	if err != nil {
		return nil, err
	}
	r, err := b.load(id)
	if err != nil {
		return nil, err
	}
	if r.State.active() && !alive(r.State.ShimPid, r.State.ShimStart) {
		return b.repair(id)
	}
	return r, nil
}

// update applies fn to a container's record under its lock and writes it
// back. fn sees the current record; an error from fn leaves it unchanged.
func (b *Backend) update(id string, fn func(r *record) error) (*record, error) {
	unlock, err := state.Lock(filepath.Join(b.containerDir(id), "lock"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, service.ErrNotFound)
		}
		return nil, err
	}
	defer unlock()
	r, err := b.load(id)
	if err != nil {
		return nil, err
	}
	if err := fn(r); err != nil {
		return r, err
	}
	if err := state.WriteJSON(b.recordPath(id), r); err != nil {
		return nil, fmt.Errorf("container %s: save state: %w", r.Name, err)
	}
	return r, nil
}

// repair cleans up after a shim that died without recording its
// container's end: kills what is left of the container, removes its
// cgroup, and records it as exited.
func (b *Backend) repair(id string) (*record, error) {
	var died bool
	r, err := b.update(id, func(r *record) error {
		if !r.State.active() || alive(r.State.ShimPid, r.State.ShimStart) {
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
	got, ok := procStart(pid)
	return ok && (start == 0 || got == start)
}

// procStart returns the start time of pid in clock ticks since boot.
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// killLeftovers kills what is left of a container whose shim died: its
// init (which takes the PID namespace with it) and its cgroup.
func (b *Backend) killLeftovers(r *record) {
	if alive(r.State.Pid, r.State.PidStart) {
		_ = syscall.Kill(r.State.Pid, syscall.SIGKILL)
	}
	cg := cgroup.Open(r.ID, b.cg)
	_ = cg.Kill()
	_ = cg.Remove()
	os.Remove(b.sockPath(r.ID))
}
