package service

import (
	"context"
	"io"
	"time"
)

// Backend is the contract a container runtime fulfils: list objects by
// label; create, start, stop and remove containers; create and remove
// networks and volumes. reconcile needs nothing more to converge a project.
// Further abilities (logs, exec, events, ...) are the optional interfaces
// below, discovered with a type assertion.
//
// Objects are named by ID or name wherever an "id" is asked for. Errors are
// wrapped with the object's name and, where the contract says so, with one of
// ErrNotFound, ErrConflict or ErrUnsupported, so callers use errors.Is. Every
// method honours ctx cancellation and is safe for concurrent use.
type Backend interface {
	// ListContainers returns the containers matching f, running ones only
	// unless f.All. The order is unspecified.
	ListContainers(ctx context.Context, f Filter) ([]Container, error)
	// InspectContainer returns one container with its start and finish
	// times; ErrNotFound if there is none.
	InspectContainer(ctx context.Context, id string) (Container, error)
	// CreateContainer creates a container from spec and returns its ID. The
	// image must be present (ErrNotFound otherwise); a container with the
	// same name gives ErrConflict. It joins every network in spec.Networks
	// before it starts.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	// StartContainer starts a created or stopped container. Starting a
	// running container is not an error. ErrNotFound if there is none.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal, waits up to timeout (nil: the
	// container's own), then kills. Stopping a stopped container is not an
	// error. ErrNotFound if there is none.
	StopContainer(ctx context.Context, id string, timeout *time.Duration) error
	// RemoveContainer removes a container; a running one only with Force
	// (ErrConflict otherwise). ErrNotFound if there is none.
	RemoveContainer(ctx context.Context, id string, opts RemoveOptions) error
	// RenameContainer renames a container; ErrConflict if the name is taken.
	RenameContainer(ctx context.Context, id, name string) error

	// ListNetworks returns the networks whose labels match f.
	ListNetworks(ctx context.Context, f Filter) ([]Network, error)
	// InspectNetwork returns a network, by ID or name, with its containers.
	// ErrNotFound if there is none.
	InspectNetwork(ctx context.Context, id string) (Network, error)
	// CreateNetwork creates a network and returns its ID; ErrConflict if the
	// name is taken.
	CreateNetwork(ctx context.Context, spec NetworkSpec) (string, error)
	// RemoveNetwork removes a network; ErrConflict while containers are
	// attached, ErrNotFound if there is none.
	RemoveNetwork(ctx context.Context, id string) error
	// ConnectNetwork attaches a container to a network.
	ConnectNetwork(ctx context.Context, network, container string, ep Endpoint) error
	// DisconnectNetwork detaches a container from a network.
	DisconnectNetwork(ctx context.Context, network, container string, force bool) error

	// ListVolumes returns the volumes whose labels match f.
	ListVolumes(ctx context.Context, f Filter) ([]Volume, error)
	// InspectVolume returns a volume; ErrNotFound if there is none.
	InspectVolume(ctx context.Context, name string) (Volume, error)
	// CreateVolume creates a volume. Creating a volume that exists with the
	// same driver returns it unchanged.
	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	// RemoveVolume removes a volume; ErrConflict while in use, ErrNotFound
	// if there is none.
	RemoveVolume(ctx context.Context, name string, force bool) error

	// InspectImage returns a local image by reference or ID; ErrNotFound if
	// it is not present.
	InspectImage(ctx context.Context, ref string) (Image, error)
}

// Swarm is a backend that talks to a Docker Swarm manager (berth deploy,
// #15). Objects are addressed by ID; spec names are swarm names. Errors wrap
// ErrNotFound, ErrConflict (an update quoting a stale version) or
// ErrUnsupported (not a swarm manager).
type Swarm interface {
	// SwarmState returns the services, networks, secrets and configs
	// labelled StackNamespaceLabel=namespace.
	SwarmState(ctx context.Context, namespace string) (SwarmState, error)
	// CreateSwarmService creates a service and returns its ID. Like
	// UpdateSwarmService, it pins the image to its digest where a registry
	// gives one (as docker stack deploy), else keeps the tag and says so in
	// the warnings it returns.
	CreateSwarmService(ctx context.Context, spec SwarmService) (id string, warnings []string, err error)
	// UpdateSwarmService replaces the spec of service id at version.
	UpdateSwarmService(ctx context.Context, id string, version uint64, spec SwarmService) (warnings []string, err error)
	// RemoveSwarmService removes a service and its tasks.
	RemoveSwarmService(ctx context.Context, id string) error
	// CreateSwarmNetwork, CreateSwarmSecret and CreateSwarmConfig create
	// an object and return its ID.
	CreateSwarmNetwork(ctx context.Context, spec SwarmNetwork) (string, error)
	CreateSwarmSecret(ctx context.Context, spec SwarmObject) (string, error)
	CreateSwarmConfig(ctx context.Context, spec SwarmObject) (string, error)
	// RemoveSwarmNetwork, RemoveSwarmSecret and RemoveSwarmConfig remove
	// one; ErrConflict while a service uses it.
	RemoveSwarmNetwork(ctx context.Context, id string) error
	RemoveSwarmSecret(ctx context.Context, id string) error
	RemoveSwarmConfig(ctx context.Context, id string) error
	// SwarmTasks returns the tasks of service id.
	SwarmTasks(ctx context.Context, id string) ([]SwarmTask, error)
}

