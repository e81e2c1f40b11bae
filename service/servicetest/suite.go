package servicetest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

// Config says what Run may use.
type Config struct {
	// Image is an image present in the backend whose PATH has sh, sleep,
	// true, false and cat (busybox). The build subtests use it as their
	// base image, so it must not need pulling.
	Image string
	// Prefix starts the name of every object the suite creates and is the
	// value of their com.docker.compose.project label; they also carry the
	// label com.berthdev.servicetest.case. Objects with both labels left by
	// an earlier, interrupted run are removed when Run begins; nothing else
	// is touched. It must match [a-zA-Z0-9][a-zA-Z0-9_.-]+; keep it
	// lowercase, as compose project names are, and unique to the caller.
	Prefix string
	// Registry, when set ("127.0.0.1:5000"), is a registry the PullPush
	// subtest pushes to and pulls from (without credentials); empty skips
	// it.
	Registry string
	// Simulated says the backend runs no processes (the Fake). The suite
	// then plays the part of the containers' commands through the backend's
	// Simulator methods: it makes them exit, print and become healthy, and
	// checks what the backend reports of it. Subtests that need a command's
	// own effect (Exec) are skipped.
	Simulated bool
}

// Simulator is what Run needs of a backend when Config.Simulated is set. Fake
// implements it.
type Simulator interface {
	// Exit makes a running container exit with code.
	Exit(id string, code int) error
	// Log makes a container print line on stream ("stdout" or "stderr").
	Log(id, stream, line string) error
	// SetHealth sets the health of a running container with a healthcheck.
	SetHealth(id, status string) error
}

// labelCase holds the short name of the subtest that created an object.
const labelCase = "com.berthdev.servicetest.case"

const (
	// waitTimeout bounds every wait for a backend to do something
	// asynchronous: a container to exit or become healthy, an event.
	waitTimeout = time.Minute
	// cleanupTimeout bounds the removal of one object after a subtest.
	cleanupTimeout = time.Minute
	// blockCheck is how long a simulated wait must keep blocking before
	// the suite lets the container exit.
	blockCheck = 50 * time.Millisecond
)

// Run checks that the backends newBackend returns keep the service contract,
// one subtest per behaviour. newBackend is called once per subtest (and once
// before them, to remove what an interrupted run left); the backend it
// returns must see the image cfg.Image. Subtests of an optional interface the
// backend does not implement are skipped. Subtests run one after another;
// each removes what it created when it ends. Images are the exception to the
// removal of leftovers when Run begins (the contract cannot list them): the
// images the subtests build are tagged <prefix>-<case>-<name> (lowercased)
// and labelled as the other objects, so they are easy to find.
func Run(t *testing.T, newBackend func(t *testing.T) service.Backend, cfg Config) {
	t.Helper()
	if cfg.Image == "" {
		t.Fatal("servicetest.Run: Config.Image is empty")
	}
	if !validName(cfg.Prefix) {
		t.Fatalf("servicetest.Run: Config.Prefix %q does not match [a-zA-Z0-9][a-zA-Z0-9_.-]+", cfg.Prefix)
	}
	purge(t, newBackend(t), cfg.Prefix)

	tests := []struct {
		name string // subtest name
		id   string // in object names and the case label
		fn   func(h *harness)
	}{
		{"InspectImage", "image", testInspectImage},
		{"ContainerNotFound", "missing", testContainerNotFound},
		{"CreateMissingImage", "noimage", testCreateMissingImage},
		{"CreateDuplicateName", "dup", testCreateDuplicate},
		{"ContainerLifecycle", "life", testContainerLifecycle},
		{"RemoveRunning", "rm", testRemoveRunning},
		{"RenameContainer", "rename", testRename},
		{"ListContainers", "list", testListContainers},
		{"ExitCode", "exit", testExitCode},
		{"Networks", "net", testNetworks},
		{"NetworkAttachments", "netatt", testNetworkAttachments},
		{"Volumes", "vol", testVolumes},
		{"VolumeInUse", "volinuse", testVolumeInUse},
		{"Events", "events", testEvents},
		{"Logs", "logs", testLogs},
		{"LogsFollow", "follow", testLogsFollow},
		{"Kill", "kill", testKill},
		{"PauseUnpause", "pause", testPause},
		{"Restart", "restart", testRestart},
		{"Healthcheck", "health", testHealthcheck},
		{"Exec", "exec", testExec},
		{"Attach", "attach", testAttach},
		{"CopyTo", "copy", testCopyTo},
		{"CopyFrom", "copyfrom", testCopyFrom},
		{"Top", "top", testTop},
		{"BuildImage", "build", testBuildImage},
		{"BuildImageFailure", "buildfail", testBuildImageFailure},
		{"RemoveImage", "rmimage", testRemoveImage},
		{"Stats", "stats", testStats},
		{"ResizeTTY", "resize", testResize},
		{"PullPush", "pullpush", testPullPush},
		{"EventsBetween", "evhist", testEventsBetween},
		{"CommitContainer", "commit", testCommit},
		{"ExportContainer", "export", testExport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(&harness{t: t, b: newBackend(t), cfg: cfg, id: tt.id})
		})
	}
}

// purge removes the objects an earlier run left: those with the project
// label set to prefix and the case label.
func purge(t *testing.T, b service.Backend, prefix string) {
	t.Helper()
	ctx := t.Context()
	f := service.Filter{Labels: map[string]string{service.LabelProject: prefix, labelCase: ""}, All: true}
	cs, err := b.ListContainers(ctx, f)
	if err != nil {
		t.Fatalf("removing leftovers: ListContainers: %v", err)
	}
	for _, c := range cs {
		if err := b.RemoveContainer(ctx, c.ID, service.RemoveOptions{Force: true, Volumes: true}); err != nil && !errors.Is(err, service.ErrNotFound) {
			t.Fatalf("removing leftover container %s: %v", c.Name, err)
		}
	}
	ns, err := b.ListNetworks(ctx, f)
	if err != nil {
		t.Fatalf("removing leftovers: ListNetworks: %v", err)
	}
	for _, n := range ns {
		if err := b.RemoveNetwork(ctx, n.ID); err != nil && !errors.Is(err, service.ErrNotFound) {
			t.Fatalf("removing leftover network %s: %v", n.Name, err)
		}
	}
	vs, err := b.ListVolumes(ctx, f)
	if err != nil {
		t.Fatalf("removing leftovers: ListVolumes: %v", err)
	}
	for _, v := range vs {
		if err := b.RemoveVolume(ctx, v.Name, true); err != nil && !errors.Is(err, service.ErrNotFound) {
			t.Fatalf("removing leftover volume %s: %v", v.Name, err)
		}
	}
}

// harness is one subtest's view of the backend.
type harness struct {
	t   *testing.T
	b   service.Backend
	cfg Config
	id  string
}

// ctx is the subtest's context.
func (h *harness) ctx() context.Context { return h.t.Context() }

// name returns the name of the subtest's object s.
func (h *harness) name(s string) string { return h.cfg.Prefix + "-" + h.id + "-" + s }

