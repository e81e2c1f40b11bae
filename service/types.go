package service

import "time"

// Filter selects objects by label. Every entry must match: a non-empty value
// must equal the object's label, an empty value only requires the label to
// exist.
type Filter struct {
	// Labels to match.
	Labels map[string]string
	// All includes stopped containers (ignored for networks and volumes).
	All bool
}

// Matches reports whether labels satisfy the filter.
func (f Filter) Matches(labels map[string]string) bool {
	for k, want := range f.Labels {
		got, ok := labels[k]
		if !ok || (want != "" && got != want) {
			return false
		}
	}
	return true
}

// Container states, as the Docker engine names them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateExited     = "exited"
	StateDead       = "dead"
	StateRemoving   = "removing"
)

// Health states of a container with a healthcheck.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Container is what a backend observes of a container.
type Container struct {
	// ID is the backend's identifier.
	ID string
	// Name is the container name, without a leading slash.
	Name string
	// Image is the image reference the container was created from.
	Image string
	// ImageID is the ID (digest) of that image.
	ImageID string
	// Labels are the container's labels.
	Labels map[string]string
	// State is one of the State* constants.
	State string
	// Health is "" (no healthcheck) or one of the Health* constants.
	Health string
	// HealthOutput is what the last healthcheck probe printed (docker's
	// State.Health.Log), for InspectContainer only.
	HealthOutput string
	// ExitCode is the last exit code, meaningful once exited.
	ExitCode int
	// Status is a human summary ("Up 3 seconds", "Exited (0) 2 minutes ago").
	Status string
	// Command is the command line, for display.
	Command string
	// Created is when the container was created.
	Created time.Time
	// StartedAt and FinishedAt are filled in by InspectContainer only.
	StartedAt, FinishedAt time.Time
	// Networks maps each network name the container is attached to to its
	// network ID.
	Networks map[string]string
	// Mounts are the container's mounts.
	Mounts []MountPoint
	// Ports are the published ports.
	Ports []Port
}

// MountPoint is a mount of an existing container.
type MountPoint struct {
	// Type is "bind", "volume" or "tmpfs".
	Type string
	// Name is the volume name for volume mounts.
	Name string
	// Source is the host path (for binds) or volume path.
	Source string
	// Destination is the path in the container.
	Destination string
}

// Port is a published port of an existing container.
type Port struct {
	HostIP        string
	HostPort      uint16
	ContainerPort uint16
	Protocol      string
}

// RestartPolicy says what the runtime does when a container exits.
type RestartPolicy struct {
	// Name is "no", "always", "on-failure" or "unless-stopped".
	Name string
	// MaxRetries bounds on-failure restarts; 0 is unlimited.
	MaxRetries int
}

