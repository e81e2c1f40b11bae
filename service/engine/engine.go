package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"

	"github.com/berthdev/berth/service"
)

// minAPIVersion is the oldest Engine API version the backend supports
// (Docker 20.10).
const minAPIVersion = "1.41"

// Compile-time checks that Backend provides the contract and every optional
// interface.
var (
	_ service.Backend       = (*Backend)(nil)
	_ service.Signaller     = (*Backend)(nil)
	_ service.Waiter        = (*Backend)(nil)
	_ service.EventSource   = (*Backend)(nil)
	_ service.Logger        = (*Backend)(nil)
	_ service.Attacher      = (*Backend)(nil)
	_ service.Execer        = (*Backend)(nil)
	_ service.Copier        = (*Backend)(nil)
	_ service.CopierFrom    = (*Backend)(nil)
	_ service.Toper         = (*Backend)(nil)
	_ service.Builder       = (*Backend)(nil)
	_ service.ImageTransfer = (*Backend)(nil)
	_ service.ImageRemover  = (*Backend)(nil)
)

// apiClient is the part of *client.Client the backend uses, so that tests
// can fake it.
type apiClient interface {
	ClientVersion() string
	Close() error

	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, containerID string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	// ContainerCreateWithMAC is ContainerCreate with the container-wide
	// MAC address engines before API 1.44 read (see engineClient).
	ContainerCreateWithMAC(ctx context.Context, options client.ContainerCreateOptions, macAddress string) (client.ContainerCreateResult, error)
	ContainerStart(ctx context.Context, containerID string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerStop(ctx context.Context, containerID string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRestart(ctx context.Context, containerID string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerKill(ctx context.Context, containerID string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerPause(ctx context.Context, containerID string, options client.ContainerPauseOptions) (client.ContainerPauseResult, error)
	ContainerUnpause(ctx context.Context, containerID string, options client.ContainerUnpauseOptions) (client.ContainerUnpauseResult, error)
	ContainerRemove(ctx context.Context, containerID string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	ContainerRename(ctx context.Context, containerID string, options client.ContainerRenameOptions) (client.ContainerRenameResult, error)
	ContainerWait(ctx context.Context, containerID string, options client.ContainerWaitOptions) client.ContainerWaitResult
	ContainerLogs(ctx context.Context, containerID string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerAttach(ctx context.Context, containerID string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	CopyToContainer(ctx context.Context, containerID string, options client.CopyToContainerOptions) (client.CopyToContainerResult, error)
	CopyFromContainer(ctx context.Context, containerID string, options client.CopyFromContainerOptions) (client.CopyFromContainerResult, error)
	ContainerTop(ctx context.Context, containerID string, options client.ContainerTopOptions) (client.ContainerTopResult, error)
	ContainerStats(ctx context.Context, containerID string, options client.ContainerStatsOptions) (client.ContainerStatsResult, error)
	ContainerCommit(ctx context.Context, containerID string, options client.ContainerCommitOptions) (client.ContainerCommitResult, error)
	ContainerExport(ctx context.Context, containerID string, options client.ContainerExportOptions) (client.ContainerExportResult, error)

	ExecCreate(ctx context.Context, containerID string, options client.ExecCreateOptions) (client.ExecCreateResult, error)
	ExecStart(ctx context.Context, execID string, options client.ExecStartOptions) (client.ExecStartResult, error)
	ExecAttach(ctx context.Context, execID string, options client.ExecAttachOptions) (client.ExecAttachResult, error)
	ExecInspect(ctx context.Context, execID string, options client.ExecInspectOptions) (client.ExecInspectResult, error)
	ExecResize(ctx context.Context, execID string, options client.ExecResizeOptions) (client.ExecResizeResult, error)
	ContainerResize(ctx context.Context, containerID string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)

	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult

	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkInspect(ctx context.Context, networkID string, options client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	NetworkCreate(ctx context.Context, name string, options client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	// NetworkCreateChecked is NetworkCreate with the duplicate check of
	// engines before API 1.44 asked for (see engineClient).
	NetworkCreateChecked(ctx context.Context, name string, options client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkRemove(ctx context.Context, networkID string, options client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	NetworkConnect(ctx context.Context, networkID string, options client.NetworkConnectOptions) (client.NetworkConnectResult, error)
	NetworkDisconnect(ctx context.Context, networkID string, options client.NetworkDisconnectOptions) (client.NetworkDisconnectResult, error)

	VolumeList(ctx context.Context, options client.VolumeListOptions) (client.VolumeListResult, error)
	VolumeInspect(ctx context.Context, volumeID string, options client.VolumeInspectOptions) (client.VolumeInspectResult, error)
	VolumeCreate(ctx context.Context, options client.VolumeCreateOptions) (client.VolumeCreateResult, error)
	VolumeRemove(ctx context.Context, volumeID string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)

	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
	ImagePush(ctx context.Context, ref string, options client.ImagePushOptions) (client.ImagePushResponse, error)
	ImageRemove(ctx context.Context, imageID string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)

	// swarm.go
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	ServiceInspect(ctx context.Context, serviceID string, options client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceCreate(ctx context.Context, options client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, serviceID string, options client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, serviceID string, options client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
	TaskInspect(ctx context.Context, taskID string, options client.TaskInspectOptions) (client.TaskInspectResult, error)
	ServiceLogs(ctx context.Context, serviceID string, options client.ServiceLogsOptions) (client.ServiceLogsResult, error)
	TaskLogs(ctx context.Context, taskID string, options client.TaskLogsOptions) (client.TaskLogsResult, error)
	SecretList(ctx context.Context, options client.SecretListOptions) (client.SecretListResult, error)
	SecretCreate(ctx context.Context, options client.SecretCreateOptions) (client.SecretCreateResult, error)
	SecretRemove(ctx context.Context, id string, options client.SecretRemoveOptions) (client.SecretRemoveResult, error)
	ConfigList(ctx context.Context, options client.ConfigListOptions) (client.ConfigListResult, error)
	ConfigCreate(ctx context.Context, options client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigRemove(ctx context.Context, id string, options client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
}

var _ apiClient = (*engineClient)(nil)

// Backend is a service.Backend on a Docker (or Docker-compatible) engine. It
// is safe for concurrent use. Close it when done.
type Backend struct {
	c    apiClient
	host string
}

// New connects to the engine the environment names (DOCKER_HOST, else the
// platform's default socket), pings it and negotiates the API version. It
// fails early, with the engine's address in the message, when the engine
// does not answer or is older than API 1.41.
func New(ctx context.Context) (*Backend, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker engine client: %w", err)
	}
	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w", c.DaemonHost(), err)
	}
	if v := c.ClientVersion(); v == "" || versions.LessThan(v, minAPIVersion) {
		_ = c.Close()
		return nil, fmt.Errorf("the Docker engine at %s speaks API %s (client uses %q); berth needs %s or later: %w",
			c.DaemonHost(), ping.APIVersion, v, minAPIVersion, service.ErrUnsupported)
	}
	return &Backend{c: newEngineClient(c), host: c.DaemonHost()}, nil
}

// NewWithClient returns a backend on c, which must already have negotiated
// its API version (its ClientVersion is used to choose between code paths).
// It exists for tests.
func NewWithClient(c apiClient) *Backend {
	return &Backend{c: c}
}

// Close releases the client's idle connections. Streams still open are not
// affected.
func (b *Backend) Close() error {
	return b.c.Close()
}

// Endpoint returns the engine's address, as the client dials it
// ("unix:///var/run/docker.sock"); empty for a backend made with
// NewWithClient.
func (b *Backend) Endpoint() string {
	return b.host
}

// APIVersion returns the Engine API version in use, as negotiated with the
// engine ("1.41").
func (b *Backend) APIVersion() string {
	return b.c.ClientVersion()
}

// apiBelow reports whether the API version in use is older than v.
func (b *Backend) apiBelow(v string) bool {
	cur := b.c.ClientVersion()
	return cur != "" && versions.LessThan(cur, v)
}

// sentinel returns the service error that err, an error of the moby client,
// falls under, or nil.
func sentinel(err error) error {
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return service.ErrNotFound
	case cerrdefs.IsConflict(err), cerrdefs.IsAlreadyExists(err):
		return service.ErrConflict
	case cerrdefs.IsPermissionDenied(err) && forbiddenIsConflict(err):
		return service.ErrConflict
	case cerrdefs.IsInvalidArgument(err), cerrdefs.IsNotImplemented(err):
		return service.ErrUnsupported
	}
	return nil
}

// forbiddenIsConflict reports whether a 403 answer of the engine is about the
// state of an object rather than about permissions. Engines before 25.0 answer
// 403 to removing a network that has endpoints and to connecting a container
// to a network it is already on.
func forbiddenIsConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "has active endpoints") || strings.Contains(msg, "already exists")
}

// wrapf wraps err, an error of the moby client, with the operation and
// object (format and args, e.g. "stop container %q") and with the service
// sentinel it falls under: `stop container "web-1": Error response from
// daemon: No such container: web-1: not found`.
func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	args = append(args, err)
	if s := sentinel(err); s != nil && !errors.Is(err, s) {
		return fmt.Errorf(format+": %w: %w", append(args, s)...)
	}
	return fmt.Errorf(format+": %w", args...)
}