// labels returns the suite's labels plus the key/value pairs kv.
func (h *harness) labels(kv ...string) map[string]string {
	l := map[string]string{service.LabelProject: h.cfg.Prefix, labelCase: h.id}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// filter selects the subtest's objects with the labels kv too.
func (h *harness) filter(all bool, kv ...string) service.Filter {
	return service.Filter{Labels: h.labels(kv...), All: all}
}

// spec returns a container spec running cmd.
func (h *harness) spec(name string, cmd ...string) service.ContainerSpec {
	return service.ContainerSpec{Name: h.name(name), Image: h.cfg.Image, Labels: h.labels(), Command: cmd}
}

// sleeper returns the spec of a container that runs until stopped.
func (h *harness) sleeper(name string) service.ContainerSpec {
	return h.spec(name, "sleep", "3600")
}

// cleanup removes an object when the subtest ends; not finding it is fine.
func (h *harness) cleanup(what string, remove func(ctx context.Context) error) {
	base := context.WithoutCancel(h.ctx())
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(base, cleanupTimeout)
		defer cancel()
		if err := remove(ctx); err != nil && !errors.Is(err, service.ErrNotFound) {
			h.t.Errorf("cleanup: removing %s: %v", what, err)
		}
	})
}

func (h *harness) removeContainerLater(id, name string) {
	h.cleanup("container "+name, func(ctx context.Context) error {
		return h.b.RemoveContainer(ctx, id, service.RemoveOptions{Force: true, Volumes: true})
	})
}

// create creates a container that is removed when the subtest ends.
func (h *harness) create(spec service.ContainerSpec) string {
	h.t.Helper()
	id, err := h.b.CreateContainer(h.ctx(), spec)
	if err != nil {
		h.t.Fatalf("CreateContainer(%q): %v", spec.Name, err)
	}
	if id == "" {
		h.t.Fatalf("CreateContainer(%q) returned an empty ID", spec.Name)
	}
	h.removeContainerLater(id, spec.Name)
	return id
}

// createNetwork creates a network that is removed when the subtest ends.
func (h *harness) createNetwork(name string, kv ...string) (id, fullName string) {
	h.t.Helper()
	spec := service.NetworkSpec{Name: h.name(name), Labels: h.labels(kv...)}
	id, err := h.b.CreateNetwork(h.ctx(), spec)
	if err != nil {
		h.t.Fatalf("CreateNetwork(%q): %v", spec.Name, err)
	}
	h.cleanup("network "+spec.Name, func(ctx context.Context) error { return h.b.RemoveNetwork(ctx, id) })
	return id, spec.Name
}

// createVolume creates a volume that is removed when the subtest ends.
func (h *harness) createVolume(spec service.VolumeSpec) service.Volume {
	h.t.Helper()
	v, err := h.b.CreateVolume(h.ctx(), spec)
	if err != nil {
		h.t.Fatalf("CreateVolume(%q): %v", spec.Name, err)
	}
	h.cleanup("volume "+spec.Name, func(ctx context.Context) error { return h.b.RemoveVolume(ctx, spec.Name, false) })
	return v
}

func (h *harness) start(id string) {
	h.t.Helper()
	if err := h.b.StartContainer(h.ctx(), id); err != nil {
		h.t.Fatalf("StartContainer(%s): %v", id, err)
	}
}

// stop stops a container without a grace period.
func (h *harness) stop(id string) {
	h.t.Helper()
	var now time.Duration
	if err := h.b.StopContainer(h.ctx(), id, &now); err != nil {
		h.t.Fatalf("StopContainer(%s): %v", id, err)
	}
}

func (h *harness) inspect(id string) service.Container {
	h.t.Helper()
	c, err := h.b.InspectContainer(h.ctx(), id)
	if err != nil {
		h.t.Fatalf("InspectContainer(%s): %v", id, err)
	}
	return c
}

// sim returns the backend as a Simulator when the run is simulated, nil
// otherwise.
func (h *harness) sim() Simulator {
	h.t.Helper()
	if !h.cfg.Simulated {
		return nil
	}
	s, ok := h.b.(Simulator)
	if !ok {
		h.t.Fatalf("Config.Simulated is set but %T does not implement servicetest.Simulator", h.b)
	}
	return s
}

// simExit makes a simulated container exit with code; on a real backend the
// container's command does it.
func (h *harness) simExit(id string, code int) {
	h.t.Helper()
	if s := h.sim(); s != nil {
		if err := s.Exit(id, code); err != nil {
			h.t.Fatalf("Simulator.Exit(%s, %d): %v", id, code, err)
		}
	}
}

// simLog makes a simulated container print line; on a real backend the
// container's command does it.
func (h *harness) simLog(id, stream, line string) {
	h.t.Helper()
	if s := h.sim(); s != nil {
		if err := s.Log(id, stream, line); err != nil {
			h.t.Fatalf("Simulator.Log(%s, %s): %v", id, stream, err)
		}
	}
}

// waitExited waits for a container to stop, with WaitContainer when the
// backend has it and by polling InspectContainer otherwise, and returns its
// exit code.
func (h *harness) waitExited(id string) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	if w, ok := h.b.(service.Waiter); ok {
		code, err := w.WaitContainer(ctx, id)
		if err != nil {
			h.t.Fatalf("WaitContainer(%s): %v", id, err)
		}
		return code
	}
	c := h.poll(ctx, id, "to exit", func(c service.Container) bool {
		return c.State == service.StateExited || c.State == service.StateDead
	})
	return c.ExitCode
}

