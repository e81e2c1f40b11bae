package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/logfile"
)

// Logs implements service.Logger.
func (b *Backend) Logs(ctx context.Context, ref string, opts service.LogOptions, stdout, stderr io.Writer) error {
	r, err := b.get(ref)
	if err != nil {
		return err
	}
	since, err := logfile.ParseTime(opts.Since)
	if err != nil {
		return fmt.Errorf("logs of %s: since: %w", r.Name, err)
	}
	until, err := logfile.ParseTime(opts.Until)
	if err != nil {
		return fmt.Errorf("logs of %s: until: %w", r.Name, err)
	}
	tail := -1
	if t := opts.Tail; t != "" && t != "all" {
		if tail, err = strconv.Atoi(t); err != nil || tail < 0 {
			return fmt.Errorf("logs of %s: tail %q is not a number", r.Name, t)
		}
	}
	cur, err := logfile.OpenCursor(b.logPath(r.ID), true, 0)
	if err != nil {
		return fmt.Errorf("logs of %s: %w", r.Name, err)
	}
	defer cur.Close()
	out := &logfile.Printer{Opts: opts, Stdout: stdout, Stderr: stderr, Since: since, Until: until}
	if tail >= 0 {
		var last []logfile.Entry
		if err := cur.Read(func(e logfile.Entry) error {
			if out.Wants(e) {
				last = append(last, e)
				if len(last) > tail {
					last = last[1:]
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for _, e := range last {
			if err := out.Print(e); err != nil {
				return err
			}
		}
	} else if err := cur.Read(out.Print); err != nil {
		return err
	}
	if !opts.Follow || !until.IsZero() {
		return nil
	}
	return b.follow(ctx, r.ID, cur, -1, out.Print)
}

// follow reads new log entries from rd until the container stops running
// (when waitRun >= 0, only after a run later than waitRun has started),
// the log is drained, or ctx is done.
func (b *Backend) follow(ctx context.Context, id string, cur *logfile.Cursor, waitRun int, fn func(logfile.Entry) error) error {
	for {
		if err := cur.Read(fn); err != nil {
			return err
		}
		r, err := b.get(id)
		if errors.Is(err, service.ErrNotFound) {
			return cur.Read(fn)
		} else if err != nil {
			return err
		}
		started := waitRun < 0 || r.State.Runs > waitRun
		if started && r.State.Status != service.StateRunning && r.State.Status != service.StatePaused {
			return cur.Read(fn)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Attach implements service.Attacher: the output is the log from the
// start of the container's next run (the current one, when it is
// running), so that nothing is lost between Attach and StartContainer;
// stdin, when the container keeps it open, goes through the shim.
func (b *Backend) Attach(ctx context.Context, ref string, stdin io.Reader, stdout, stderr io.Writer) (func() error, error) {
	r, err := b.get(ref)
	if err != nil {
		return nil, err
	}
	offset, after := r.State.LogStart, -1
	if !r.State.Active() {
		after = r.State.Runs
		offset = 0
		if st, err := os.Stat(b.logPath(r.ID)); err == nil {
			offset = st.Size()
		}
	}
	cur, err := logfile.OpenCursor(b.logPath(r.ID), false, offset)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", r.Name, err)
	}
	if stdin != nil && r.Spec.OpenStdin {
		go b.feedStdin(ctx, r.ID, after, stdin)
	}
	out := &logfile.Printer{Opts: service.LogOptions{Stdout: true, Stderr: true}, Stdout: stdout, Stderr: stderr}
	return func() error {
		defer cur.Close()
		return b.follow(ctx, r.ID, cur, after, out.Print)
	}, nil
}

// feedStdin waits for the container's run after `after` and copies stdin
// to it through the shim; the container sees EOF when stdin ends.
func (b *Backend) feedStdin(ctx context.Context, id string, after int, stdin io.Reader) {
	for {
		r, err := b.get(id)
		if err != nil {
			return
		}
		if r.State.Runs > after && r.State.Status == service.StateRunning {
			conn, err := b.dial(ctx, r)
			if err != nil {
				return
			}
			defer conn.Close()
			if err := json.NewEncoder(conn).Encode(request{Op: "stdin"}); err != nil {
				return
			}
			var resp response
			if err := json.NewDecoder(io.LimitReader(conn, 4096)).Decode(&resp); err != nil || resp.Error != "" {
				return
			}
			_, _ = io.Copy(conn, stdin)
			if uc, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = uc.CloseWrite()
			}
			// Hold the connection until the container is done with it.
			_, _ = io.Copy(io.Discard, conn)
			return
		}
		if r.State.Runs > after {
			return // it ran and ended already
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
