package servicetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthdev/berth/service"
)

// Fake is an in-memory service.Backend. It also implements service.Signaller,
// service.Waiter, service.EventSource, service.Logger, service.Execer,
// service.Attacher, service.Copier, service.CopierFrom, service.Toper,
// service.Builder, service.ImageTransfer and service.ImageRemover.
// Make one with NewFake; the zero value is not usable. A Fake is safe for
// concurrent use.
//
// # Model
//
// Nothing runs. A started container stays running until StopContainer,
// KillContainer, RemoveContainer with Force or the test's Exit ends it; its
// command is recorded, not executed. What the container prints is what the
// test gives Log, and its health is what the test gives SetHealth.
//
//   - Containers go created → running (↔ paused) → exited, and back to
//     running when started again. Stopping exits with 128 + the number of
//     the spec's StopSignal (SIGTERM: 143); killing exits with 128 + the
//     signal's number (SIGKILL: 137), except for signals whose default
//     action is to ignore or to stop a process (SIGCHLD, SIGCONT, SIGURG,
//     SIGWINCH, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), which leave it running.
//     Restart policies are recorded, not applied; AutoRemove is applied: an
//     exited AutoRemove container is removed with its anonymous volumes.
//   - IDs are 64 hex digits derived from a counter, so the same sequence of
//     calls gives the same IDs. Times come from Now.
//   - Objects are named by ID or by name (containers' with or without a
//     leading slash); ID prefixes are not accepted. Network names are unique
//     unless a test makes a duplicate with AddNetwork; a name several
//     networks share is then an error wherever it is given, as on the
//     engine ("network x is ambiguous (2 matches found on name)").
//   - Container names must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ and be unique;
//     an empty name gets one made from the ID. The image must have been
//     added with AddImage; every network in spec.Networks must exist. A
//     volume mount with no source creates an anonymous volume, one naming a
//     missing volume creates it (as the engine does). spec.NetworkMode is
//     recorded only: the container joins spec.Networks and nothing else.
//   - A container is attached to its networks from creation until removal,
//     whatever its state, and a network cannot be removed while any
//     container is attached (the engine only counts running ones). A
//     container uses its volumes from creation until removal; a volume in
//     use cannot be removed, with or without force (the engine ignores force
//     there too).
//   - A container with spec.Healthcheck (its Test not ["NONE"]) starts with
//     Health "starting"; the Fake knows nothing of images' healthchecks.
//     Once it exits (stopped, killed or Exit), its Health is "unhealthy",
//     as Docker reports it (20.10 and later), with no event.
//   - Ports are published while the container runs; an empty host port gets
//     one counted up from 32768, a range gets its first port. Port clashes
//     are not detected.
//   - Lists are sorted by name. ListNetworks leaves Network.Containers
//     empty, as the engine does; InspectNetwork fills it in.
//   - A container has no image file system, only the regular files and
//     directories CopyTo gave it (links and other entries are read and
//     dropped), which CopyFrom serves back; "/" and every directory a
//     stored path goes through exist too. CopyTo assumes that the
//     directory it is given exists. Files go with their container.
//   - A running or paused container has one process, its command, which
//     Top lists; ps arguments are ignored.
//   - Every state change sends an event: create, start, kill, die (with the
//     exit code), stop, pause, unpause, restart, rename, destroy and
//     "health_status: healthy" or "health_status: unhealthy".
//   - Images are IDs with references (normalized, see AddImage) and labels.
//     BuildImage reads its context and Dockerfile but runs nothing; its ID
//     is a hash of the context and the spec (see BuildImage). The Fake has
//     one registry, for every host: PushImage copies a local image there,
//     AddRemoteImage puts one there, PullImage copies one back. A container
//     keeps its image until it is removed (RemoveImage untags it at most).
//     Images send no events.
//
// # Test controls
//
// AddImage, AddRemoteImage, AddNetwork, Exit, SetHealth and Log drive the
// simulation; Container, ContainerSpec, Network, Volume and RemoteImage
// observe it; Fail and FailOnce inject errors; Calls records what was asked,
// and Builds the specs of the builds.
type Fake struct {
	// Now is the clock of creation, start and finish times, events and log
	// lines. NewFake sets it to time.Now; set it before the Fake is used
	// from more than one goroutine.
	Now func() time.Time

	// ExecHook, when set, runs each command given to Exec: it gets what the
	// container looks like, the spec and Exec's streams, and returns the exit
	// code. When nil, every command succeeds at once with no output. Set it
	// before the Fake is used from more than one goroutine.
	ExecHook func(ctx context.Context, c service.Container, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error)

	mu         sync.Mutex
	seq        uint64
	nextPort   uint16
	changed    chan struct{} // closed and replaced on every change, see broadcastLocked
	containers map[string]*fakeContainer
	networks   map[string]*fakeNetwork
	volumes    map[string]*fakeVolume
	images     map[string]*fakeImage  // by ID
	tags       map[string]string      // normalized reference → image ID
	remote     map[string]remoteImage // the registry, by normalized reference
	builds     []service.BuildSpec    // every BuildImage call's
	faults     []fault
	calls      []Call
	subs       map[*subscriber]struct{}
	history    []service.Event // the last maxHistory events, for EventsBetween
	waiting    int             // WaitContainer calls blocked, for tests
}