// poll inspects a container until ok says so.
func (h *harness) poll(ctx context.Context, id, what string, ok func(service.Container) bool) service.Container {
	h.t.Helper()
	for {
		c, err := h.b.InspectContainer(ctx, id)
		if err != nil {
			h.t.Fatalf("waiting for container %s %s: InspectContainer: %v", id, what, err)
		}
		if ok(c) {
			return c
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("container %s did not get %s within %v: state %q, health %q", id, what, waitTimeout, c.State, c.Health)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wantErr checks that err wraps target and names the object concerned: its
// message holds one of objects (the ID or name the call was given, or the
// object's name), when there are any.
func (h *harness) wantErr(err, target error, call string, objects ...string) {
	h.t.Helper()
	switch {
	case err == nil:
		h.t.Errorf("%s: no error, want one wrapping service.%s", call, sentinelName(target))
	case !errors.Is(err, target):
		h.t.Errorf("%s: %q, want an error wrapping service.%s", call, err, sentinelName(target))
	case len(objects) > 0 && !slices.ContainsFunc(objects, func(o string) bool { return strings.Contains(err.Error(), o) }):
		h.t.Errorf("%s: %q names none of %q", call, err, objects)
	}
}

func sentinelName(err error) string {
	switch err {
	case service.ErrNotFound:
		return "ErrNotFound"
	case service.ErrConflict:
		return "ErrConflict"
	case service.ErrUnsupported:
		return "ErrUnsupported"
	}
	return err.Error()
}

// noErr checks that a call succeeded.
func (h *harness) noErr(err error, call string) {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("%s: %v", call, err)
	}
}

// need returns the backend as T, or skips the subtest.
func need[T any](h *harness) T {
	h.t.Helper()
	x, ok := h.b.(T)
	if !ok {
		h.t.Skipf("%T does not implement %s", h.b, strings.TrimPrefix(fmt.Sprintf("%T", (*T)(nil)), "*"))
	}
	return x
}

// hasLabels reports whether got holds every label of want.
func hasLabels(got, want map[string]string) bool {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

func isState(s string) bool {
	switch s {
	case service.StateCreated, service.StateRunning, service.StatePaused, service.StateRestarting,
		service.StateExited, service.StateDead, service.StateRemoving:
		return true
	}
	return false
}

func testInspectImage(h *harness) {
	img, err := h.b.InspectImage(h.ctx(), h.cfg.Image)
	h.noErr(err, fmt.Sprintf("InspectImage(%q)", h.cfg.Image))
	if img.ID == "" {
		h.t.Errorf("InspectImage(%q): empty ID", h.cfg.Image)
	}
	missing := "berth-servicetest/absent:" + h.cfg.Prefix
	_, err = h.b.InspectImage(h.ctx(), missing)
	h.wantErr(err, service.ErrNotFound, fmt.Sprintf("InspectImage(%q)", missing), missing)
}

func testContainerNotFound(h *harness) {
	ctx, missing := h.ctx(), h.name("absent")
	_, err := h.b.InspectContainer(ctx, missing)
	h.wantErr(err, service.ErrNotFound, "InspectContainer", missing)
	h.wantErr(h.b.StartContainer(ctx, missing), service.ErrNotFound, "StartContainer", missing)
	h.wantErr(h.b.StopContainer(ctx, missing, nil), service.ErrNotFound, "StopContainer", missing)
	h.wantErr(h.b.RemoveContainer(ctx, missing, service.RemoveOptions{}), service.ErrNotFound, "RemoveContainer", missing)
	h.wantErr(h.b.RemoveContainer(ctx, missing, service.RemoveOptions{Force: true}), service.ErrNotFound, "RemoveContainer(Force)", missing)
	h.wantErr(h.b.RenameContainer(ctx, missing, h.name("other")), service.ErrNotFound, "RenameContainer", missing)
	if w, ok := h.b.(service.Waiter); ok {
		_, err := w.WaitContainer(ctx, missing)
		h.wantErr(err, service.ErrNotFound, "WaitContainer", missing)
	}
	if c, ok := h.b.(service.CopierFrom); ok {
		rc, err := c.CopyFrom(ctx, missing, "/")
		if err == nil {
			rc.Close()
		}
		h.wantErr(err, service.ErrNotFound, "CopyFrom", missing)
	}
	if tp, ok := h.b.(service.Toper); ok {
		_, _, err := tp.Top(ctx, missing, nil)
		h.wantErr(err, service.ErrNotFound, "Top", missing)
	}
}

func testCreateMissingImage(h *harness) {
	spec := h.sleeper("c")
	spec.Image = "berth-servicetest/absent:" + h.cfg.Prefix
	id, err := h.b.CreateContainer(h.ctx(), spec)
	if err == nil {
		h.removeContainerLater(id, spec.Name)
	}
	h.wantErr(err, service.ErrNotFound, "CreateContainer with a missing image", spec.Image)
	_, err = h.b.InspectContainer(h.ctx(), spec.Name)
	h.wantErr(err, service.ErrNotFound, "InspectContainer after a failed create", spec.Name)
}

func testCreateDuplicate(h *harness) {
	spec := h.sleeper("c")
	id := h.create(spec)
	dup, err := h.b.CreateContainer(h.ctx(), spec)
	if err == nil {
		h.removeContainerLater(dup, spec.Name)
	}
	h.wantErr(err, service.ErrConflict, "CreateContainer with a name in use", spec.Name)
	if c := h.inspect(spec.Name); c.ID != id {
		h.t.Errorf("InspectContainer(%q).ID = %s, want the first container's, %s", spec.Name, c.ID, id)
	}
}

func testContainerLifecycle(h *harness) {
	spec := h.sleeper("c")
	id := h.create(spec)
	img, err := h.b.InspectImage(h.ctx(), h.cfg.Image)
	h.noErr(err, "InspectImage")

	c := h.inspect(id)
	if c.ID != id || c.Name != spec.Name || c.State != service.StateCreated {
		h.t.Errorf("after create: ID %s, Name %q, State %q; want %s, %q, %q", c.ID, c.Name, c.State, id, spec.Name, service.StateCreated)
	}
	if c.Image != h.cfg.Image || c.ImageID != img.ID {
		h.t.Errorf("after create: Image %q, ImageID %q; want %q, %q", c.Image, c.ImageID, h.cfg.Image, img.ID)
	}
	if c.Created.IsZero() {
		h.t.Error("after create: Created is zero")
	}
	if !hasLabels(c.Labels, spec.Labels) {
		h.t.Errorf("after create: Labels %v, want them to include %v", c.Labels, spec.Labels)
	}
	if byName := h.inspect(spec.Name); byName.ID != id {
		h.t.Errorf("InspectContainer(%q).ID = %s, want %s", spec.Name, byName.ID, id)
	}

	h.start(id)
	c = h.inspect(id)
	if c.State != service.StateRunning || c.StartedAt.IsZero() {
		h.t.Errorf("after start: State %q, StartedAt %v; want %q and a time", c.State, c.StartedAt, service.StateRunning)
	}
	h.noErr(h.b.StartContainer(h.ctx(), id), "StartContainer on a running container")
	if c = h.inspect(id); c.State != service.StateRunning {
		h.t.Errorf("after a second start: State %q, want %q", c.State, service.StateRunning)
	}

	h.stop(id)
	c = h.inspect(id)
	if c.State != service.StateExited || c.FinishedAt.IsZero() || c.FinishedAt.Before(c.StartedAt) {
		h.t.Errorf("after stop: State %q, StartedAt %v, FinishedAt %v; want %q, finished after started", c.State, c.StartedAt, c.FinishedAt, service.StateExited)
	}
	var now time.Duration
	h.noErr(h.b.StopContainer(h.ctx(), id, &now), "StopContainer on a stopped container")
	if c = h.inspect(id); c.State != service.StateExited {
		h.t.Errorf("after a second stop: State %q, want %q", c.State, service.StateExited)
	}

	h.start(id)
	if c = h.inspect(id); c.State != service.StateRunning {
		h.t.Errorf("after starting a stopped container: State %q, want %q", c.State, service.StateRunning)
	}
	h.stop(id)
}

func testRemoveRunning(h *harness) {
	spec := h.sleeper("c")
	id := h.create(spec)
	h.start(id)
	h.wantErr(h.b.RemoveContainer(h.ctx(), id, service.RemoveOptions{}), service.ErrConflict, "RemoveContainer on a running container", id, spec.Name)
	if c := h.inspect(id); c.State != service.StateRunning {
		h.t.Errorf("after a refused removal: State %q, want %q", c.State, service.StateRunning)
	}
	h.noErr(h.b.RemoveContainer(h.ctx(), id, service.RemoveOptions{Force: true}), "RemoveContainer(Force) on a running container")
	_, err := h.b.InspectContainer(h.ctx(), id)
	h.wantErr(err, service.ErrNotFound, "InspectContainer after removal", id)
	h.wantErr(h.b.RemoveContainer(h.ctx(), id, service.RemoveOptions{}), service.ErrNotFound, "RemoveContainer after removal", id)
}

func testRename(h *harness) {
	a, b := h.sleeper("a"), h.sleeper("b")
	aID, bID := h.create(a), h.create(b)
	newName := h.name("c")
	h.noErr(h.b.RenameContainer(h.ctx(), aID, newName), "RenameContainer")
	if c := h.inspect(newName); c.ID != aID || c.Name != newName {
		h.t.Errorf("InspectContainer(%q): ID %s, Name %q; want %s, %q", newName, c.ID, c.Name, aID, newName)
	}
	_, err := h.b.InspectContainer(h.ctx(), a.Name)
	h.wantErr(err, service.ErrNotFound, "InspectContainer by the old name", a.Name)
	h.wantErr(h.b.RenameContainer(h.ctx(), bID, newName), service.ErrConflict, "RenameContainer to a name in use", bID, b.Name, newName)
	if c := h.inspect(bID); c.Name != b.Name {
		h.t.Errorf("after a refused rename: Name %q, want %q", c.Name, b.Name)
	}
}

func testListContainers(h *harness) {
	const role = "com.berthdev.servicetest.role"
	specs := map[string]service.ContainerSpec{}
	ids := map[string]string{} // role → ID
	for _, r := range []string{"running", "created", "exited"} {
		spec := h.sleeper(r)
		spec.Labels[role] = r
		spec.Labels["com.berthdev.servicetest.extra"] = "value with spaces=and equals"
		specs[r] = spec
		ids[r] = h.create(spec)
	}
	h.start(ids["running"])
	h.start(ids["exited"])
	h.stop(ids["exited"])

	list := func(f service.Filter) map[string]service.Container {
		h.t.Helper()
		cs, err := h.b.ListContainers(h.ctx(), f)
		h.noErr(err, fmt.Sprintf("ListContainers(%v)", f))
		byRole := map[string]service.Container{}
		for _, c := range cs {
			if !f.Matches(c.Labels) {
				h.t.Errorf("ListContainers(%v) returned %s with labels %v", f, c.Name, c.Labels)
			}
			byRole[c.Labels[role]] = c
		}
		return byRole
	}
	check := func(what string, got map[string]service.Container, want ...string) {
		h.t.Helper()
		if roles := slices.Sorted(maps.Keys(got)); !slices.Equal(roles, slices.Sorted(slices.Values(want))) {
			h.t.Errorf("%s: got the containers %v, want %v", what, roles, want)
		}
	}
	check("by label value", list(h.filter(true, role, "running")), "running")
	check("by label presence", list(h.filter(true, role, "")), "created", "exited", "running")
	check("by a label value no container has", list(h.filter(true, role, "absent")))
	check("by a label no container has", list(h.filter(true, "com.berthdev.servicetest.absent", "")))
	check("running only", list(h.filter(false)), "running")

	all := list(h.filter(true))
	check("all", all, "created", "exited", "running")
	for r, state := range map[string]string{"running": service.StateRunning, "created": service.StateCreated, "exited": service.StateExited} {
		c, ok := all[r]
		if !ok {
			continue
		}
		spec := specs[r]
		if c.ID != ids[r] || c.Name != spec.Name {
			h.t.Errorf("listed %s container: ID %s, Name %q; want %s, %q", r, c.ID, c.Name, ids[r], spec.Name)
		}
		if !hasLabels(c.Labels, spec.Labels) {
			h.t.Errorf("listed %s container: Labels %v, want them to include %v", r, c.Labels, spec.Labels)
		}
		if !isState(c.State) || c.State != state {
			h.t.Errorf("listed %s container: State %q, want %q", r, c.State, state)
		}
		if c.Created.IsZero() {
			h.t.Errorf("listed %s container: Created is zero", r)
		}
	}
}

func testExitCode(h *harness) {
	id := h.create(h.spec("c", "sh", "-c", "exit 3"))
	h.start(id)
	if w, ok := h.b.(service.Waiter); ok {
		type result struct {
			code int
			err  error
		}
		ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
		defer cancel()
		done := make(chan result, 1)
		go func() {
			code, err := w.WaitContainer(ctx, id)
			done <- result{code, err}
		}()
		if h.cfg.Simulated {
			select {
			case r := <-done:
				h.t.Fatalf("WaitContainer returned (%d, %v) while the container was running", r.code, r.err)
			case <-time.After(blockCheck):
			}
			h.simExit(id, 3)
		}
		r := <-done
		if r.err != nil || r.code != 3 {
			h.t.Errorf("WaitContainer = %d, %v; want 3, nil", r.code, r.err)
		}
	} else {
		h.simExit(id, 3)
		h.waitExited(id)
	}
	c := h.inspect(id)
	if c.State != service.StateExited || c.ExitCode != 3 {
		h.t.Errorf("InspectContainer: State %q, ExitCode %d; want %q, 3", c.State, c.ExitCode, service.StateExited)
	}
	if c.StartedAt.IsZero() || c.FinishedAt.IsZero() {
		h.t.Errorf("InspectContainer: StartedAt %v, FinishedAt %v; want both set", c.StartedAt, c.FinishedAt)
	}
}

func testNetworks(h *harness) {
	const which = "com.berthdev.servicetest.network"
	aID, aName := h.createNetwork("a", which, "a")
	bID, _ := h.createNetwork("b", which, "b")
	dup, err := h.b.CreateNetwork(h.ctx(), service.NetworkSpec{Name: aName, Labels: h.labels(which, "a")})
	if err == nil {
		h.cleanup("duplicate network "+aName, func(ctx context.Context) error { return h.b.RemoveNetwork(ctx, dup) })
	}
	h.wantErr(err, service.ErrConflict, "CreateNetwork with a name in use", aName)

	ns, err := h.b.ListNetworks(h.ctx(), h.filter(false, which, "a"))
	h.noErr(err, "ListNetworks by label value")
	if len(ns) != 1 || ns[0].ID != aID || ns[0].Name != aName || !hasLabels(ns[0].Labels, h.labels(which, "a")) {
		h.t.Errorf("ListNetworks by label value = %+v, want only %s (%s) with its labels", ns, aName, aID)
	}
	ns, err = h.b.ListNetworks(h.ctx(), h.filter(false, which, ""))
	h.noErr(err, "ListNetworks by label presence")
	var got []string
	for _, n := range ns {
		got = append(got, n.ID)
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values([]string{aID, bID}))) {
		h.t.Errorf("ListNetworks by label presence: IDs %v, want %v", got, []string{aID, bID})
	}

	n, err := h.b.InspectNetwork(h.ctx(), aName)
	h.noErr(err, "InspectNetwork by name")
	if n.ID != aID || n.Name != aName {
		h.t.Errorf("InspectNetwork(%q): ID %s, Name %q; want %s", aName, n.ID, n.Name, aID)
	}
	n, err = h.b.InspectNetwork(h.ctx(), aID)
	h.noErr(err, "InspectNetwork by ID")
	if n.Name != aName || len(n.Containers) != 0 {
		h.t.Errorf("InspectNetwork(%s): Name %q, Containers %v; want %q, none", aID, n.Name, n.Containers, aName)
	}

	h.noErr(h.b.RemoveNetwork(h.ctx(), aID), "RemoveNetwork")
	_, err = h.b.InspectNetwork(h.ctx(), aName)
	h.wantErr(err, service.ErrNotFound, "InspectNetwork after removal", aName)
	h.wantErr(h.b.RemoveNetwork(h.ctx(), aName), service.ErrNotFound, "RemoveNetwork after removal", aName)
}

func testNetworkAttachments(h *harness) {
	aID, aName := h.createNetwork("a")
	bID, bName := h.createNetwork("b")
	spec := h.sleeper("c")
	spec.Networks = []service.Endpoint{{Network: aName, Aliases: []string{"c"}}, {Network: bName, Aliases: []string{"c"}}}
	id := h.create(spec)
	h.start(id)

	want := map[string]string{aName: aID, bName: bID}
	cs, err := h.b.ListContainers(h.ctx(), h.filter(false))
	h.noErr(err, "ListContainers")
	if len(cs) != 1 || !maps.Equal(cs[0].Networks, want) {
		h.t.Errorf("ListContainers: %d containers, the first with Networks %v; want one with %v", len(cs), firstNetworks(cs), want)
	}
	if c := h.inspect(id); !maps.Equal(c.Networks, want) {
		h.t.Errorf("InspectContainer: Networks %v, want %v", c.Networks, want)
	}
	n, err := h.b.InspectNetwork(h.ctx(), aName)
	h.noErr(err, "InspectNetwork")
	if !slices.Contains(n.Containers, id) {
		h.t.Errorf("InspectNetwork(%q).Containers = %v, want it to hold %s", aName, n.Containers, id)
	}
	h.wantErr(h.b.RemoveNetwork(h.ctx(), aName), service.ErrConflict, "RemoveNetwork with a container attached", aName)
	if _, err := h.b.InspectNetwork(h.ctx(), aName); err != nil {
		h.t.Errorf("InspectNetwork after a refused removal: %v", err)
	}

	cID, cName := h.createNetwork("x")
	h.noErr(h.b.ConnectNetwork(h.ctx(), cName, id, service.Endpoint{Network: cName}), "ConnectNetwork")
	if c := h.inspect(id); c.Networks[cName] != cID {
		h.t.Errorf("after ConnectNetwork: Networks %v, want %s → %s among them", c.Networks, cName, cID)
	}
	h.noErr(h.b.DisconnectNetwork(h.ctx(), cName, id, false), "DisconnectNetwork")
	if c := h.inspect(id); !maps.Equal(c.Networks, want) {
		h.t.Errorf("after DisconnectNetwork: Networks %v, want %v", c.Networks, want)
	}

	h.noErr(h.b.RemoveContainer(h.ctx(), id, service.RemoveOptions{Force: true}), "RemoveContainer")
	h.noErr(h.b.RemoveNetwork(h.ctx(), aName), "RemoveNetwork once the container is removed")
	h.noErr(h.b.RemoveNetwork(h.ctx(), bID), "RemoveNetwork once the container is removed")
}

func firstNetworks(cs []service.Container) map[string]string {
	if len(cs) == 0 {
		return nil
	}
	return cs[0].Networks
}

func testVolumes(h *harness) {
	const which = "com.berthdev.servicetest.volume"
	spec := service.VolumeSpec{Name: h.name("v"), Labels: h.labels(which, "v")}
	v := h.createVolume(spec)
	if v.Name != spec.Name {
		h.t.Errorf("CreateVolume: Name %q, want %q", v.Name, spec.Name)
	}

	vs, err := h.b.ListVolumes(h.ctx(), h.filter(false, which, "v"))
	h.noErr(err, "ListVolumes by label value")
	if len(vs) != 1 || vs[0].Name != spec.Name || !hasLabels(vs[0].Labels, spec.Labels) {
		h.t.Errorf("ListVolumes by label value = %+v, want only %s with its labels", vs, spec.Name)
	}
	vs, err = h.b.ListVolumes(h.ctx(), h.filter(false, which, "absent"))
	h.noErr(err, "ListVolumes by another label value")
	if len(vs) != 0 {
		h.t.Errorf("ListVolumes by a label value no volume has = %+v, want none", vs)
	}

	got, err := h.b.InspectVolume(h.ctx(), spec.Name)
	h.noErr(err, "InspectVolume")
	if got.Name != spec.Name || got.Driver == "" || !hasLabels(got.Labels, spec.Labels) {
		h.t.Errorf("InspectVolume = %+v, want %s with a driver and labels %v", got, spec.Name, spec.Labels)
	}

	again, err := h.b.CreateVolume(h.ctx(), spec)
	h.noErr(err, "CreateVolume again with the same spec")
	if again.Name != spec.Name {
		h.t.Errorf("CreateVolume again: Name %q, want %q", again.Name, spec.Name)
	}

	h.noErr(h.b.RemoveVolume(h.ctx(), spec.Name, false), "RemoveVolume")
	_, err = h.b.InspectVolume(h.ctx(), spec.Name)
	h.wantErr(err, service.ErrNotFound, "InspectVolume after removal", spec.Name)
	h.wantErr(h.b.RemoveVolume(h.ctx(), spec.Name, false), service.ErrNotFound, "RemoveVolume after removal", spec.Name)
}

func testVolumeInUse(h *harness) {
	vspec := service.VolumeSpec{Name: h.name("v"), Labels: h.labels()}
	h.createVolume(vspec)
	spec := h.sleeper("c")
	spec.Mounts = []service.Mount{{Type: service.MountVolume, Source: vspec.Name, Target: "/data"}}
	id := h.create(spec)

	c := h.inspect(id)
	if !slices.ContainsFunc(c.Mounts, func(m service.MountPoint) bool {
		return m.Type == service.MountVolume && m.Name == vspec.Name && m.Destination == "/data"
	}) {
		h.t.Errorf("InspectContainer: Mounts %+v, want volume %s on /data", c.Mounts, vspec.Name)
	}
	h.wantErr(h.b.RemoveVolume(h.ctx(), vspec.Name, false), service.ErrConflict, "RemoveVolume while a container uses it", vspec.Name)
	h.noErr(h.b.RemoveContainer(h.ctx(), id, service.RemoveOptions{}), "RemoveContainer")
	h.noErr(h.b.RemoveVolume(h.ctx(), vspec.Name, false), "RemoveVolume once the container is removed")
}

func testEvents(h *harness) {
	es := need[service.EventSource](h)
	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	evs, errs := es.Events(ctx, h.filter(false))

	// A container of the same project that the filter excludes.
	other := h.sleeper("other")
	other.Labels[labelCase] = h.id + "-other"
	otherID := h.create(other)
	h.start(otherID)

	spec := h.sleeper("c")
	id := h.create(spec)
	h.start(id)
	ev := h.expectEvent(evs, errs, id, "start", otherID)
	if ev.ContainerName != spec.Name || ev.Labels[service.LabelProject] != h.cfg.Prefix || ev.Time.IsZero() {
		h.t.Errorf("start event: ContainerName %q, Labels %v, Time %v; want %q, the project label, a time", ev.ContainerName, ev.Labels, ev.Time, spec.Name)
	}
	h.stop(id)
	h.expectEvent(evs, errs, id, "die", otherID)

	cancel()
	deadline := time.After(waitTimeout)
	for evs != nil || errs != nil {
		select {
		case _, ok := <-evs:
			if !ok {
				evs = nil
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
			} else if err != nil && !errors.Is(err, context.Canceled) {
				h.t.Errorf("event stream error after cancel: %v", err)
			}
		case <-deadline:
			h.t.Fatalf("the event channels were not closed within %v of the context's end", waitTimeout)
		}
	}
}

// expectEvent reads events until action for container id, failing on an
// event of container unwanted, an error or a timeout.
func (h *harness) expectEvent(evs <-chan service.Event, errs <-chan error, id, action, unwanted string) service.Event {
	h.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				h.t.Fatalf("event stream closed before %q of %s", action, id)
			}
			if ev.ContainerID == unwanted {
				h.t.Errorf("got %q of container %s, which the filter excludes", ev.Action, unwanted)
			}
			if ev.ContainerID == id && ev.Action == action {
				return ev
			}
		case err := <-errs:
			h.t.Fatalf("event stream ended before %q of %s: %v", action, id, err)
		case <-timeout:
			h.t.Fatalf("no %q event of %s within %v", action, id, waitTimeout)
		}
	}
}