// Signaller sends signals and pauses containers.
type Signaller interface {
	// KillContainer sends signal ("SIGKILL" when empty) to a running
	// container; ErrConflict if it is not running.
	KillContainer(ctx context.Context, id, signal string) error
	// PauseContainer freezes a running container.
	PauseContainer(ctx context.Context, id string) error
	// UnpauseContainer thaws a paused container.
	UnpauseContainer(ctx context.Context, id string) error
	// RestartContainer stops (with timeout) and starts a container.
	RestartContainer(ctx context.Context, id string, timeout *time.Duration) error
}

// Waiter waits for containers to exit.
type Waiter interface {
	// WaitContainer blocks until the container is not running and returns
	// its exit code. ErrNotFound if there is none.
	WaitContainer(ctx context.Context, id string) (int, error)
}

// EventSource streams container events.
type EventSource interface {
	// Events sends the events of containers matching f from now on, until ctx
	// is done or an error occurs, which it sends on the error channel. Both
	// channels are closed at the end.
	Events(ctx context.Context, f Filter) (<-chan Event, <-chan error)
}

// Logger reads container logs.
type Logger interface {
	// Logs writes the container's output to stdout and stderr (one stream
	// for a TTY container) and returns when done, or, with Follow, when the
	// container stops or ctx is done.
	Logs(ctx context.Context, id string, opts LogOptions, stdout, stderr io.Writer) error
}

// Attacher connects to a container's standard streams.
type Attacher interface {
	// Attach connects stdin (nil: none), stdout and stderr to the container
	// and returns a function that blocks until the streams close. Attach
	// before StartContainer to lose no output.
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) (wait func() error, err error)
}