// Healthcheck is a container healthcheck.
type Healthcheck struct {
	// Test is ["CMD", args...], ["CMD-SHELL", cmd] or ["NONE"].
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// PortBinding publishes a container port on the host.
type PortBinding struct {
	// HostIP is the host address; empty means all.
	HostIP string
	// HostPort is a port, a range "8000-8010", or empty for an ephemeral port.
	HostPort string
	// ContainerPort is the port inside the container.
	ContainerPort uint16
	// Protocol is "tcp", "udp" or "sctp".
	Protocol string
}

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Mount attaches storage to a new container.
type Mount struct {
	// Type is one of the Mount* constants.
	Type string
	// Source is the host path (bind) or volume name (volume; empty means a
	// new anonymous volume).
	Source string
	// Target is the path in the container.
	Target string
	// ReadOnly mounts it read-only.
	ReadOnly bool
	// CreateHostPath creates a missing bind source directory.
	CreateHostPath bool
	// Propagation is the bind propagation ("rprivate", ...), if set.
	Propagation string
	// NoCopy keeps a new volume from being filled from the image.
	NoCopy bool
	// Subpath mounts a sub-directory of the volume.
	Subpath string
	// TmpfsSize is the size of a tmpfs mount in bytes (0: default).
	TmpfsSize int64
	// TmpfsMode is the mode of a tmpfs mount (0: default).
	TmpfsMode uint32
}

// Endpoint attaches a container to a network.
type Endpoint struct {
	// Network is the network's name.
	Network string
	// NetworkID is the network's ID when the caller knows it (may be
	// empty). Backends then join that network whatever other networks
	// share its name: engines before API 1.44 can hold several.
	NetworkID string
	// Aliases are the names the container answers to on the network.
	Aliases []string
	// IPv4Address and IPv6Address request fixed addresses.
	IPv4Address, IPv6Address string
	// MacAddress requests the MAC address of the container's interface
	// on the network.
	MacAddress string
	// Priority orders networks; the highest is the container's primary.
	Priority int
}

// Ulimit is one resource limit.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Resources are a container's resource limits. Zero means unlimited.
type Resources struct {
	Memory            int64
	MemoryReservation int64
	MemorySwap        int64
	NanoCPUs          int64
	CPUShares         int64
	CpusetCpus        string
	PidsLimit         int64
	ShmSize           int64
	OomKillDisable    bool
	OomScoreAdj       int
}

// ContainerSpec is everything a container is created from, independent of the
// runtime. reconcile builds it from the compose model.
type ContainerSpec struct {
	// Name is the container name; it must be unique.
	Name string
	// Image is the image reference.
	Image string
	// Platform is the image platform ("linux/amd64"), if set.
	Platform string
	// Labels are the container's labels.
	Labels map[string]string
	// Entrypoint overrides the image's; nil keeps it, empty clears it.
	Entrypoint []string
	// Command overrides the image's; nil keeps it, empty clears it.
	Command []string
	// Env holds KEY=VALUE pairs added to the image's environment.
	Env []string
	// WorkingDir overrides the image's.
	WorkingDir string
	// User overrides the image's ("uid", "uid:gid", "name").
	User string
	// GroupAdd adds supplementary groups.
	GroupAdd []string
	// Hostname and Domainname of the container.
	Hostname, Domainname string
	// Tty allocates a terminal; OpenStdin keeps stdin open.
	Tty, OpenStdin bool
	// AttachStdin/out/err are set for containers that will be attached.
	AttachStdin, AttachStdout, AttachStderr bool
	// Init runs a reaper as PID 1.
	Init *bool
	// Privileged and ReadOnly (root filesystem).
	Privileged, ReadOnly bool
	// StopSignal is the signal stop sends first ("SIGTERM" when empty).
	StopSignal string
	// StopTimeout is the grace period before SIGKILL (nil: runtime default).
	StopTimeout *time.Duration
	// Restart is the restart policy.
	Restart RestartPolicy
	// AutoRemove removes the container when it exits.
	AutoRemove bool
	// Healthcheck overrides the image's; Test ["NONE"] disables it.
	Healthcheck *Healthcheck
	// Ports are published ports.
	Ports []PortBinding
	// Expose lists exposed ports ("80/tcp") that are not published.
	Expose []string
	// Mounts are binds, volumes and tmpfs mounts.
	Mounts []Mount
	// NetworkMode is "", "none", "host", "bridge" or "container:<id>".
	// When empty the container joins Networks.
	NetworkMode string
	// Networks are the networks to join, the first being the primary.
	Networks []Endpoint
	// Links are docker's container links, "container:alias" (a name or
	// ID, then the name it is known by), as docker compose sends them for
	// links and external_links: in this container only, alias resolves to
	// the linked container's address on a network they share.
	Links []string
	// ExtraHosts are "host:ip" lines for /etc/hosts.
	ExtraHosts []string
	// DNS servers, search domains and options.
	DNS, DNSSearch, DNSOptions []string
	// CapAdd, CapDrop and SecurityOpt as in docker run.
	CapAdd, CapDrop, SecurityOpt []string
	// Sysctls to set.
	Sysctls map[string]string
	// Ulimits to set.
	Ulimits []Ulimit
	// Resources are the limits.
	Resources Resources
	// LogDriver and LogOptions configure the container's log.
	LogDriver  string
	LogOptions map[string]string
	// VolumesFrom lists "container[:ro]" to take volumes from.
	VolumesFrom []string
	// Ipc, Pid, Uts and Cgroup namespace modes, CgroupParent.
	Ipc, Pid, Uts, CgroupParent string
	// Devices maps host devices ("/dev/x:/dev/y:rwm").
	Devices []string
	// Runtime is the OCI runtime name, if not the default.
	Runtime string
}

// RemoveOptions say how a container is removed.
type RemoveOptions struct {
	// Force removes a running container (killing it).
	Force bool
	// Volumes removes its anonymous volumes.
	Volumes bool
}

// Network is what a backend observes of a network.
type Network struct {
	ID       string
	Name     string
	Driver   string
	Internal bool
	Labels   map[string]string
	// Created is when the network was made (zero if the backend does not
	// say).
	Created time.Time
	// Containers are the IDs of the containers attached (filled in by
	// InspectNetwork; ListNetworks may leave it empty).
	Containers []string
}

// NetworkSpec is what a network is created from.
type NetworkSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	EnableIPv6 bool
	// Subnets with optional gateways and ranges, from the ipam config.
	IPAM []IPAMPool
	// IPAMDriver, if not the default.
	IPAMDriver string
}