// logs reads a container's logs.
func (h *harness) logs(l service.Logger, id string, opts service.LogOptions) (stdout, stderr string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	h.noErr(l.Logs(h.ctx(), id, opts, &out, &errb), fmt.Sprintf("Logs(%+v)", opts))
	return out.String(), errb.String()
}

func testLogs(h *harness) {
	l := need[service.Logger](h)
	id := h.create(h.spec("c", "sh", "-c", "echo hello; echo oops >&2"))
	h.start(id)
	h.simLog(id, "stdout", "hello")
	h.simLog(id, "stderr", "oops")
	h.simExit(id, 0)
	if code := h.waitExited(id); code != 0 {
		h.t.Errorf("exit code %d, want 0", code)
	}
	for _, tt := range []struct {
		opts               service.LogOptions
		wantOut, wantErrOf string
	}{
		{service.LogOptions{Stdout: true, Stderr: true}, "hello\n", "oops\n"},
		{service.LogOptions{Stdout: true}, "hello\n", ""},
		{service.LogOptions{Stderr: true}, "", "oops\n"},
	} {
		out, errOut := h.logs(l, id, tt.opts)
		if out != tt.wantOut || errOut != tt.wantErrOf {
			h.t.Errorf("Logs(%+v): stdout %q, stderr %q; want %q, %q", tt.opts, out, errOut, tt.wantOut, tt.wantErrOf)
		}
	}
}

