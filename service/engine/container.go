package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// cleanupTimeout bounds the removal of a container whose creation failed
// half-way, which runs even when the caller's context is done.
const cleanupTimeout = 30 * time.Second

// labelFilters returns the engine filters that select the objects matching
// f: "label=key=value", or "label=key" for an empty value.
func labelFilters(f service.Filter) client.Filters {
	fs := client.Filters{}
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		if v := f.Labels[k]; v != "" {
			fs.Add("label", k+"="+v)
		} else {
			fs.Add("label", k)
		}
	}
	return fs
}

// ListContainers returns the containers whose labels match f, running ones
// only unless f.All.
func (b *Backend) ListContainers(ctx context.Context, f service.Filter) ([]service.Container, error) {
	res, err := b.c.ContainerList(ctx, client.ContainerListOptions{All: f.All, Filters: labelFilters(f)})
	if err != nil {
		return nil, wrapf(err, "list containers")
	}
	out := make([]service.Container, 0, len(res.Items))
	for _, s := range res.Items {
		out = append(out, containerFromSummary(s))
	}
	return out, nil
}

// containerFromSummary maps an item of the engine's container list.
func containerFromSummary(s container.Summary) service.Container {
	c := service.Container{
		ID:       s.ID,
		Name:     summaryName(s.Names),
		Image:    s.Image,
		ImageID:  s.ImageID,
		Labels:   s.Labels,
		State:    string(s.State),
		Status:   s.Status,
		Command:  s.Command,
		Created:  time.Unix(s.Created, 0),
		ExitCode: exitCodeFromStatus(s.Status),
	}
	if s.Health != nil && s.Health.Status != container.NoHealthcheck {
		c.Health = string(s.Health.Status)
	} else {
		// Older engines give no health in the list: the status text has it.
		c.Health = healthFromStatus(s.Status)
	}
	if s.NetworkSettings != nil {
		c.Networks = endpointNetworks(s.NetworkSettings.Networks)
	}
	c.Mounts = mountPoints(s.Mounts)
	for _, p := range s.Ports {
		if p.PublicPort == 0 {
			continue // exposed, not published
		}
		hp := service.Port{HostPort: p.PublicPort, ContainerPort: p.PrivatePort, Protocol: p.Type}
		if p.IP.IsValid() {
			hp.HostIP = p.IP.String()
		}
		c.Ports = append(c.Ports, hp)
	}
	return c
}

// summaryName picks the container's own name among the names the list
// gives (which include "/other/alias" link names), without the slash.
func summaryName(names []string) string {
	for _, n := range names {
		if n = strings.TrimPrefix(n, "/"); !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

// healthFromStatus reads the health state from the engine's status text:
// "Up 3 seconds (healthy)", "Up 1 second (health: starting)".
func healthFromStatus(status string) string {
	switch {
	case strings.HasSuffix(status, "(healthy)"):
		return service.HealthHealthy
	case strings.HasSuffix(status, "(unhealthy)"):
		return service.HealthUnhealthy
	case strings.HasSuffix(status, "(health: starting)"):
		return service.HealthStarting
	}
	return ""
}

// exitCodeFromStatus reads the exit code from the engine's status text:
// "Exited (137) 2 minutes ago". It is 0 when the text has none.
func exitCodeFromStatus(status string) int {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0
	}
	num, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0
	}
	code, err := strconv.Atoi(num)
	if err != nil {
		return 0
	}
	return code
}

// endpointNetworks maps a container's endpoints to network name → ID, ""
// when the engine does not say. Podman (4.x) gives the network's name as
// its ID there: that is no ID either, or every container would look
// attached to an older network of that name.
func endpointNetworks(eps map[string]*network.EndpointSettings) map[string]string {
	if len(eps) == 0 {
		return nil
	}
	out := make(map[string]string, len(eps))
	for name, ep := range eps {
		if ep != nil && ep.NetworkID != name {
			out[name] = ep.NetworkID
		} else {
			out[name] = ""
		}
	}
	return out
}

