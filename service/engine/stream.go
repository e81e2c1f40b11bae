package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// eventAttributes are the attributes of a container event that are not the
// container's labels.
var eventAttributes = map[string]bool{
	"name":         true,
	"image":        true,
	"exitCode":     true,
	"signal":       true,
	"execID":       true,
	"execDuration": true,
}

// Events sends the events of the containers matching f from now on, until
// ctx is done or the stream fails; a failure is sent on the error channel,
// the end of ctx is not. Both channels are closed at the end.
func (b *Backend) Events(ctx context.Context, f service.Filter) (<-chan service.Event, <-chan error) {
	return b.events(ctx, f, "", "")
}

// events is Events from since until until (the events API's forms, ""
// for none): the stream the engine ends at until ends with no error.
func (b *Backend) events(ctx context.Context, f service.Filter, since, until string) (<-chan service.Event, <-chan error) {
	out := make(chan service.Event, 16)
	errc := make(chan error, 1)

	filters := labelFilters(f)
	filters.Add("type", string(events.ContainerEventType))
	ctx, cancel := context.WithCancel(ctx)
	res := b.c.Events(ctx, client.EventsListOptions{Filters: filters, Since: since, Until: until})

	go func() {
		defer close(errc)
		defer close(out)
		defer cancel()
		for {
			select {
			case m, ok := <-res.Messages:
				if !ok {
					return
				}
				if m.Type != "" && m.Type != events.ContainerEventType {
					continue
				}
				select {
				case out <- eventFrom(m):
				case <-ctx.Done():
					return
				}
			case err, ok := <-res.Err:
				if until != "" && errors.Is(err, io.EOF) {
					return // the engine ended the stream at until
				}
				if ok && err != nil && ctx.Err() == nil {
					errc <- wrapf(err, "container events")
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc
}

// eventFrom maps an engine event of a container.
func eventFrom(m events.Message) service.Event {
	ev := service.Event{
		Action:      string(m.Action),
		ContainerID: m.Actor.ID,
	}
	switch {
	case m.TimeNano != 0:
		ev.Time = time.Unix(0, m.TimeNano)
	case m.Time != 0:
		ev.Time = time.Unix(m.Time, 0)
	}
	for k, v := range m.Actor.Attributes {
		switch {
		case k == "name":
			ev.ContainerName = v
		case eventAttributes[k]:
			if k == "exitCode" {
				ev.ExitCode, _ = strconv.Atoi(v)
			}
			if ev.Attributes == nil {
				ev.Attributes = map[string]string{}
			}
			ev.Attributes[k] = v
		default:
			if ev.Labels == nil {
				ev.Labels = map[string]string{}
			}
			ev.Labels[k] = v
		}
	}
	return ev
}

// discard returns w, or io.Discard for nil.
func discard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// copyOutput copies a container's output stream to stdout and stderr:
// demultiplexed, unless the container (or exec) has a TTY, in which case
// everything goes to stdout.
func copyOutput(tty bool, stdout, stderr io.Writer, r io.Reader) error {
	if tty {
		_, err := io.Copy(discard(stdout), r)
		return err
	}
	_, err := stdcopy.StdCopy(discard(stdout), discard(stderr), r)
	return err
}

// hasTTY reports whether the container was created with a TTY, which
// decides how its output streams are framed.
func (b *Backend) hasTTY(ctx context.Context, id string) (bool, error) {
	res, err := b.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, err
	}
	return res.Container.Config != nil && res.Container.Config.Tty, nil
}

// Logs writes the container's log to stdout and stderr (all to stdout for a
// TTY container) and returns when done or, with opts.Follow, when the
// container stops. When ctx ends first it returns ctx's error. With neither
// opts.Stdout nor opts.Stderr both are written. ErrNotFound if there is no
// such container.
func (b *Backend) Logs(ctx context.Context, id string, opts service.LogOptions, stdout, stderr io.Writer) error {
	tty, err := b.hasTTY(ctx, id)
	if err != nil {
		return wrapf(err, "logs of container %q", id)
	}
	showOut, showErr := opts.Stdout, opts.Stderr
	if !showOut && !showErr {
		showOut, showErr = true, true
	}
	rc, err := b.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: showOut,
		ShowStderr: showErr,
		Since:      opts.Since,
		Until:      opts.Until,
		Timestamps: opts.Timestamps,
		Follow:     opts.Follow,
		Tail:       opts.Tail,
	})
	if err != nil {
		return wrapf(err, "logs of container %q", id)
	}
	defer rc.Close()
	if err := copyOutput(tty, stdout, stderr, rc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("logs of container %q: %w", id, ctx.Err())
		}
		return fmt.Errorf("logs of container %q: %w", id, err)
	}
	return nil
}

// hijacked is a connection to a container's (or an exec's) streams.
type hijacked interface {
	io.Writer
	CloseWrite() error
	Close() error
}

// hijackedConn adapts the client's HijackedResponse.
type hijackedConn struct{ r *client.HijackedResponse }

func (h hijackedConn) Write(p []byte) (int, error) { return h.r.Conn.Write(p) }
func (h hijackedConn) CloseWrite() error           { return h.r.CloseWrite() }
func (h hijackedConn) Close() error                { h.r.Close(); return nil }