func testLogsFollow(h *harness) {
	l := need[service.Logger](h)
	id := h.create(h.spec("c", "sh", "-c", "echo one; sleep 2; echo two"))
	h.start(id)
	h.simLog(id, "stdout", "one")

	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- l.Logs(ctx, id, service.LogOptions{Follow: true, Stdout: true, Stderr: true}, &out, &errOut)
	}()
	if h.cfg.Simulated {
		select {
		case err := <-done:
			h.t.Fatalf("Logs with Follow returned (%v) while the container was running", err)
		case <-time.After(blockCheck):
		}
		h.simLog(id, "stdout", "two")
		h.simExit(id, 0)
	}
	if err := <-done; err != nil {
		h.t.Fatalf("Logs with Follow: %v", err)
	}
	if out.String() != "one\ntwo\n" || errOut.Len() != 0 {
		h.t.Errorf("Logs with Follow: stdout %q, stderr %q; want %q, nothing", out.String(), errOut.String(), "one\ntwo\n")
	}
}

func testKill(h *harness) {
	s := need[service.Signaller](h)
	spec := h.sleeper("c")
	id := h.create(spec)
	h.start(id)
	h.noErr(s.KillContainer(h.ctx(), id, ""), "KillContainer")
	if code := h.waitExited(id); code != 137 {
		h.t.Errorf("exit code after SIGKILL: %d, want 137", code)
	}
	if c := h.inspect(id); c.State != service.StateExited || c.ExitCode != 137 {
		h.t.Errorf("after SIGKILL: State %q, ExitCode %d; want %q, 137", c.State, c.ExitCode, service.StateExited)
	}
	h.wantErr(s.KillContainer(h.ctx(), id, ""), service.ErrConflict, "KillContainer on a stopped container", id, spec.Name)
}