// Execer runs commands in running containers.
type Execer interface {
	// Exec runs spec in the container with the given streams and returns
	// the command's exit code (0 when detached).
	Exec(ctx context.Context, id string, spec ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

// Copier copies files into containers.
type Copier interface {
	// CopyTo extracts the tar stream into the container at dir.
	CopyTo(ctx context.Context, id, dir string, tar io.Reader) error
}

// CopierFrom copies files out of containers.
type CopierFrom interface {
	// CopyFrom returns a tar stream of path in the container, created,
	// running or stopped, as the Engine API's archive endpoint makes it: a
	// regular file (or a symbolic link) is one entry; a directory is an
	// entry for itself followed by everything below it, recursively, links
	// not followed. The entries are named after path's last element, so
	// that the stream extracts to a copy of path: "/etc/hosts" gives
	// "hosts", "/etc" gives "etc/", "etc/hosts", ...; a path ending in "/."
	// gives "./", "./hosts", ... (the directory's contents), and "/" gives
	// names starting with "/". A symbolic link as the last element is
	// archived as a link; a trailing "/" or "/." follows it. The caller
	// closes the stream. ErrNotFound if there is no such container or no
	// such path in it.
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
}

// Resizer resizes the terminals of containers created with a TTY.
type Resizer interface {
	// ResizeTTY gives a running container's terminal a size; nothing for a
	// container without a TTY. ErrConflict if it is not running.
	ResizeTTY(ctx context.Context, id string, size TerminalSize) error
}

// StatsReader samples the resource usage of containers.
type StatsReader interface {
	// Stats returns a sample of the container's usage: zero figures for
	// a container that is not running. ErrNotFound if there is none.
	Stats(ctx context.Context, id string) (Stats, error)
}

// Toper lists the processes of containers.
type Toper interface {
	// Top returns the processes of a running (or paused) container as a
	// table: the column titles, and one row per process with a field per
	// title, as ps(1) prints them given psArgs (nil: the backend's default,
	// "-ef" for the engine, which runs ps on its host, so PIDs are the
	// host's). ErrNotFound if there is no such container, ErrConflict if it
	// is not running.
	Top(ctx context.Context, id string, psArgs []string) (titles []string, processes [][]string, err error)
}

// BuildSpec says how to build an image from a context.
type BuildSpec struct {
	// Tags name the image; the first is its main name.
	Tags []string
	// Dockerfile is the Dockerfile's path inside the context.
	Dockerfile string
	// Args are build arguments; a nil value takes the builder's default.
	Args map[string]*string
	// Target is the stage to build, if not the last.
	Target string
	// Labels are added to the image.
	Labels map[string]string
	// NoCache builds without the cache; Pull pulls the base images first.
	NoCache, Pull bool
	// Network is the network RUN steps use ("default", "host", "none").
	Network string
	// ShmSize is the size of /dev/shm for RUN steps, in bytes (0: default).
	ShmSize int64
	// Memory limits the memory of RUN steps, in bytes (0: no limit).
	Memory int64
	// ExtraHosts are "host:ip" lines for RUN steps.
	ExtraHosts []string
	// CacheFrom are images to use as cache sources.
	CacheFrom []string
	// Platform is the target platform ("linux/amd64"), if set.
	Platform string
}

// Builder builds images.
type Builder interface {
	// BuildImage builds an image from a tar stream of the build context
	// (with the Dockerfile at spec.Dockerfile inside it, "Dockerfile" when
	// empty), writing the build's output, line by line, to progress (nil:
	// nowhere), and tags it with spec.Tags. It returns the image ID
	// ("sha256:..."): the same again for the same context and spec, as the
	// builder's cache serves the build (unless NoCache), another when a
	// file the build uses changes. A failing step gives an error that
	// quotes the step ("Step 2/3 : RUN make"), the builder's message and,
	// when the step printed any, its output's last line.
	BuildImage(ctx context.Context, spec BuildSpec, buildContext io.Reader, progress io.Writer) (string, error)
}

// ImageTransfer pulls images from registries and pushes them there, with
// the credentials of ~/.docker/config.json (and its credential helpers).
type ImageTransfer interface {
	// PullImage pulls ref (":latest" when it has neither tag nor digest;
	// for platform, when set), writing progress lines to progress (nil:
	// nowhere). ErrNotFound when the registry has no such image.
	PullImage(ctx context.Context, ref, platform string, progress io.Writer) error
	// PushImage pushes the local image ref (":latest" when it has no tag)
	// to its registry, writing progress lines to progress (nil: nowhere).
	// ErrNotFound when there is no such local image.
	PushImage(ctx context.Context, ref string, progress io.Writer) error
}

// ImageRemover removes local images.
type ImageRemover interface {
	// RemoveImage removes the image ref, a reference or an ID (untagging
	// it when it has other tags). ErrNotFound if there is none, ErrConflict
	// while a container uses it (unless force). With force, removing the
	// last tag of an image a container uses removes the tag; whether the
	// image goes too is the backend's (the engine keeps it while a running
	// container uses it).
	RemoveImage(ctx context.Context, ref string, force bool) error
}

// CommitOptions say how CommitContainer makes an image, as docker commit's
// flags do.
type CommitOptions struct {
	// Reference names the new image ("repository[:tag]"); empty leaves it
	// untagged.
	Reference string
	// Comment (the commit message) and Author are recorded in the image.
	Comment, Author string
	// Changes are Dockerfile instructions applied to the new image's
	// config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME,
	// WORKDIR (others are an error).
	Changes []string
	// Pause freezes a running container for the time of the commit.
	Pause bool
}

// Committer makes images from containers.
type Committer interface {
	// CommitContainer makes an image of the container's changes to its
	// filesystem, on top of its image, with the container's configuration
	// (command, environment, labels, ...) and opts.Changes, and returns the
	// image's ID ("sha256:..."). Volumes and bind mounts are not part of
	// it. ErrNotFound if there is no such container.
	CommitContainer(ctx context.Context, id string, opts CommitOptions) (string, error)
}

// Exporter exports the filesystems of containers.
type Exporter interface {
	// ExportContainer returns a tar stream of the container's root
	// filesystem (its image with its changes; volumes and bind mounts left
	// out), created, running or stopped, as docker export makes it: entries
	// named relative to the root ("bin/", "etc/hosts"), symbolic links
	// archived as links, never followed. The caller closes the stream.
	// ErrNotFound if there is no such container.
	ExportContainer(ctx context.Context, id string) (io.ReadCloser, error)
}

// EventHistory replays the container events a backend keeps.
type EventHistory interface {
	// EventsBetween sends the events of containers matching f that happen
	// at or after since, the past ones the backend still keeps first (zero
	// since: from now on), until until: then both channels are closed with
	// no error (zero until: until ctx is done, as Events).
	EventsBetween(ctx context.Context, f Filter, since, until time.Time) (<-chan Event, <-chan error)
}