// pump copies stdin (if any) to conn, closing conn's write side at its end
// so that the container sees end of file, and copies the output from r to
// stdout and stderr. It returns a function that waits for the output to end
// and closes conn. The stdin copy is not waited for: a reader such as a
// terminal may never return.
func pump(ctx context.Context, conn hijacked, r io.Reader, tty bool, stdin io.Reader, stdout, stderr io.Writer) func() error {
	if stdin != nil {
		go func() {
			_, _ = io.Copy(conn, stdin)
			_ = conn.CloseWrite()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- copyOutput(tty, stdout, stderr, r) }()
	// The client only ties the connection to ctx until it is established.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return func() error {
		err := <-done
		stop()
		_ = conn.Close()
		switch {
		case err == nil, errors.Is(err, io.EOF):
			return nil
		case ctx.Err() != nil:
			// The copy failed because ctx closed the connection.
			return ctx.Err()
		}
		return err
	}
}

// Attach connects stdin (nil: none), stdout and stderr to the container's
// streams and returns a function that blocks until they close, which they do
// when the container stops. When stdin reaches end of file, the container's
// stdin is closed too if it was created with AttachStdin and OpenStdin.
// Attach before StartContainer to lose no output. ErrNotFound if there is no
// such container.
func (b *Backend) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) (func() error, error) {
	tty, err := b.hasTTY(ctx, id)
	if err != nil {
		return nil, wrapf(err, "attach to container %q", id)
	}
	res, err := b.c.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true,
		Stdin:  stdin != nil,
		Stdout: true,
		Stderr: true,
	})
	if err != nil {
		return nil, wrapf(err, "attach to container %q", id)
	}
	wait := pump(ctx, hijackedConn{&res.HijackedResponse}, res.Reader, tty, stdin, stdout, stderr)
	return func() error {
		if err := wait(); err != nil {
			return fmt.Errorf("attach to container %q: %w", id, err)
		}
		return nil
	}, nil
}

// execPollInterval is how often Exec looks for the exit code of a command
// whose streams have closed but which the engine still reports running.
const execPollInterval = 10 * time.Millisecond

// Exec runs spec in the running container with the given streams and
// returns the command's exit code (0 when detached, without waiting).
// ErrNotFound if there is no such container, ErrConflict if it is not
// running.
func (b *Backend) Exec(ctx context.Context, id string, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	created, err := b.c.ExecCreate(ctx, id, client.ExecCreateOptions{
		User:         spec.User,
		Privileged:   spec.Privileged,
		TTY:          spec.Tty,
		ConsoleSize:  consoleSize(spec),
		AttachStdin:  stdin != nil && !spec.Detach,
		AttachStdout: !spec.Detach,
		AttachStderr: !spec.Detach,
		Env:          spec.Env,
		WorkingDir:   spec.WorkingDir,
		Cmd:          spec.Cmd,
	})
	if err != nil {
		return 0, wrapf(err, "exec in container %q", id)
	}
	if spec.Detach {
		_, err := b.c.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true, TTY: spec.Tty})
		return 0, wrapf(err, "exec in container %q", id)
	}
	res, err := b.c.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: spec.Tty})
	if err != nil {
		return 0, wrapf(err, "exec in container %q", id)
	}
	if spec.Tty {
		stopResize := b.resizeExec(ctx, created.ID, spec)
		defer stopResize()
	}
	if err := pump(ctx, hijackedConn{&res.HijackedResponse}, res.Reader, spec.Tty, stdin, stdout, stderr)(); err != nil {
		return 0, fmt.Errorf("exec in container %q: %w", id, err)
	}
	for {
		ins, err := b.c.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return 0, wrapf(err, "exec in container %q: exit code", id)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("exec in container %q: %w", id, ctx.Err())
		case <-time.After(execPollInterval):
		}
	}
}

// consoleSize is the exec's initial terminal size for engines that take
// it at creation (API 1.42 and later; older ones ignore it).
func consoleSize(spec service.ExecSpec) client.ConsoleSize {
	if !spec.Tty || spec.Size.Rows == 0 || spec.Size.Cols == 0 {
		return client.ConsoleSize{}
	}
	return client.ConsoleSize{Height: uint(spec.Size.Rows), Width: uint(spec.Size.Cols)}
}

// resizeExec gives the exec's terminal spec.Size, then each size from
// spec.Resize, until the returned function is called. Resizing is best
// effort: a failure leaves the terminal as it was.
func (b *Backend) resizeExec(ctx context.Context, execID string, spec service.ExecSpec) func() {
	resize := func(sz service.TerminalSize) {
		if sz.Rows > 0 && sz.Cols > 0 {
			_, _ = b.c.ExecResize(ctx, execID, client.ExecResizeOptions{Height: uint(sz.Rows), Width: uint(sz.Cols)})
		}
	}
	resize(spec.Size)
	done := make(chan struct{})
	if spec.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-spec.Resize:
					if !ok {
						return
					}
					resize(sz)
				case <-done:
					return
				}
			}
		}()
	}
	return func() { close(done) }
}

// CopyTo extracts the tar stream into the container at dir, which must
// exist (ErrNotFound otherwise, as for a missing container).
func (b *Backend) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	_, err := b.c.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: tar})
	return wrapf(err, "copy to container %q at %q", id, dir)
}

// CopyFrom returns the engine's tar stream of path in the container (see
// service.CopierFrom for its entries' names). The caller closes it.
// ErrNotFound if there is no such container or path.
func (b *Backend) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	res, err := b.c.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, wrapf(err, "copy from container %q at %q", id, path)
	}
	return res.Content, nil
}