// IPAMPool is one address pool of a network.
type IPAMPool struct {
	Subnet, Gateway, IPRange string
}

// Volume is what a backend observes of a volume.
type Volume struct {
	Name       string
	Driver     string
	Labels     map[string]string
	Mountpoint string
}

// VolumeSpec is what a volume is created from.
type VolumeSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
}

// Image is what a backend knows of a local image.
type Image struct {
	// ID is the image ID ("sha256:...").
	ID string
	// RepoTags and RepoDigests name it.
	RepoTags, RepoDigests []string
	// Labels are the image's labels.
	Labels map[string]string
	// Size is the image's size in bytes, as the backend counts it (the
	// engine: its content; builtin: its stored layers).
	Size int64
	// Created is when the image was made; LastTagTime when it was last
	// tagged (zero when the backend does not say).
	Created, LastTagTime time.Time
	// OS, Architecture and Variant are the image's platform.
	OS, Architecture, Variant string
}

// Event is a container lifecycle event.
type Event struct {
	// Time of the event.
	Time time.Time
	// Action is the engine's action name: "create", "start", "die",
	// "health_status: healthy", "stop", "kill", "destroy", "oom", ...
	Action string
	// ContainerID and ContainerName identify the container.
	ContainerID, ContainerName string
	// Labels are the container's labels.
	Labels map[string]string
	// ExitCode is set for "die".
	ExitCode int
	// Attributes are the event's other attributes, as the engine names
	// them: "image", "signal" (kill), "exitCode" (die), "execDuration", ...
	// (nil when there are none).
	Attributes map[string]string
}

// LogOptions select the part of a container's log to read.
type LogOptions struct {
	Follow     bool
	Tail       string // "all" or a number
	Since      string
	Until      string
	Timestamps bool
	Stdout     bool
	Stderr     bool
}

// ExecSpec is a command to run in a running container.
type ExecSpec struct {
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	Privileged bool
	Tty        bool
	Detach     bool
	// Size is the terminal's size (with Tty; zero: the backend's default)
	// and Resize sends its later sizes, until it is closed or Exec returns.
	Size   TerminalSize
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Rows, Cols uint16
}

// Stats is a sample of a container's resource usage.
type Stats struct {
	// Read is when the sample was taken.
	Read time.Time
	// CPU is the CPU time used since the container started, all CPUs
	// together, in nanoseconds: the CPU share is its growth over the time
	// between two samples.
	CPU uint64
	// Memory is the memory used (less the inactive page cache, as docker
	// counts it); MemoryLimit the container's limit, or the host's memory
	// when it has none.
	Memory, MemoryLimit uint64
	// NetRx and NetTx are the bytes received and sent on the container's
	// interfaces (loopback left out).
	NetRx, NetTx uint64
	// BlockRead and BlockWrite are the bytes read from and written to
	// block devices.
	BlockRead, BlockWrite uint64
	// Pids is the number of processes and threads.
	Pids uint64
}
