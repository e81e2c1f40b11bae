package service

import (
	"context"
	"io"
	"strings"
	"time"
)

// The types below describe the desired state of a project on a Docker Swarm
// (berth deploy, #15) without the engine's own types: reconcile/swarm makes
// them from a compose project, and a backend that can talk to a swarm
// manager maps them onto its API. Field names follow the swarm API's where
// one exists, so the mapping is one to one.

// StackNamespaceLabel is the label docker stack puts on every object of a
// stack (services, their containers, networks, secrets, configs): berth
// puts it on what it deploys, so that `docker stack ls/ps/rm` see it.
const StackNamespaceLabel = "com.docker.stack.namespace"

// StackImageLabel is the service label docker stack sets to the image as
// the compose file names it.
const StackImageLabel = "com.docker.stack.image"

// SwarmService is the desired spec of one swarm service.
type SwarmService struct {
	// Name is the swarm service name: <project>_<service>.
	Name string `json:"name"`
	// Service is the compose service it comes from.
	Service string `json:"service"`
	// Labels are the service's labels (deploy.labels and the namespace).
	Labels map[string]string `json:"labels,omitempty"`
	// DependsOn names the compose services this one is deployed after.
	DependsOn []string `json:"depends_on,omitempty"`

	Container SwarmContainer `json:"container"`

	// Mode is replicated, global, replicated-job or global-job.
	Mode string `json:"mode"`
	// Replicas is the replica count (replicated) or the total completions
	// (replicated-job); nil for global modes.
	Replicas       *uint64             `json:"replicas,omitempty"`
	Resources      *SwarmResources     `json:"resources,omitempty"`
	RestartPolicy  *SwarmRestartPolicy `json:"restart_policy,omitempty"`
	UpdateConfig   *SwarmUpdateConfig  `json:"update_config,omitempty"`
	RollbackConfig *SwarmUpdateConfig  `json:"rollback_config,omitempty"`
	Placement      *SwarmPlacement     `json:"placement,omitempty"`
	// EndpointMode is vip or dnsrr.
	EndpointMode string      `json:"endpoint_mode,omitempty"`
	Ports        []SwarmPort `json:"ports,omitempty"`
	// Networks are the swarm networks the tasks join, by swarm name.
	Networks []SwarmAttachment `json:"networks,omitempty"`
	// LogDriver is the logging driver and its options, if set.
	LogDriver *SwarmDriver `json:"log_driver,omitempty"`
}

// SwarmContainer is the container part of a swarm service's task.
type SwarmContainer struct {
	Image string `json:"image"`
	// Command is the entrypoint, Args the command (the swarm API's names).
	Command         []string          `json:"command,omitempty"`
	Args            []string          `json:"args,omitempty"`
	Env             []string          `json:"env,omitempty"`
	User            string            `json:"user,omitempty"`
	Dir             string            `json:"dir,omitempty"`
	Hostname        string            `json:"hostname,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	StopSignal      string            `json:"stop_signal,omitempty"`
	StopGracePeriod *time.Duration    `json:"stop_grace_period,omitempty"`
	CapAdd          []string          `json:"cap_add,omitempty"`
	CapDrop         []string          `json:"cap_drop,omitempty"`
	Sysctls         map[string]string `json:"sysctls,omitempty"`
	Ulimits         []SwarmUlimit     `json:"ulimits,omitempty"`
	Init            *bool             `json:"init,omitempty"`
	ReadOnly        bool              `json:"read_only,omitempty"`
	TTY             bool              `json:"tty,omitempty"`
	OpenStdin       bool              `json:"open_stdin,omitempty"`
	Hosts           []string          `json:"hosts,omitempty"`
	DNS             []string          `json:"dns,omitempty"`
	DNSSearch       []string          `json:"dns_search,omitempty"`
	Healthcheck     *SwarmHealthcheck `json:"healthcheck,omitempty"`
	Mounts          []SwarmMount      `json:"mounts,omitempty"`
	Secrets         []SwarmFileRef    `json:"secrets,omitempty"`
	Configs         []SwarmFileRef    `json:"configs,omitempty"`
}

// SwarmHealthcheck is a container healthcheck; Test is in the engine's
// form (["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]).
type SwarmHealthcheck struct {
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"start_period,omitempty"`
	StartInterval time.Duration `json:"start_interval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
}

// SwarmUlimit is one resource limit of the task's processes.
type SwarmUlimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// SwarmMount is a bind, volume or tmpfs mount of a task.
type SwarmMount struct {
	// Type is bind, volume or tmpfs.
	Type     string `json:"type"`
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// NoCopy, Driver, DriverOpts and Labels are for volumes (node-local:
	// created by each node that runs a task).
	NoCopy     bool              `json:"no_copy,omitempty"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// TmpfsSize (bytes) and TmpfsMode are for tmpfs mounts.
	TmpfsSize int64  `json:"tmpfs_size,omitempty"`
	TmpfsMode uint32 `json:"tmpfs_mode,omitempty"`
}

