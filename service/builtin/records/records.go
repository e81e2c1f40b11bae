package records

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/state"
)

// Container is everything the runtime keeps about a container, in
// containers/<id>/container.json. The CLI and the container's shim both
// change it, always through Update, under the container's lock.
type Container struct {
	ID      string
	Name    string
	Created time.Time
	Spec    service.ContainerSpec
	ImageID string
	// Layers are the directories under layers/ of the image, bottom first.
	Layers []string
	// Process is what runs: the image config merged with the spec.
	Process Process
	// Health is the merged healthcheck; nil when there is none.
	Health *service.Healthcheck
	// StopSignal is the merged stop signal.
	StopSignal string
	// Networks maps the networks the container is attached to to their IDs.
	Networks map[string]Attachment
	// State is the run state.
	State RunState
}

// Process is the command a container runs.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
	User string
}

// Attachment is a container's endpoint on a network.
type Attachment struct {
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

// EndpointAttachment is the attachment ep asks for on the network whose ID
// is id, ranked order among the container's networks. A MAC address must
// be a unicast Ethernet one, which a veth can take.
func EndpointAttachment(id string, ep service.Endpoint, order int) (Attachment, error) {
	a := Attachment{ID: id, Aliases: ep.Aliases, IP: ep.IPv4Address, Fixed: ep.IPv4Address != "", Order: order}
	if ep.MacAddress != "" {
		mac, err := net.ParseMAC(ep.MacAddress)
		switch {
		case err != nil || len(mac) != 6:
			return Attachment{}, fmt.Errorf("network %s: mac address %q: not an Ethernet (EUI-48) address", ep.Network, ep.MacAddress)
		case mac[0]&1 == 1:
			return Attachment{}, fmt.Errorf("network %s: mac address %s: a multicast address, which an interface cannot have", ep.Network, mac)
		}
		a.FixedMAC = mac.String()
	}
	return a, nil
}

// RunState is what the shim reports of the container's process.
type RunState struct {
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
	// HealthOutput is what the last probe printed (at most the shim's
	// bound on probe output).
	HealthOutput string `json:",omitempty"`
	// LogStart is the log file's size when the current run started.
	LogStart int64 `json:",omitempty"`
	// Runs counts the runs since creation: attach uses it to see a new one.
	Runs int `json:",omitempty"`
	// Ports are the ports published by the current run.
	Ports []service.Port `json:",omitempty"`
}

// Active reports whether the state says a shim supervises the container.
func (s RunState) Active() bool {
	switch s.Status {
	case service.StateRunning, service.StatePaused, service.StateRestarting:
		return true
	}
	return false
}

// Describe is docker's Status column: "Up 3 seconds (healthy)",
// "Exited (0) 2 minutes ago", "Created", ...
func (s RunState) Describe(now time.Time) string {
	return service.StatusText(service.Container{State: s.Status, Health: s.Health, ExitCode: s.ExitCode, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt}, now)
}

// Dir is the directory of the container id under the runtime's root: its
// record, lock, log, upper/ and work/.
func Dir(root, id string) string { return filepath.Join(root, "containers", id) }

// Path is the file of the container id's record.
func Path(root, id string) string { return filepath.Join(Dir(root, id), "container.json") }

// Load reads a container's record by exact ID. A missing one is
// service.ErrNotFound.
func Load(root, id string) (*Container, error) {
	var r Container
	if err := state.ReadJSON(Path(root, id), &r); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, service.ErrNotFound)
		}
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return &r, nil
}

// IDs lists the IDs of all containers under root.
func IDs(root string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "containers"))
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

// Update applies fn to a container's record under its lock and writes it
// back. fn sees the current record; an error from fn leaves it unchanged
// and is returned with the record as it was.
func Update(root, id string, fn func(r *Container) error) (*Container, error) {
	unlock, err := state.Lock(filepath.Join(Dir(root, id), "lock"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, service.ErrNotFound)
		}
		return nil, err
	}
	defer unlock()
	r, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	if err := fn(r); err != nil {
		return r, err
	}
	if err := state.WriteJSON(Path(root, id), r); err != nil {
		return nil, fmt.Errorf("container %s: save state: %w", r.Name, err)
	}
	return r, nil
}