// NewFake returns an empty Fake: no images, containers, networks or volumes,
// the real clock.
func NewFake() *Fake {
	return &Fake{
		Now:        time.Now,
		nextPort:   32768,
		changed:    make(chan struct{}),
		containers: make(map[string]*fakeContainer),
		networks:   make(map[string]*fakeNetwork),
		volumes:    make(map[string]*fakeVolume),
		images:     make(map[string]*fakeImage),
		tags:       make(map[string]string),
		remote:     make(map[string]remoteImage),
		subs:       make(map[*subscriber]struct{}),
	}
}

var (
	_ service.Backend       = (*Fake)(nil)
	_ service.Signaller     = (*Fake)(nil)
	_ service.Waiter        = (*Fake)(nil)
	_ service.EventSource   = (*Fake)(nil)
	_ service.Logger        = (*Fake)(nil)
	_ service.Execer        = (*Fake)(nil)
	_ service.Attacher      = (*Fake)(nil)
	_ service.Copier        = (*Fake)(nil)
	_ service.CopierFrom    = (*Fake)(nil)
	_ service.Toper         = (*Fake)(nil)
	_ service.Builder       = (*Fake)(nil)
	_ service.ImageTransfer = (*Fake)(nil)
	_ service.ImageRemover  = (*Fake)(nil)
	_ Simulator             = (*Fake)(nil)
)

// Call is one mutating call made to a Fake.
type Call struct {
	// Op is the method's name ("CreateContainer", "StartContainer", ...).
	Op string
	// Object names what the call is about: the container's name for
	// container methods (spec.Name for CreateContainer; the argument as
	// given when there is no such container), the network's name for
	// network methods (the argument as given when there is none), the
	// volume's name for volume methods (the generated one for an anonymous
	// CreateVolume), the reference as given for PullImage, PushImage and
	// RemoveImage, the first tag for BuildImage (empty when there is
	// none).
	Object string
	// Detail is the second object: the new name for RenameContainer, the
	// container for ConnectNetwork and DisconnectNetwork, the signal for
	// KillContainer, the command line for Exec, the directory for CopyTo,
	// the platform for PullImage. It is empty otherwise.
	Detail string
}

// String returns "Op Object" or "Op Object Detail".
func (c Call) String() string {
	if c.Detail == "" {
		return c.Op + " " + c.Object
	}
	return c.Op + " " + c.Object + " " + c.Detail
}