// mountPoints maps a container's mounts.
func mountPoints(ms []container.MountPoint) []service.MountPoint {
	var out []service.MountPoint
	for _, m := range ms {
		out = append(out, service.MountPoint{Type: string(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination})
	}
	return out
}

// InspectContainer returns one container, with its start and finish times;
// ErrNotFound if there is none.
func (b *Backend) InspectContainer(ctx context.Context, id string) (service.Container, error) {
	res, err := b.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return service.Container{}, wrapf(err, "inspect container %q", id)
	}
	return containerFromInspect(res.Container), nil
}

// containerFromInspect maps the engine's inspect answer.
func containerFromInspect(r container.InspectResponse) service.Container {
	c := service.Container{
		ID:      r.ID,
		Name:    strings.TrimPrefix(r.Name, "/"),
		ImageID: r.Image,
		Command: strings.Join(append([]string{r.Path}, r.Args...), " "),
		Created: parseTime(r.Created),
		Mounts:  mountPoints(r.Mounts),
	}
	if r.Config != nil {
		c.Image = r.Config.Image
		c.Labels = r.Config.Labels
	}
	if s := r.State; s != nil {
		c.State = string(s.Status)
		c.ExitCode = s.ExitCode
		c.StartedAt = parseTime(s.StartedAt)
		c.FinishedAt = parseTime(s.FinishedAt)
		if s.Health != nil && s.Health.Status != container.NoHealthcheck {
			c.Health = string(s.Health.Status)
			if n := len(s.Health.Log); n > 0 && s.Health.Log[n-1] != nil {
				c.HealthOutput = s.Health.Log[n-1].Output
			}
		}
	}
	c.Status = service.StatusText(c, time.Now())
	if ns := r.NetworkSettings; ns != nil {
		c.Networks = endpointNetworks(ns.Networks)
		for _, port := range slices.SortedFunc(maps.Keys(ns.Ports), func(a, b network.Port) int { return strings.Compare(a.String(), b.String()) }) {
			for _, pb := range ns.Ports[port] {
				hp, err := strconv.ParseUint(pb.HostPort, 10, 16)
				if err != nil || hp == 0 {
					continue
				}
				p := service.Port{HostPort: uint16(hp), ContainerPort: port.Num(), Protocol: string(port.Proto())}
				if pb.HostIP.IsValid() {
					p.HostIP = pb.HostIP.String()
				}
				c.Ports = append(c.Ports, p)
			}
		}
	}
	return c
}

// parseTime parses the engine's RFC 3339 times; the engine's zero time and
// anything unparsable are the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// CreateContainer creates a container from spec and returns its ID, having
// joined it to every network in spec.Networks. The image must be present
// (ErrNotFound otherwise); a name already taken gives ErrConflict. When
// joining a network fails, the container is removed again.
func (b *Backend) CreateContainer(ctx context.Context, spec service.ContainerSpec) (string, error) {
	req, err := newCreateRequest(spec, b.c.ClientVersion())
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	var res client.ContainerCreateResult
	if req.macAddress != "" {
		res, err = b.c.ContainerCreateWithMAC(ctx, req.options, req.macAddress)
	} else {
		res, err = b.c.ContainerCreate(ctx, req.options)
	}
	if err != nil {
		if noSuchImage(err) {
			return "", wrapf(err, "create container %q: image %q not found", spec.Name, spec.Image)
		}
		return "", wrapf(err, "create container %q", spec.Name)
	}
	for _, ep := range req.connect {
		_, err := b.c.NetworkConnect(ctx, ep.network, client.NetworkConnectOptions{Container: res.ID, EndpointConfig: ep.settings})
		if err != nil {
			err = wrapf(err, "create container %q: connect to network %q", spec.Name, ep.network)
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			_, rmErr := b.c.ContainerRemove(cctx, res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			cancel()
			if rmErr != nil {
				err = errors.Join(err, wrapf(rmErr, "remove half-created container %q", spec.Name))
			}
			return "", err
		}
	}
	return res.ID, nil
}

// noSuchImage reports whether a failed create was for want of the image.
func noSuchImage(err error) bool {
	return sentinel(err) == service.ErrNotFound && strings.Contains(err.Error(), "No such image")
}

// StartContainer starts a created or stopped container; starting a running
// one is not an error. ErrNotFound if there is none.
func (b *Backend) StartContainer(ctx context.Context, id string) error {
	// The engine answers 304 Not Modified for a running container, which the
	// client does not count as an error.
	_, err := b.c.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return wrapf(err, "start container %q", id)
}

// stopTimeout converts a contract timeout to the engine's whole seconds
// (rounded up); nil keeps the container's own.
func stopTimeout(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := seconds(*d)
	return &s
}

// StopContainer sends the stop signal, waits up to timeout (nil: the
// container's own, else rounded up to whole seconds), then kills. Stopping a
// stopped container is not an error. ErrNotFound if there is none.
func (b *Backend) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	// A stopped container gives 304 Not Modified: not an error for the client.
	_, err := b.c.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: stopTimeout(timeout)})
	return wrapf(err, "stop container %q", id)
}

