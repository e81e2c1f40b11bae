package proc

import (
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/confine"
)

// InitConfig is everything the container's init needs to set up the
// container and run its command. The shim sends it as JSON on fd 3.
type InitConfig struct {
	// LayersDir holds the unpacked layers; Layers are its entries, bottom
	// first; Upper, Work and Merged are the overlay's other directories.
	LayersDir           string
	Layers              []string
	Upper, Work, Merged string
	Hostname            string
	Domainname          string
	// EtcFiles maps a file under /etc to the host file bind-mounted there.
	EtcFiles map[string]string
	Mounts   []Mount
	Args     []string
	Env      []string
	Cwd      string
	User     string
	GroupAdd []string
	// Confine is what the process is confined by, as every other process
	// of the container.
	Confine    confine.Confinement
	Privileged bool
	ReadOnly   bool
	// Init runs InitBinary (this berth binary) as PID 1, reaping zombies.
	Init       bool
	InitBinary string
	// JoinNetNS: fd 5 is the network namespace to join (network_mode
	// container:).
	JoinNetNS bool
	Rlimits   []service.Ulimit
	Sysctls   map[string]string
	ShmSize   int64
	// MountPoints, when set, is the host file the init writes the mount
	// points it created in the root to (a JSON list of paths, parents
	// first), for build steps.
	MountPoints string
}

// ExecConfig is what `berth __berth-exec` needs to run a process in a
// running container; see ExecMain.
type ExecConfig struct {
	// Pid is the container's init, PidStart its start time (a pid reused
	// by another process is refused).
	Pid      int
	PidStart uint64
	// Cgroups are the container's cgroup directories.
	Cgroups  []string
	Args     []string
	Env      []string
	Cwd      string
	User     string
	GroupAdd []string
	Rlimits  []service.Ulimit
	// Tty: the standard streams are a terminal, which becomes the
	// process's controlling terminal.
	Tty bool
	// Detach: the process outlives the caller (no lifeline, see ExecMain).
	Detach  bool
	Confine confine.Confinement
}

// Mount is a mount in the container.
type Mount struct {
	Type     string // bind, tmpfs
	Source   string
	Target   string
	ReadOnly bool
	Data     string
	// Propagation is the bind's propagation ("rprivate" when empty).
	Propagation string
	// Populate fills an empty volume with what the image has at Target
	// before mounting it, as docker does.
	Populate bool
}