// SwarmFileRef puts a secret or config into a task as a file.
type SwarmFileRef struct {
	// Name is the swarm object's name (versioned: see SwarmObject).
	Name   string `json:"name"`
	Target string `json:"target"`
	UID    string `json:"uid"`
	GID    string `json:"gid"`
	Mode   uint32 `json:"mode"`
}

// SwarmResources are a task's limits and reservations.
type SwarmResources struct {
	Limits       SwarmResource `json:"limits"`
	Reservations SwarmResource `json:"reservations"`
}

// SwarmResource is an amount of CPU (in 1e-9 CPUs), memory and pids.
type SwarmResource struct {
	NanoCPUs    int64 `json:"nano_cpus,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	Pids        int64 `json:"pids,omitempty"`
}

// SwarmRestartPolicy says when the swarm restarts a task.
type SwarmRestartPolicy struct {
	// Condition is none, on-failure or any.
	Condition   string         `json:"condition,omitempty"`
	Delay       *time.Duration `json:"delay,omitempty"`
	MaxAttempts *uint64        `json:"max_attempts,omitempty"`
	Window      *time.Duration `json:"window,omitempty"`
}

// SwarmUpdateConfig is how the swarm rolls an update (or a rollback).
type SwarmUpdateConfig struct {
	Parallelism     uint64        `json:"parallelism"`
	Delay           time.Duration `json:"delay,omitempty"`
	FailureAction   string        `json:"failure_action,omitempty"`
	Monitor         time.Duration `json:"monitor,omitempty"`
	MaxFailureRatio float32       `json:"max_failure_ratio,omitempty"`
	// Order is stop-first or start-first.
	Order string `json:"order,omitempty"`
}

// SwarmPlacement constrains the nodes a task may run on.
type SwarmPlacement struct {
	Constraints []string `json:"constraints,omitempty"`
	// Spread lists the spread preferences' descriptors, in order.
	Spread      []string `json:"spread,omitempty"`
	MaxReplicas uint64   `json:"max_replicas_per_node,omitempty"`
}

// SwarmPort publishes a task port, on the ingress mesh or on the node.
type SwarmPort struct {
	Protocol  string `json:"protocol"`
	Target    uint32 `json:"target"`
	Published uint32 `json:"published,omitempty"`
	// Mode is ingress or host.
	Mode string `json:"mode"`
}

// SwarmAttachment attaches a service to a network.
type SwarmAttachment struct {
	Network string   `json:"network"`
	Aliases []string `json:"aliases,omitempty"`
}

// SwarmDriver is a driver name with its options.
type SwarmDriver struct {
	Name    string            `json:"name"`
	Options map[string]string `json:"options,omitempty"`
}

// SwarmNetwork is a network of the stack.
type SwarmNetwork struct {
	// Name is the swarm network name (<project>_<network>, or the external
	// network's own name).
	Name string `json:"name"`
	// Key is the network's key in the compose file.
	Key string `json:"key"`
	// External networks are used, never created nor removed.
	External   bool              `json:"external,omitempty"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	// Subnets are the IPAM subnets, if set.
	Subnets []string `json:"subnets,omitempty"`
}