// RemoveContainer removes a container (a running one only with opts.Force,
// ErrConflict otherwise) and, with opts.Volumes, its anonymous volumes.
// ErrNotFound if there is none.
func (b *Backend) RemoveContainer(ctx context.Context, id string, opts service.RemoveOptions) error {
	_, err := b.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: opts.Force, RemoveVolumes: opts.Volumes})
	return wrapf(err, "remove container %q", id)
}

// RenameContainer renames a container; ErrConflict if the name is taken,
// ErrNotFound if there is no such container.
func (b *Backend) RenameContainer(ctx context.Context, id, name string) error {
	_, err := b.c.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name})
	return wrapf(err, "rename container %q to %q", id, name)
}

// KillContainer sends signal ("SIGKILL" when empty) to a running container;
// ErrConflict if it is not running, ErrNotFound if there is none.
func (b *Backend) KillContainer(ctx context.Context, id, signal string) error {
	if signal == "" {
		signal = "SIGKILL"
	}
	_, err := b.c.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal})
	return wrapf(err, "kill container %q", id)
}

// PauseContainer freezes a running container; ErrConflict if it is not
// running or already paused.
func (b *Backend) PauseContainer(ctx context.Context, id string) error {
	_, err := b.c.ContainerPause(ctx, id, client.ContainerPauseOptions{})
	return wrapf(err, "pause container %q", id)
}

// UnpauseContainer thaws a paused container; ErrConflict if it is not
// paused.
func (b *Backend) UnpauseContainer(ctx context.Context, id string) error {
	_, err := b.c.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	return wrapf(err, "unpause container %q", id)
}

// RestartContainer stops the container (waiting up to timeout, nil: its
// own) and starts it again.
func (b *Backend) RestartContainer(ctx context.Context, id string, timeout *time.Duration) error {
	_, err := b.c.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: stopTimeout(timeout)})
	return wrapf(err, "restart container %q", id)
}

// WaitContainer blocks until the container is not running and returns its
// exit code. ErrNotFound if there is none.
func (b *Backend) WaitContainer(ctx context.Context, id string) (int, error) {
	res := b.c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-res.Result:
		if r.Error != nil && r.Error.Message != "" {
			return int(r.StatusCode), fmt.Errorf("wait for container %q: %s", id, r.Error.Message)
		}
		return int(r.StatusCode), nil
	case err := <-res.Error:
		return 0, wrapf(err, "wait for container %q", id)
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for container %q: %w", id, ctx.Err())
	}
}

// Top returns the processes of a running or paused container as ps(1) on
// the engine's host lists them with psArgs (nil: the engine's "-ef"): the
// column titles and a row per process. ErrNotFound if there is no such
// container, ErrConflict if it is not running.
func (b *Backend) Top(ctx context.Context, id string, psArgs []string) ([]string, [][]string, error) {
	res, err := b.c.ContainerTop(ctx, id, client.ContainerTopOptions{Arguments: psArgs})
	if err != nil {
		return nil, nil, wrapf(err, "top of container %q", id)
	}
	return res.Titles, res.Processes, nil
}
