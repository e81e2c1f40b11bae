package dockercp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// Request is one berth cp, its arguments read (ParseRequest).
type Request struct {
	// Service is the service copied out of or into.
	Service string
	// Out copies out of the container (SERVICE:SRC DEST); else into it.
	Out bool
	// ContainerPath is the path in the container (ContainerPath's form).
	ContainerPath string
	// HostPath is the local path as given, "-" for standard input (into)
	// or output (out).
	HostPath string
	// Index picks the replica (from 1); 0: replica 1 out, every replica in.
	Index int
	// All copies into every replica.
	All bool
	// Archive keeps the local files' uid and gid (copying in); FollowLink
	// follows a symbolic link at the source.
	Archive, FollowLink bool
}

// ParseRequest reads cp's two arguments, one of them SERVICE:PATH, and the
// replica flags, as docker compose cp does.
func ParseRequest(srcArg, dstArg string, index int, all bool) (Request, error) {
	if srcArg == "" || dstArg == "" {
		return Request{}, errors.New("the source and the destination must not be empty")
	}
	srcSvc, srcPath := SplitArg(srcArg)
	dstSvc, dstPath := SplitArg(dstArg)
	r := Request{Service: srcSvc, Out: true, ContainerPath: srcPath, HostPath: dstPath, Index: index, All: all}
	carg := srcArg
	switch {
	case srcSvc != "" && dstSvc != "":
		return Request{}, errors.New("copying between services is not supported: copy out to a local path, then in")
	case srcSvc == "" && dstSvc == "":
		return Request{}, fmt.Errorf("one of %q and %q must name a service: SERVICE:PATH", srcArg, dstArg)
	case srcSvc == "":
		r = Request{Service: dstSvc, ContainerPath: dstPath, HostPath: srcPath, Index: index, All: all}
		carg = dstArg
	}
	if r.ContainerPath == "" {
		return Request{}, fmt.Errorf("%q names no path in the container: SERVICE:PATH", carg)
	}
	if index < 0 {
		return Request{}, fmt.Errorf("invalid --index %d: replicas are numbered from 1", index)
	}
	if r.Out && all {
		return Request{}, errors.New("--all applies to copying into a service; to copy out of another replica than the first, use --index")
	}
	if !r.Out && index == 0 {
		r.All = true // copying in goes to every replica, as with docker compose
	}
	r.ContainerPath = ContainerPath(r.ContainerPath)
	return r, nil
}

// Host is the local side of a copy.
type Host struct {
	// WorkDir is where relative local paths start.
	WorkDir string
	// In is the tar stream copied in with "-"; Out gets the tar stream
	// copied out with "-".
	In  io.Reader
	Out io.Writer
	// Warn, if set, is told what a copy out could not create (devices,
	// pipes).
	Warn func(string)
}

// Plan plans the copy r between the host and the containers of its
// service, cs (running or not): a copy-from step from one replica, or a
// copy-into step per replica, independent of each other. A local source
// that does not exist, or a replica that does not, is an error here,
// before anything is copied.
func Plan(cs []service.Container, r Request, h Host) (*reconcile.Plan, error) {
	targets, err := Targets(cs, r.Service, r.Index, r.All)
	if err != nil {
		return nil, err
	}
	plan := &reconcile.Plan{}
	if r.Out {
		c := targets[0]
		plan.Add(&reconcile.Step{Op: reconcile.OpCopyFrom, Object: c.Name, Target: c.ID, Service: r.Service,
			Action: &copyOut{c: c, r: r, h: h}})
		return plan, nil
	}
	in := &copyIn{r: r, h: h}
	if r.HostPath != "-" {
		if in.src, err = LocalSource(LocalPath(h.WorkDir, r.HostPath), r.FollowLink); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("path %s not found", r.HostPath)
			}
			return nil, err
		}
	} else if len(targets) > 1 {
		in.stdin = &onceReader{r: h.In}
	}
	for _, c := range targets {
		a := *in
		a.c = c
		plan.Add(&reconcile.Step{Op: reconcile.OpCopyTo, Object: c.Name, Target: c.ID, Service: r.Service, Action: &a})
	}
	return plan, nil
}

// copyOut copies a path out of one container.
type copyOut struct {
	c service.Container
	r Request
	h Host
}

func (a *copyOut) String() string {
	return a.r.ContainerPath + " to " + hostName(a.r.HostPath, "output")
}

// Run copies the path out (CopyOut).
func (a *copyOut) Run(ctx context.Context, b service.Backend) error {
	cf, ok := b.(service.CopierFrom)
	if !ok {
		return fmt.Errorf("this backend cannot copy files out of containers: %w", service.ErrUnsupported)
	}
	skipped, err := CopyOut(ctx, cf, a.c, a.r.ContainerPath, a.r.HostPath, a.h.WorkDir, a.h.Out, a.r.FollowLink)
	if err == nil && len(skipped) > 0 && a.h.Warn != nil {
		a.h.Warn(fmt.Sprintf("not copied (devices and pipes are not created): %s", strings.Join(skipped, ", ")))
	}
	return err
}

// copyIn copies a local path, or the tar stream of standard input, into
// one container.
type copyIn struct {
	c     service.Container
	r     Request
	h     Host
	src   Info
	stdin *onceReader // standard input, read once for several replicas
}

func (a *copyIn) String() string { return hostName(a.r.HostPath, "input") + " to " + a.r.ContainerPath }

// hostName is a local path as a plan shows it: "-" is standard input or
// output.
func hostName(p, stream string) string {
	if p == "-" {
		return "standard " + stream
	}
	return p
}

// Run copies into the container (CopyIn).
func (a *copyIn) Run(ctx context.Context, b service.Backend) error {
	cp, ok := b.(service.Copier)
	cf, ok2 := b.(service.CopierFrom)
	if !ok || !ok2 {
		return fmt.Errorf("this backend cannot copy files into containers: %w", service.ErrUnsupported)
	}
	var in io.Reader
	switch {
	case a.r.HostPath != "-":
	case a.stdin != nil:
		data, err := a.stdin.bytes()
		if err != nil {
			return err
		}
		in = bytes.NewReader(data)
	default:
		in = a.h.In
	}
	return CopyIn(ctx, cp, cf, a.c, a.src, in, a.r.ContainerPath, a.r.Archive)
}

// onceReader reads a stream once, for every step that copies it.
type onceReader struct {
	r    io.Reader
	once sync.Once
	data []byte
	err  error
}

func (o *onceReader) bytes() ([]byte, error) {
	o.once.Do(func() {
		if o.data, o.err = io.ReadAll(o.r); o.err != nil {
			o.err = fmt.Errorf("reading standard input: %w", o.err)
		}
	})
	return o.data, o.err
}