func testPause(h *harness) {
	s := need[service.Signaller](h)
	id := h.create(h.sleeper("c"))
	h.start(id)
	err := s.PauseContainer(h.ctx(), id)
	if errors.Is(err, service.ErrUnsupported) {
		h.t.Skipf("PauseContainer: %v", err)
	}
	h.noErr(err, "PauseContainer")
	if c := h.inspect(id); c.State != service.StatePaused {
		h.t.Errorf("after pause: State %q, want %q", c.State, service.StatePaused)
	}
	h.noErr(s.UnpauseContainer(h.ctx(), id), "UnpauseContainer")
	if c := h.inspect(id); c.State != service.StateRunning {
		h.t.Errorf("after unpause: State %q, want %q", c.State, service.StateRunning)
	}
	h.stop(id)
}

func testRestart(h *harness) {
	s := need[service.Signaller](h)
	id := h.create(h.sleeper("c"))
	h.start(id)
	before := h.inspect(id).StartedAt
	var now time.Duration
	h.noErr(s.RestartContainer(h.ctx(), id, &now), "RestartContainer")
	c := h.inspect(id)
	if c.State != service.StateRunning || c.StartedAt.Before(before) {
		h.t.Errorf("after restart: State %q, StartedAt %v; want %q, not before %v", c.State, c.StartedAt, service.StateRunning, before)
	}
	h.stop(id)
}

func testHealthcheck(h *harness) {
	plain := h.create(h.sleeper("plain"))
	h.start(plain)
	if c := h.inspect(plain); c.Health != "" {
		h.t.Errorf("container without a healthcheck: Health %q, want none", c.Health)
	}

	spec := h.sleeper("c")
	spec.Healthcheck = &service.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 5 * time.Second, Retries: 3}
	id := h.create(spec)
	h.start(id)
	if s := h.sim(); s != nil {
		if c := h.inspect(id); c.Health != service.HealthStarting {
			h.t.Errorf("just started: Health %q, want %q", c.Health, service.HealthStarting)
		}
		h.noErr(s.SetHealth(id, service.HealthHealthy), "Simulator.SetHealth")
	}
	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	h.poll(ctx, id, "healthy", func(c service.Container) bool { return c.Health == service.HealthHealthy })
}

func testExec(h *harness) {
	e := need[service.Execer](h)
	if h.cfg.Simulated {
		h.t.Skip("a simulated backend runs no commands")
	}
	id := h.create(h.sleeper("c"))
	h.start(id)
	var out, errOut bytes.Buffer
	code, err := e.Exec(h.ctx(), id, service.ExecSpec{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 4"}}, nil, &out, &errOut)
	h.noErr(err, "Exec")
	if code != 4 || out.String() != "out\n" || errOut.String() != "err\n" {
		h.t.Errorf("Exec: code %d, stdout %q, stderr %q; want 4, %q, %q", code, out.String(), errOut.String(), "out\n", "err\n")
	}
	h.stop(id)
}

func testAttach(h *harness) {
	a := need[service.Attacher](h)
	spec := h.spec("c", "sh", "-c", "echo attached")
	spec.AttachStdout, spec.AttachStderr = true, true
	id := h.create(spec)
	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	wait, err := a.Attach(ctx, id, nil, &out, &errOut)
	h.noErr(err, "Attach")
	h.start(id)
	h.simLog(id, "stdout", "attached")
	h.simExit(id, 0)
	if err := wait(); err != nil {
		h.t.Fatalf("Attach: wait: %v", err)
	}
	if out.String() != "attached\n" || errOut.Len() != 0 {
		h.t.Errorf("Attach: stdout %q, stderr %q; want %q, nothing", out.String(), errOut.String(), "attached\n")
	}
}

func testCopyTo(h *harness) {
	c := need[service.Copier](h)
	const file = "servicetest-copied.txt"
	id := h.create(h.spec("c", "cat", "/"+file))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := []byte("copied\n")
	h.noErr(tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}), "tar header")
	_, err := tw.Write(content)
	h.noErr(err, "tar write")
	h.noErr(tw.Close(), "tar close")
	h.noErr(c.CopyTo(h.ctx(), id, "/", &buf), "CopyTo")
	if h.cfg.Simulated {
		return
	}
	// cat succeeds only if the file is there.
	h.start(id)
	if code := h.waitExited(id); code != 0 {
		h.t.Errorf("cat of the copied file exited with %d, want 0", code)
	}
	if l, ok := h.b.(service.Logger); ok {
		if out, _ := h.logs(l, id, service.LogOptions{Stdout: true}); out != string(content) {
			h.t.Errorf("cat of the copied file printed %q, want %q", out, content)
		}
	}
}