// SwarmObject is a secret or a config. Swarm secrets and configs cannot
// change: each content is its own object, named <project>_<key>_<digest>,
// so that a new content is a new object and rolls the services using it.
type SwarmObject struct {
	Name string `json:"name"`
	// Key is the secret's or config's key in the compose file.
	Key string `json:"key"`
	// External objects are used by name, never created nor removed.
	External bool              `json:"external,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Digest is the sha256 of Data, hex; Data is not shown in plans.
	Digest string `json:"digest,omitempty"`
	Data   []byte `json:"-"`
}

// SwarmStack is everything a project deploys to a swarm.
type SwarmStack struct {
	// Namespace is the project name, the value of StackNamespaceLabel.
	Namespace string         `json:"namespace"`
	Services  []SwarmService `json:"services"`
	Networks  []SwarmNetwork `json:"networks,omitempty"`
	Secrets   []SwarmObject  `json:"secrets,omitempty"`
	Configs   []SwarmObject  `json:"configs,omitempty"`
}

// SwarmState is what a swarm manager holds of one stack (objects labelled
// StackNamespaceLabel=namespace).
type SwarmState struct {
	Services []SwarmObjectState
	Networks []SwarmObjectState
	Secrets  []SwarmObjectState
	Configs  []SwarmObjectState
}

// SwarmObjectState is an observed swarm service, network, secret or config.
type SwarmObjectState struct {
	ID   string
	Name string
	// Version is the object's version index, which an update must quote.
	Version uint64
	Labels  map[string]string
}

// SwarmTask is one task of a swarm service as the manager reports it.
type SwarmTask struct {
	ID        string
	ServiceID string
	// Slot numbers the replica (replicated services); NodeID names the node
	// (global services, and where any task runs).
	Slot   int
	NodeID string
	// Node is the node's hostname, where the backend knows it.
	Node string
	// DesiredState and State are the swarm's task states (running,
	// shutdown, failed, rejected, ...); Error is why a task failed.
	DesiredState string
	State        string
	Error        string
	// Current is true when the task runs the service's current spec (not
	// the one before an update).
	Current bool
	// Timestamp is when the task's state was last reported.
	Timestamp time.Time
}

// SwarmUpdateStatus is how the latest update of a swarm service went.
type SwarmUpdateStatus struct {
	// State is the swarm's update state: updating, paused, completed,
	// rollback_started, rollback_paused or rollback_completed; empty when
	// the service was never updated.
	State string
	// Message is the swarm's reason, e.g. "update rolled back due to
	// failure or early termination of task ...".
	Message string
}

// RolledBack says whether the update was (or is being) rolled back.
func (u SwarmUpdateStatus) RolledBack() bool {
	return strings.HasPrefix(u.State, "rollback_")
}

// SwarmRollouts is a Swarm backend that reports how a service's latest
// update went, so that an automatic rollback (update_config.failure_action:
// rollback) fails a deploy instead of passing for a converged one.
type SwarmRollouts interface {
	// SwarmUpdateStatus returns the update status of service id.
	SwarmUpdateStatus(ctx context.Context, id string) (SwarmUpdateStatus, error)
}

// SwarmLogger reads the logs of swarm services and tasks (the service logs
// API), from every node that runs a task.
type SwarmLogger interface {
	// SwarmLogs writes the output of service id (or, when task is true, of
	// the task id) to stdout and stderr and returns when done, or, with
	// Follow, when ctx is done.
	SwarmLogs(ctx context.Context, id string, task bool, opts LogOptions, stdout, stderr io.Writer) error
}