// opMutates reports whether op names a method Fail and FailOnce accept
// (known) and whether that method mutates, so that Calls records it.
func opMutates(op string) (mutates, known bool) {
	switch op {
	case "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "RenameContainer",
		"CreateNetwork", "RemoveNetwork", "ConnectNetwork", "DisconnectNetwork",
		"CreateVolume", "RemoveVolume",
		"KillContainer", "PauseContainer", "UnpauseContainer", "RestartContainer",
		"Exec", "CopyTo",
		"BuildImage", "PullImage", "PushImage", "RemoveImage", "CommitContainer",
		"CreateSwarmService", "UpdateSwarmService", "RemoveSwarmService", "CreateSwarmNetwork", "RemoveSwarmNetwork",
		"CreateSwarmSecret", "RemoveSwarmSecret", "CreateSwarmConfig", "RemoveSwarmConfig":
		return true, true
	case "ListSwarmState", "ListSwarmTasks":
		return false, true
	case "ListContainers", "InspectContainer", "ListNetworks", "InspectNetwork",
		"ListVolumes", "InspectVolume", "InspectImage",
		"WaitContainer", "Events", "Logs", "Attach", "CopyFrom", "Top", "ExportContainer":
		return false, true
	}
	return false, false
}

type fault struct {
	op, match string
	err       error
	once      bool
}

// Fail makes every later call of the method op fail with err (returned as
// is) when the call's object matches: when its name or ID, or the argument
// as given, contains match. An empty match matches every call, including
// those with no object (ListContainers, Events, ...). Faults are checked in
// the order they were added and take precedence over the contract's errors;
// a failed mutating call is still recorded by Calls. Fail panics when op is
// not a method of service.Backend or of an optional interface the Fake
// implements, or when err is nil.
func (f *Fake) Fail(op, match string, err error) {
	f.addFault(op, match, err, false)
}

// FailOnce is Fail for the next matching call only: the fault is used up
// by the first call it fails.
func (f *Fake) FailOnce(op, match string, err error) {
	f.addFault(op, match, err, true)
}

func (f *Fake) addFault(op, match string, err error, once bool) {
	if _, known := opMutates(op); !known {
		panic(fmt.Sprintf("servicetest: Fake.Fail: unknown operation %q", op))
	}
	if err == nil {
		panic("servicetest: Fake.Fail: nil error")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{op: op, match: match, err: err, once: once})
}

// ClearFaults removes every fault Fail and FailOnce added.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Calls returns the mutating calls made so far, oldest first: every call of
// a method that creates, changes or removes something (Create*, Start*,
// Stop*, Remove*, Rename*, Connect*, Disconnect*, Kill*, Pause*, Unpause*,
// Restart*, Exec, CopyTo, BuildImage, PullImage, PushImage,
// CommitContainer), whether it
// succeeded or not. A call made with a
// context already done is not recorded. Reads (List*, Inspect*, Wait, Logs,
// Events, Attach, CopyFrom, ExportContainer, Top) and the test controls are
// never recorded.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// ResetCalls forgets the calls recorded so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// enterLocked begins a call: it checks ctx, records the call if op mutates,
// and returns the injected fault, if any, whose match is in call.Object,
// call.Detail or one of names.
func (f *Fake) enterLocked(ctx context.Context, op string, call Call, names ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	call.Op = op
	if mutates, _ := opMutates(op); mutates {
		f.calls = append(f.calls, call)
	}
	names = append(names, call.Object, call.Detail)
	for i, ft := range f.faults {
		if ft.op != op || !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ft.match) }) {
			continue
		}
		if ft.once {
			f.faults = slices.Delete(f.faults, i, i+1)
		}
		return ft.err
	}
	return nil
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// newIDLocked returns a new 64-hex-digit ID, the same for the same count
// in every Fake.
func (f *Fake) newIDLocked() string {
	f.seq++
	sum := sha256.Sum256(fmt.Appendf(nil, "servicetest.Fake object %d", f.seq))
	return hex.EncodeToString(sum[:])
}

// broadcastLocked wakes every goroutine waiting for a change (WaitContainer,
// Logs with Follow, Attach).
func (f *Fake) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// AddImage makes an image known to the Fake under ref, with the given ID
// ("sha256:..."). ref is normalized as the engine does ("busybox",
// "busybox:latest" and "docker.io/library/busybox:latest" are one
// reference); adding a reference that names another image moves it, as a
// tag does. An image may have several references.
func (f *Fake) AddImage(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addImageLocked(normalizeRef(ref), id, nil)
}