// tarEntry is an entry of a tar stream as the suite checks it.
type tarEntry struct {
	name     string
	typeflag byte
	mode     int64
	data     string
}

// readTar reads a tar stream to its end and closes it.
func (h *harness) readTar(rc io.ReadCloser, call string) []tarEntry {
	h.t.Helper()
	defer rc.Close()
	var out []tarEntry
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		h.noErr(err, call+": reading the tar stream")
		data, err := io.ReadAll(tr)
		h.noErr(err, call+": reading the tar stream")
		out = append(out, tarEntry{name: hdr.Name, typeflag: hdr.Typeflag, mode: hdr.Mode & 0o7777, data: string(data)})
	}
}

func testCopyFrom(h *harness) {
	c := need[service.Copier](h)
	cf := need[service.CopierFrom](h)
	const (
		file    = "servicetest-roundtrip.txt"
		dir     = "servicetest-dir"
		content = "round trip\n"
	)
	// Files are copied to and from a container whatever its state.
	id := h.create(h.sleeper("c"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []tarEntry{
		{name: file, typeflag: tar.TypeReg, mode: 0o640, data: content},
		{name: dir + "/", typeflag: tar.TypeDir, mode: 0o755},
		{name: dir + "/inner.txt", typeflag: tar.TypeReg, mode: 0o644, data: "inner\n"},
	} {
		h.noErr(tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: e.mode, Size: int64(len(e.data)), ModTime: time.Unix(1700000000, 0)}), "tar header")
		_, err := tw.Write([]byte(e.data))
		h.noErr(err, "tar write")
	}
	h.noErr(tw.Close(), "tar close")
	h.noErr(c.CopyTo(h.ctx(), id, "/", &buf), "CopyTo")

	rc, err := cf.CopyFrom(h.ctx(), id, "/"+file)
	h.noErr(err, "CopyFrom of a file")
	got := h.readTar(rc, "CopyFrom of a file")
	if want := []tarEntry{{name: file, typeflag: tar.TypeReg, mode: 0o640, data: content}}; !slices.Equal(got, want) {
		h.t.Errorf("CopyFrom(%q) = %+v, want %+v", "/"+file, got, want)
	}

	rc, err = cf.CopyFrom(h.ctx(), id, "/"+dir)
	h.noErr(err, "CopyFrom of a directory")
	got = h.readTar(rc, "CopyFrom of a directory")
	want := []tarEntry{
		{name: dir + "/", typeflag: tar.TypeDir, mode: 0o755},
		{name: dir + "/inner.txt", typeflag: tar.TypeReg, mode: 0o644, data: "inner\n"},
	}
	if !slices.Equal(got, want) {
		h.t.Errorf("CopyFrom(%q) = %+v, want %+v", "/"+dir, got, want)
	}

	missing := "/servicetest-absent"
	rc, err = cf.CopyFrom(h.ctx(), id, missing)
	if err == nil {
		rc.Close()
	}
	h.wantErr(err, service.ErrNotFound, "CopyFrom of a missing path", missing)
}

func testTop(h *harness) {
	tp := need[service.Toper](h)
	id := h.create(h.sleeper("c"))
	_, _, err := tp.Top(h.ctx(), id, nil)
	h.wantErr(err, service.ErrConflict, "Top of a created container")

	h.start(id)
	titles, procs, err := tp.Top(h.ctx(), id, nil)
	h.noErr(err, "Top")
	if len(titles) == 0 || len(procs) == 0 {
		h.t.Fatalf("Top = %q, %q; want titles and at least one process", titles, procs)
	}
	for _, p := range procs {
		if len(p) != len(titles) {
			h.t.Errorf("Top: process %q has %d fields, want one per title %q", p, len(p), titles)
		}
	}
	if !slices.ContainsFunc(procs, func(p []string) bool { return len(p) > 0 && strings.HasPrefix(p[len(p)-1], "sleep") }) {
		h.t.Errorf("Top = %q: no process runs the container's sleep", procs)
	}

	h.stop(id)
	_, _, err = tp.Top(h.ctx(), id, nil)
	h.wantErr(err, service.ErrConflict, "Top of a stopped container")
}

// imageRef returns the reference of the subtest's image s: its name,
// lowercased as image references must be, tagged 1.
func (h *harness) imageRef(s string) string {
	return strings.ToLower(h.name(s)) + ":1"
}

// contextTar returns a tar stream of a build context holding files (name →
// content), the same bytes for the same files.
func (h *harness) contextTar(files map[string]string) io.Reader {
	h.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name])), ModTime: time.Unix(1700000000, 0)}
		h.noErr(tw.WriteHeader(hdr), "tar header")
		_, err := io.WriteString(tw, files[name])
		h.noErr(err, "tar write")
	}
	h.noErr(tw.Close(), "tar close")
	return &buf
}

// build builds an image from files whose tags are removed when the subtest
// ends, and returns its ID.
func (h *harness) build(spec service.BuildSpec, files map[string]string, progress io.Writer) string {
	h.t.Helper()
	bd := need[service.Builder](h)
	rm := need[service.ImageRemover](h) // to remove what the subtest builds
	for _, tag := range spec.Tags {
		h.cleanup("image "+tag, func(ctx context.Context) error { return rm.RemoveImage(ctx, tag, true) })
	}
	id, err := bd.BuildImage(h.ctx(), spec, h.contextTar(files), progress)
	h.noErr(err, fmt.Sprintf("BuildImage(%q)", spec.Tags))
	if id == "" {
		h.t.Fatalf("BuildImage(%q) returned an empty ID", spec.Tags)
	}
	return id
}

// inspectImage returns a local image.
func (h *harness) inspectImage(ref string) service.Image {
	h.t.Helper()
	img, err := h.b.InspectImage(h.ctx(), ref)
	h.noErr(err, fmt.Sprintf("InspectImage(%q)", ref))
	return img
}

func testBuildImage(h *harness) {
	tag := h.imageRef("img")
	files := map[string]string{
		"Dockerfile": "FROM " + h.cfg.Image + "\nLABEL x=y\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "hello\n",
	}
	spec := service.BuildSpec{Tags: []string{tag}, Dockerfile: "Dockerfile", Labels: h.labels()}
	var progress bytes.Buffer
	id := h.build(spec, files, &progress)
	if out := progress.String(); out == "" || !strings.HasSuffix(out, "\n") {
		h.t.Errorf("BuildImage wrote %q to progress, want lines", out)
	}
	img := h.inspectImage(tag)
	if img.ID != id {
		h.t.Errorf("InspectImage(%q).ID = %q, want the built %q", tag, img.ID, id)
	}
	if img.Labels["x"] != "y" || !hasLabels(img.Labels, h.labels()) {
		h.t.Errorf("InspectImage(%q).Labels = %v, want x=y (LABEL) and %v (spec)", tag, img.Labels, h.labels())
	}

	// The same context and spec give the same image; a changed file gives
	// another.
	if again := h.build(spec, files, nil); again != id {
		h.t.Errorf("building the same context again gave %q, want %q", again, id)
	}
	files["hello.txt"] = "changed\n"
	changed := h.imageRef("changed")
	spec.Tags = []string{changed}
	if other := h.build(spec, files, nil); other == id {
		h.t.Errorf("building with a changed file gave the same ID %q", id)
	}
	if img := h.inspectImage(tag); img.ID != id {
		h.t.Errorf("building another image moved %q to %q", tag, img.ID)
	}
}