// Exit ends a running (or paused) container as if its process had exited
// with code: the container is exited, a "die" event is sent, waiters and
// log followers return. ErrNotFound if there is no such container,
// ErrConflict if it is not running.
func (f *Fake) Exit(id string, code int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containerLocked(id)
	if c == nil {
		return notFound("container", id)
	}
	if !c.running() {
		return conflict("container", c.name, "is not running")
	}
	f.exitLocked(c, code)
	f.afterExitLocked(c)
	return nil
}

// SetHealth sets the health of a running container that has a
// healthcheck to service.HealthHealthy or service.HealthUnhealthy, sending
// a "health_status: <status>" event when it changes. ErrNotFound if there
// is no such container, ErrConflict if it is not running or has no
// healthcheck.
func (f *Fake) SetHealth(id, status string) error {
	if status != service.HealthHealthy && status != service.HealthUnhealthy {
		return fmt.Errorf("container %q: health %q: want %q or %q", id, status, service.HealthHealthy, service.HealthUnhealthy)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containerLocked(id)
	if c == nil {
		return notFound("container", id)
	}
	if !c.running() {
		return conflict("container", c.name, "is not running")
	}
	if !hasHealthcheck(c.spec) {
		return conflict("container", c.name, "has no healthcheck")
	}
	if c.health != status {
		c.health = status
		f.emitLocked(c, "health_status: "+status)
		f.broadcastLocked()
	}
	return nil
}

// Log appends a line to a container's output on stream ("stdout" or
// "stderr"; a Tty container has only stdout, so its stderr lines go there).
// Logs writes it followed by a newline unless it ends with one. Any
// container may be given lines, whatever its state. ErrNotFound if there is
// no such container.
func (f *Fake) Log(id, stream, line string) error {
	if stream != "stdout" && stream != "stderr" {
		return fmt.Errorf("container %q: log stream %q: want stdout or stderr", id, stream)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containerLocked(id)
	if c == nil {
		return notFound("container", id)
	}
	if c.spec.Tty {
		stream = "stdout"
	}
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	c.logs = append(c.logs, logEntry{time: f.now(), stderr: stream == "stderr", line: line})
	f.broadcastLocked()
	return nil
}

// Container returns what InspectContainer would return for the container
// named (by name or ID), and whether there is one.
func (f *Fake) Container(name string) (service.Container, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containerLocked(name)
	if c == nil {
		return service.Container{}, false
	}
	return f.viewLocked(c, true), true
}

// ContainerSpec returns a copy of the spec the container named (by name or
// ID) was created from, and whether there is one: what a test checks to see
// what reconcile asked for (environment, command, mounts, ...).
func (f *Fake) ContainerSpec(name string) (service.ContainerSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containerLocked(name)
	if c == nil {
		return service.ContainerSpec{}, false
	}
	return cloneContainerSpec(c.spec), true
}

// Network returns what InspectNetwork would return for the network named
// (by name or ID), and whether there is one.
func (f *Fake) Network(name string) (service.Network, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, _ := f.networkLocked(name)
	if n == nil {
		return service.Network{}, false
	}
	return f.networkViewLocked(n, true), true
}

// Volume returns what InspectVolume would return for the volume named, and
// whether there is one.
func (f *Fake) Volume(name string) (service.Volume, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.volumes[name]
	if v == nil {
		return service.Volume{}, false
	}
	return cloneVolume(v.vol), true
}

// notFound returns `kind "name": not found`, wrapping service.ErrNotFound.
func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, service.ErrNotFound)
}

// conflict returns `kind "name": conflict: why`, wrapping
// service.ErrConflict.
func conflict(kind, name, why string) error {
	return fmt.Errorf("%s %q: %w: %s", kind, name, service.ErrConflict, why)
}