func testBuildImageFailure(h *harness) {
	bd := need[service.Builder](h)
	tag := h.imageRef("img")
	files := map[string]string{"Dockerfile": "FROM " + h.cfg.Image + "\nRUN false\n"}
	h.cleanup("image "+tag, func(ctx context.Context) error {
		if rm, ok := h.b.(service.ImageRemover); ok {
			return rm.RemoveImage(ctx, tag, true)
		}
		return nil
	})
	_, err := bd.BuildImage(h.ctx(), service.BuildSpec{Tags: []string{tag}, Labels: h.labels()}, h.contextTar(files), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "RUN false") {
		h.t.Errorf("BuildImage with a failing RUN: %v, want an error quoting the step", err)
	}
	_, err = h.b.InspectImage(h.ctx(), tag)
	h.wantErr(err, service.ErrNotFound, "InspectImage of a failed build's tag", tag)

	_, err = bd.BuildImage(h.ctx(), service.BuildSpec{Tags: []string{tag}, Dockerfile: "absent/Dockerfile"}, h.contextTar(files), io.Discard)
	if err == nil {
		h.t.Error("BuildImage with no such Dockerfile: no error")
	}
}

func testRemoveImage(h *harness) {
	rm := need[service.ImageRemover](h)
	missing := "berth-servicetest/absent:" + strings.ToLower(h.cfg.Prefix)
	h.wantErr(rm.RemoveImage(h.ctx(), missing, false), service.ErrNotFound, fmt.Sprintf("RemoveImage(%q)", missing), missing)

	// Removing one of two tags untags.
	a, b := h.imageRef("a"), h.imageRef("b")
	files := map[string]string{"Dockerfile": "FROM " + h.cfg.Image + "\nLABEL x=y\n"}
	id := h.build(service.BuildSpec{Tags: []string{a, b}, Labels: h.labels()}, files, nil)
	h.noErr(rm.RemoveImage(h.ctx(), a, false), fmt.Sprintf("RemoveImage(%q)", a))
	_, err := h.b.InspectImage(h.ctx(), a)
	h.wantErr(err, service.ErrNotFound, "InspectImage of a removed tag", a)
	if img := h.inspectImage(b); img.ID != id {
		h.t.Errorf("InspectImage(%q).ID = %q after removing %q, want %q", b, img.ID, a, id)
	}

	// A container holds the image: removing it, by its last tag or by ID,
	// needs force. With force, the tag goes (and the image too, as the
	// container is not running) and the container stays.
	spec := h.spec("c", "true")
	spec.Image = b
	cid := h.create(spec)
	h.wantErr(rm.RemoveImage(h.ctx(), b, false), service.ErrConflict, fmt.Sprintf("RemoveImage(%q) of an image in use", b), b)
	h.wantErr(rm.RemoveImage(h.ctx(), id, false), service.ErrConflict, fmt.Sprintf("RemoveImage(%q) of an image in use", id), id)
	if img := h.inspectImage(b); img.ID != id {
		h.t.Errorf("InspectImage(%q).ID = %q after a refused removal, want %q", b, img.ID, id)
	}
	h.noErr(rm.RemoveImage(h.ctx(), b, true), fmt.Sprintf("RemoveImage(%q, force)", b))
	_, err = h.b.InspectImage(h.ctx(), b)
	h.wantErr(err, service.ErrNotFound, "InspectImage of a tag removed with force", b)
	_, err = h.b.InspectImage(h.ctx(), id)
	h.wantErr(err, service.ErrNotFound, "InspectImage of an image whose last tag was removed with force", id)
	h.inspect(cid)
	h.wantErr(rm.RemoveImage(h.ctx(), id, false), service.ErrNotFound, "RemoveImage of a removed image", id)
}

func testStats(h *harness) {
	sr := need[service.StatsReader](h)
	_, err := sr.Stats(h.ctx(), h.name("nosuch"))
	h.wantErr(err, service.ErrNotFound, "Stats of a missing container")
	id := h.create(h.sleeper("c"))
	st, err := sr.Stats(h.ctx(), id)
	h.noErr(err, "Stats of a created container")
	if st.CPU != 0 || st.Memory != 0 || st.Pids != 0 {
		h.t.Errorf("Stats of a created container = %+v, want zero figures", st)
	}
	h.start(id)
	st, err = sr.Stats(h.ctx(), id)
	h.noErr(err, "Stats")
	if !h.cfg.Simulated && (st.Pids == 0 || st.Memory == 0 || st.MemoryLimit == 0 || st.Read.IsZero()) {
		h.t.Errorf("Stats of a running container = %+v, want processes, memory, a limit and a time", st)
	}
	h.stop(id)
}

func testResize(h *harness) {
	rz := need[service.Resizer](h)
	l := need[service.Logger](h)
	spec := h.spec("c", "sh", "-c", "while true; do stty size; sleep 0.1; done")
	spec.Tty = true
	id := h.create(spec)
	err := rz.ResizeTTY(h.ctx(), id, service.TerminalSize{Rows: 30, Cols: 100})
	h.wantErr(err, service.ErrConflict, "ResizeTTY of a created container")
	h.start(id)
	h.noErr(rz.ResizeTTY(h.ctx(), id, service.TerminalSize{Rows: 30, Cols: 100}), "ResizeTTY")
	if h.cfg.Simulated {
		h.stop(id)
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	for {
		out, _ := h.logs(l, id, service.LogOptions{Stdout: true, Stderr: true})
		if strings.Contains(out, "30 100") {
			break
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("after ResizeTTY 30x100, stty size printed:\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	h.stop(id)
}

func testPullPush(h *harness) {
	tr := need[service.ImageTransfer](h)
	rm := need[service.ImageRemover](h)
	if h.cfg.Registry == "" {
		h.t.Skip("no registry (Config.Registry)")
	}
	ref := h.cfg.Registry + "/" + h.imageRef("img")
	built := h.build(service.BuildSpec{Tags: []string{ref}, Dockerfile: "Dockerfile", Labels: h.labels()},
		map[string]string{"Dockerfile": "FROM " + h.cfg.Image + "\nLABEL pushed=yes\n"}, nil)
	var progress bytes.Buffer
	h.noErr(tr.PushImage(h.ctx(), ref, &progress), fmt.Sprintf("PushImage(%q)", ref))
	err := tr.PushImage(h.ctx(), h.cfg.Registry+"/"+h.imageRef("nosuch"), nil)
	h.wantErr(err, service.ErrNotFound, "PushImage of a missing local image")

	h.noErr(rm.RemoveImage(h.ctx(), ref, true), fmt.Sprintf("RemoveImage(%q)", ref))
	if _, err := h.b.InspectImage(h.ctx(), ref); err == nil {
		h.t.Fatalf("%s is still there after RemoveImage", ref)
	}
	h.noErr(tr.PullImage(h.ctx(), ref, "", nil), fmt.Sprintf("PullImage(%q)", ref))
	img := h.inspectImage(ref)
	if img.Labels["pushed"] != "yes" {
		h.t.Errorf("pulled %s has labels %v, want pushed=yes (from the image %s pushed)", ref, img.Labels, built)
	}
	err = tr.PullImage(h.ctx(), h.cfg.Registry+"/"+h.imageRef("nosuch"), "", nil)
	h.wantErr(err, service.ErrNotFound, "PullImage of an image the registry does not have")
}
