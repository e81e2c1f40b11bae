package servicetest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

const busyboxID = "sha256:5f0ce3f1d6d1c2a8b8f5bb6c5d0d5d2e6f1b8a6e4c3d2b1a0f9e8d7c6b5a4f3e"

func newTestFake(t *testing.T) *Fake {
	t.Helper()
	f := NewFake()
	f.AddImage("busybox", busyboxID)
	return f
}

func TestFakeConformance(t *testing.T) {
	Run(t, func(t *testing.T) service.Backend { return newTestFake(t) }, Config{Image: "busybox", Prefix: "faketest", Simulated: true})
}

// clock is a settable clock for Fake.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustCreate(t *testing.T, b service.Backend, name string, mod ...func(*service.ContainerSpec)) string {
	t.Helper()
	spec := service.ContainerSpec{Name: name, Image: "busybox", Labels: map[string]string{service.LabelProject: "p"}}
	for _, m := range mod {
		m(&spec)
	}
	id, err := b.CreateContainer(t.Context(), spec)
	if err != nil {
		t.Fatalf("CreateContainer(%s): %v", name, err)
	}
	return id
}

func TestFakeFailOnce(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	boom := errors.New("boom")
	id := mustCreate(t, f, "web-1")
	mustCreate(t, f, "db-1")
	f.FailOnce("StartContainer", "web", boom)

	if err := f.StartContainer(ctx, "db-1"); err != nil {
		t.Fatalf("StartContainer(db-1) with a fault on web: %v", err)
	}
	if err := f.StartContainer(ctx, id); !errors.Is(err, boom) {
		t.Fatalf("StartContainer(web-1 by ID) = %v, want the injected fault (matched by name)", err)
	}
	if c, _ := f.Container("web-1"); c.State != service.StateCreated {
		t.Errorf("after an injected failure: State %q, want %q", c.State, service.StateCreated)
	}
	if err := f.StartContainer(ctx, "web-1"); err != nil {
		t.Fatalf("second StartContainer(web-1): %v, want the fault used up", err)
	}
}

func TestFakeFail(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	boom := errors.New("boom")
	id := mustCreate(t, f, "web-1")
	f.Fail("StopContainer", id[:12], boom)
	for i := range 3 {
		if err := f.StopContainer(ctx, "web-1", nil); !errors.Is(err, boom) {
			t.Fatalf("StopContainer #%d = %v, want the fault (matched by ID)", i, err)
		}
	}
	f.ClearFaults()
	if err := f.StopContainer(ctx, "web-1", nil); err != nil {
		t.Fatalf("StopContainer after ClearFaults: %v", err)
	}

	// An empty match fails calls with no object; faults beat the contract.
	f.Fail("ListNetworks", "", boom)
	if _, err := f.ListNetworks(ctx, service.Filter{}); !errors.Is(err, boom) {
		t.Errorf("ListNetworks = %v, want the fault", err)
	}
	f.Fail("InspectContainer", "ghost", boom)
	if _, err := f.InspectContainer(ctx, "ghost"); !errors.Is(err, boom) {
		t.Errorf("InspectContainer(ghost) = %v, want the fault before ErrNotFound", err)
	}
	// Faults are per operation.
	if err := f.StartContainer(ctx, "web-1"); err != nil {
		t.Errorf("StartContainer: %v", err)
	}
	f.FailOnce("Events", "", boom)
	evs, errs := f.Events(ctx, service.Filter{})
	if err := <-errs; !errors.Is(err, boom) {
		t.Errorf("Events error = %v, want the fault", err)
	}
	if _, ok := <-evs; ok {
		t.Error("Events: event channel open after a fault")
	}
}

func TestFakeFailPanics(t *testing.T) {
	for _, tt := range []struct {
		op  string
		err error
	}{{"StartContainr", errors.New("x")}, {"StartContainer", nil}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Fail(%q, %v) did not panic", tt.op, tt.err)
				}
			}()
			NewFake().Fail(tt.op, "", tt.err)
		}()
	}
}

func TestFakeCalls(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	netID, err := f.CreateNetwork(ctx, service.NetworkSpec{Name: "p_default"})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, f, "p-web-1", func(s *service.ContainerSpec) {
		s.Networks = []service.Endpoint{{Network: "p_default"}}
	})
	_ = f.StartContainer(ctx, id)
	_ = f.StartContainer(ctx, "p-web-1")
	_, _ = f.ListContainers(ctx, service.Filter{})
	_, _ = f.InspectContainer(ctx, id)
	_ = f.RenameContainer(ctx, id, "old-p-web-1")
	_ = f.RemoveContainer(ctx, "old-p-web-1", service.RemoveOptions{}) // refused: running
	_ = f.StopContainer(ctx, "old-p-web-1", nil)
	_ = f.KillContainer(ctx, "old-p-web-1", "SIGHUP") // refused: not running
	_ = f.RemoveContainer(ctx, id, service.RemoveOptions{})
	_ = f.RemoveNetwork(ctx, netID)
	_, _ = f.CreateVolume(ctx, service.VolumeSpec{Name: "p_data"})
	_ = f.RemoveVolume(ctx, "p_data", false)
	_ = f.StartContainer(ctx, "nosuch")

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.StartContainer(canceled, "nosuch"); !errors.Is(err, context.Canceled) {
		t.Errorf("StartContainer with a done context = %v, want context.Canceled", err)
	}

	want := []Call{
		{Op: "CreateNetwork", Object: "p_default"},
		{Op: "CreateContainer", Object: "p-web-1"},
		{Op: "StartContainer", Object: "p-web-1"},
		{Op: "StartContainer", Object: "p-web-1"},
		{Op: "RenameContainer", Object: "p-web-1", Detail: "old-p-web-1"},
		{Op: "RemoveContainer", Object: "old-p-web-1"},
		{Op: "StopContainer", Object: "old-p-web-1"},
		{Op: "KillContainer", Object: "old-p-web-1", Detail: "SIGHUP"},
		{Op: "RemoveContainer", Object: "old-p-web-1"},
		{Op: "RemoveNetwork", Object: "p_default"},
		{Op: "CreateVolume", Object: "p_data"},
		{Op: "RemoveVolume", Object: "p_data"},
		{Op: "StartContainer", Object: "nosuch"},
	}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls():\n%s\nwant:\n%s", callLines(got), callLines(want))
	}
	f.ResetCalls()
	if got := f.Calls(); len(got) != 0 {
		t.Errorf("Calls() after ResetCalls = %v", got)
	}
	if s := (Call{Op: "ConnectNetwork", Object: "n", Detail: "c"}).String(); s != "ConnectNetwork n c" {
		t.Errorf("Call.String() = %q", s)
	}
}

func callLines(cs []Call) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	return b.String()
}

func TestFakeDeterministic(t *testing.T) {
	run := func() ([]string, service.Container) {
		c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
		f := newTestFake(t)
		f.Now = c.now
		var ids []string
		for _, n := range []string{"a-1", "b-1", "c-1"} {
			ids = append(ids, mustCreate(t, f, n))
		}
		c.advance(90 * time.Second)
		if err := f.StartContainer(t.Context(), "b-1"); err != nil {
			t.Fatal(err)
		}
		c.advance(3 * time.Second)
		got, _ := f.Container("b-1")
		return ids, got
	}
	ids1, c1 := run()
	ids2, c2 := run()
	if !slices.Equal(ids1, ids2) {
		t.Errorf("IDs differ between runs: %v, %v", ids1, ids2)
	}
	for _, id := range ids1 {
		if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Errorf("ID %q is not 64 hex digits", id)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids1)))) != 3 {
		t.Errorf("IDs repeat: %v", ids1)
	}
	want := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if !c1.Created.Equal(want) || !c1.StartedAt.Equal(want.Add(90*time.Second)) || c1.Status != "Up 3 seconds" {
		t.Errorf("Created %v, StartedAt %v, Status %q; want %v, 90s later, %q", c1.Created, c1.StartedAt, c1.Status, want, "Up 3 seconds")
	}
	if c1.ID != c2.ID {
		t.Errorf("container IDs differ: %s, %s", c1.ID, c2.ID)
	}
}

func TestFakeStateMachine(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	id := mustCreate(t, f, "web-1", func(s *service.ContainerSpec) { s.StopSignal = "SIGINT" })
	if err := f.Exit(id, 1); !errors.Is(err, service.ErrConflict) {
		t.Errorf("Exit on a created container = %v, want ErrConflict", err)
	}
	_ = f.StartContainer(ctx, id)
	if err := f.PauseContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.PauseContainer(ctx, id); !errors.Is(err, service.ErrConflict) {
		t.Errorf("PauseContainer twice = %v, want ErrConflict", err)
	}
	if err := f.StartContainer(ctx, id); !errors.Is(err, service.ErrConflict) {
		t.Errorf("StartContainer on a paused container = %v, want ErrConflict", err)
	}
	if cs, _ := f.ListContainers(ctx, service.Filter{}); len(cs) != 1 || cs[0].State != service.StatePaused {
		t.Errorf("ListContainers without All = %+v, want the paused container", cs)
	}
	if err := f.UnpauseContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.KillContainer(ctx, id, "WINCH"); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Container(id); c.State != service.StateRunning {
		t.Errorf("after SIGWINCH: State %q, want running", c.State)
	}
	if err := f.KillContainer(ctx, id, "SIGBOGUS"); err == nil || errors.Is(err, service.ErrConflict) {
		t.Errorf("KillContainer with an unknown signal = %v, want a plain error", err)
	}
	_ = f.StopContainer(ctx, id, nil)
	if c, _ := f.Container(id); c.ExitCode != 130 || !strings.HasPrefix(c.Status, "Exited (130)") {
		t.Errorf("after stop with SIGINT: ExitCode %d, Status %q; want 130", c.ExitCode, c.Status)
	}
	_ = f.StartContainer(ctx, id)
	if err := f.KillContainer(ctx, id, "15"); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Container(id); c.ExitCode != 143 {
		t.Errorf("after kill 15: ExitCode %d, want 143", c.ExitCode)
	}
	if cs, _ := f.ListContainers(ctx, service.Filter{}); len(cs) != 0 {
		t.Errorf("ListContainers without All after exit = %+v, want none", cs)
	}
	if err := f.RenameContainer(ctx, id, "web-1"); !errors.Is(err, service.ErrConflict) {
		t.Errorf("RenameContainer to its own name = %v, want ErrConflict", err)
	}
	if err := f.RenameContainer(ctx, id, "bad name"); err == nil {
		t.Error("RenameContainer to an invalid name: no error")
	}
	none := mustCreate(t, f, "none-1", func(s *service.ContainerSpec) {
		s.Healthcheck = &service.Healthcheck{Test: []string{"NONE"}}
	})
	_ = f.StartContainer(ctx, none)
	if c, _ := f.Container(none); c.Health != "" {
		t.Errorf("healthcheck NONE: Health %q, want none", c.Health)
	}
	if err := f.SetHealth(none, service.HealthHealthy); !errors.Is(err, service.ErrConflict) {
		t.Errorf("SetHealth without a healthcheck = %v, want ErrConflict", err)
	}
	if _, err := f.CreateContainer(ctx, service.ContainerSpec{Name: "/x", Image: "busybox"}); err == nil {
		t.Error("CreateContainer with a one-letter name: no error")
	}
}

func TestFakeEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newTestFake(t)
	evs, errs := f.Events(ctx, service.Filter{Labels: map[string]string{service.LabelProject: "p"}})
	otherEvs, _ := f.Events(ctx, service.Filter{Labels: map[string]string{service.LabelProject: "q"}})

	id := mustCreate(t, f, "web-1", func(s *service.ContainerSpec) {
		s.Healthcheck = &service.Healthcheck{Test: []string{"CMD", "true"}}
	})
	_ = f.StartContainer(ctx, id)
	if err := f.SetHealth(id, service.HealthHealthy); err != nil {
		t.Fatal(err)
	}
	_ = f.SetHealth(id, service.HealthHealthy) // no change, no event
	_ = f.SetHealth(id, service.HealthUnhealthy)
	_ = f.RenameContainer(ctx, id, "web-2")
	_ = f.Exit(id, 2)
	_ = f.RestartContainer(ctx, id, nil)
	_ = f.RemoveContainer(ctx, id, service.RemoveOptions{Force: true})

	want := []string{"create", "start", "health_status: healthy", "health_status: unhealthy", "rename", "die 2",
		"start", "restart", "kill", "die 137", "destroy"}
	var got []string
	for len(got) < len(want) {
		select {
		case ev := <-evs:
			a := ev.Action
			if a == "die" {
				a = fmt.Sprintf("die %d", ev.ExitCode)
			}
			got = append(got, a)
			if ev.ContainerID != id || ev.Labels[service.LabelProject] != "p" {
				t.Errorf("event %q: ContainerID %s, Labels %v", ev.Action, ev.ContainerID, ev.Labels)
			}
		case err := <-errs:
			t.Fatalf("event error: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far %q, want %q", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	select {
	case ev := <-otherEvs:
		t.Errorf("a subscriber filtered on another project got %+v", ev)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err, ok := <-errs; ok && !errors.Is(err, context.Canceled) {
		t.Errorf("error after cancel: %v", err)
	}
	for range evs {
	}
}

func TestFakeSlowSubscriber(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	evs, _ := f.Events(ctx, service.Filter{})
	// Nobody reads while a thousand events are sent: the Fake must not block.
	for i := range 250 {
		id := mustCreate(t, f, fmt.Sprintf("c-%d", i))
		_ = f.StartContainer(ctx, id)
		_ = f.StopContainer(ctx, id, nil)
	}
	n := 0
	for n < 250*5 {
		select {
		case <-evs:
			n++
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d events, want %d", n, 250*5)
		}
	}
}

func TestFakeImages(t *testing.T) {
	ctx := t.Context()
	f := NewFake()
	f.AddImage("docker.io/library/busybox:latest", "sha256:aaa")
	f.AddImage("registry.local:5000/app", "sha256:bbb")
	for _, ref := range []string{"busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox", "sha256:aaa", "aaa"} {
		img, err := f.InspectImage(ctx, ref)
		if err != nil || img.ID != "sha256:aaa" || !slices.Equal(img.RepoTags, []string{"busybox:latest"}) {
			t.Errorf("InspectImage(%q) = %+v, %v", ref, img, err)
		}
	}
	if img, err := f.InspectImage(ctx, "registry.local:5000/app:latest"); err != nil || img.ID != "sha256:bbb" {
		t.Errorf("InspectImage(registry.local:5000/app:latest) = %+v, %v", img, err)
	}
	for _, ref := range []string{"busybox:1.36", "registry.local:5000", "", "nginx"} {
		if _, err := f.InspectImage(ctx, ref); !errors.Is(err, service.ErrNotFound) {
			t.Errorf("InspectImage(%q) = %v, want ErrNotFound", ref, err)
		}
	}
	// Retagging moves the reference.
	f.AddImage("busybox", "sha256:ccc")
	if img, _ := f.InspectImage(ctx, "busybox"); img.ID != "sha256:ccc" {
		t.Errorf("after retag: ID %s", img.ID)
	}
	if img, _ := f.InspectImage(ctx, "sha256:aaa"); len(img.RepoTags) != 0 {
		t.Errorf("old image keeps tags %v", img.RepoTags)
	}
	_, err := f.CreateContainer(ctx, service.ContainerSpec{Name: "x-1", Image: "nginx"})
	if !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), `"nginx"`) {
		t.Errorf("CreateContainer with an unknown image = %v, want ErrNotFound naming it", err)
	}
}

func TestFakeNetworksAndVolumes(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	if _, err := f.CreateNetwork(ctx, service.NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, f, "c-1", func(s *service.ContainerSpec) {
		s.Networks = []service.Endpoint{{Network: "n"}}
		s.Mounts = []service.Mount{
			{Type: service.MountVolume, Source: "named", Target: "/a"},
			{Type: service.MountVolume, Target: "/b"},
			{Type: service.MountBind, Source: "/host", Target: "/c"},
		}
	})
	if _, err := f.CreateContainer(ctx, service.ContainerSpec{Name: "c-2", Image: "busybox", Networks: []service.Endpoint{{Network: "nope"}}}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("CreateContainer on a missing network = %v, want ErrNotFound", err)
	}
	// A created container holds its network and volumes.
	if err := f.RemoveNetwork(ctx, "n"); !errors.Is(err, service.ErrConflict) || !strings.Contains(err.Error(), "c-1") {
		t.Errorf("RemoveNetwork with a created container attached = %v, want ErrConflict naming c-1", err)
	}
	vols, _ := f.ListVolumes(ctx, service.Filter{})
	var anon string
	for _, v := range vols {
		if _, ok := v.Labels[labelAnonymous]; ok {
			anon = v.Name
		}
	}
	if len(vols) != 2 || anon == "" {
		t.Fatalf("volumes %+v, want named and one anonymous", vols)
	}
	if err := f.RemoveVolume(ctx, "named", true); !errors.Is(err, service.ErrConflict) {
		t.Errorf("RemoveVolume(force) in use = %v, want ErrConflict as on the engine", err)
	}
	if _, err := f.CreateVolume(ctx, service.VolumeSpec{Name: "named", Driver: "other"}); !errors.Is(err, service.ErrConflict) {
		t.Errorf("CreateVolume with another driver = %v, want ErrConflict", err)
	}
	if err := f.RemoveVolume(ctx, "nosuch", true); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("RemoveVolume(force) of a missing volume = %v, want ErrNotFound", err)
	}
	if err := f.ConnectNetwork(ctx, "n", id, service.Endpoint{}); !errors.Is(err, service.ErrConflict) {
		t.Errorf("ConnectNetwork twice = %v, want ErrConflict", err)
	}
	if err := f.DisconnectNetwork(ctx, "n", "c-1", false); err != nil {
		t.Fatal(err)
	}
	if err := f.DisconnectNetwork(ctx, "n", "c-1", true); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("DisconnectNetwork of a detached container = %v, want ErrNotFound", err)
	}
	if err := f.ConnectNetwork(ctx, "n", "c-1", service.Endpoint{Aliases: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveContainer(ctx, id, service.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Network("n"); len(n.Containers) != 0 {
		t.Errorf("network still lists %v after the container's removal", n.Containers)
	}
	if err := f.RemoveNetwork(ctx, "n"); err != nil {
		t.Errorf("RemoveNetwork after the container's removal: %v", err)
	}
	if _, ok := f.Volume(anon); ok {
		t.Error("anonymous volume kept by RemoveContainer with Volumes")
	}
	if _, ok := f.Volume("named"); !ok {
		t.Error("named volume removed by RemoveContainer with Volumes")
	}
}

func TestFakeAutoRemove(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	id := mustCreate(t, f, "run-1", func(s *service.ContainerSpec) {
		s.AutoRemove = true
		s.Mounts = []service.Mount{{Type: service.MountVolume, Target: "/v"}}
	})
	_ = f.StartContainer(ctx, id)
	done := make(chan int, 1)
	go func() {
		code, _ := f.WaitContainer(ctx, id)
		done <- code
	}()
	waitForWaiter(t, f)
	if err := f.Exit(id, 5); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 5 {
		t.Errorf("WaitContainer = %d, want 5", code)
	}
	if _, ok := f.Container(id); ok {
		t.Error("AutoRemove container still there after exit")
	}
	if vs, _ := f.ListVolumes(ctx, service.Filter{}); len(vs) != 0 {
		t.Errorf("volumes %v left by an AutoRemove container", vs)
	}
}

// waitForWaiter returns once a WaitContainer call blocks in f.
func waitForWaiter(t *testing.T, f *Fake) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := f.waiting
		f.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no WaitContainer call blocked")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFakeSpecIsCopied(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	spec := service.ContainerSpec{Name: "c-1", Image: "busybox", Labels: map[string]string{"a": "1"}, Command: []string{}, Env: []string{"A=1"}}
	id, err := f.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Labels["a"] = "2"
	spec.Env[0] = "A=2"
	got, _ := f.ContainerSpec(id)
	if got.Labels["a"] != "1" || got.Env[0] != "A=1" || got.Command == nil || got.Entrypoint != nil {
		t.Errorf("stored spec %+v changed with the caller's or lost nil/empty", got)
	}
	got.Labels["a"] = "3"
	if c, _ := f.Container(id); c.Labels["a"] != "1" {
		t.Error("Container's labels share the Fake's map")
	}
}

func TestFakeLogs(t *testing.T) {
	ctx := t.Context()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := newTestFake(t)
	f.Now = c.now
	id := mustCreate(t, f, "c-1")
	for i := range 4 {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		if err := f.Log(id, stream, fmt.Sprintf("l%d", i)); err != nil {
			t.Fatal(err)
		}
		c.advance(time.Minute)
	}
	if err := f.Log(id, "stdin", "x"); err == nil {
		t.Error("Log on stdin: no error")
	}
	for _, tt := range []struct {
		opts    service.LogOptions
		out, er string
	}{
		{service.LogOptions{}, "l0\nl2\n", "l1\nl3\n"},
		{service.LogOptions{Tail: "2", Stdout: true, Stderr: true}, "l2\n", "l3\n"},
		{service.LogOptions{Tail: "0"}, "", ""},
		{service.LogOptions{Since: "2025-01-01T00:01:00Z"}, "l2\n", "l1\nl3\n"},
		{service.LogOptions{Since: "150s"}, "l2\n", "l3\n"},
		{service.LogOptions{Until: "1735689660"}, "l0\n", "l1\n"},
		{service.LogOptions{Timestamps: true, Stdout: true, Tail: "1"}, "2025-01-01T00:02:00Z l2\n", ""},
	} {
		var out, er bytes.Buffer
		if err := f.Logs(ctx, id, tt.opts, &out, &er); err != nil {
			t.Errorf("Logs(%+v): %v", tt.opts, err)
			continue
		}
		if out.String() != tt.out || er.String() != tt.er {
			t.Errorf("Logs(%+v) = %q, %q; want %q, %q", tt.opts, out.String(), er.String(), tt.out, tt.er)
		}
	}
	if err := f.Logs(ctx, id, service.LogOptions{Tail: "x"}, io.Discard, io.Discard); err == nil {
		t.Error("Logs with a bad tail: no error")
	}
	if err := f.Logs(ctx, "nosuch", service.LogOptions{}, io.Discard, io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Logs of a missing container = %v", err)
	}

	// Follow stops at ctx's end, and a TTY container has one stream.
	tty := mustCreate(t, f, "tty-1", func(s *service.ContainerSpec) { s.Tty = true })
	_ = f.StartContainer(ctx, tty)
	_ = f.Log(tty, "stderr", "to stdout")
	fctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	if err := f.Logs(fctx, tty, service.LogOptions{Follow: true}, &out, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Logs with Follow at ctx's end = %v, want DeadlineExceeded", err)
	}
	if out.String() != "to stdout\n" {
		t.Errorf("TTY logs on stdout = %q", out.String())
	}
}

func TestFakeExec(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	id := mustCreate(t, f, "c-1")
	if _, err := f.Exec(ctx, id, service.ExecSpec{Cmd: []string{"true"}}, nil, io.Discard, io.Discard); !errors.Is(err, service.ErrConflict) {
		t.Errorf("Exec in a created container = %v, want ErrConflict", err)
	}
	_ = f.StartContainer(ctx, id)
	if code, err := f.Exec(ctx, id, service.ExecSpec{Cmd: []string{"true"}}, nil, io.Discard, io.Discard); code != 0 || err != nil {
		t.Errorf("Exec without a hook = %d, %v", code, err)
	}
	f.ExecHook = func(_ context.Context, c service.Container, spec service.ExecSpec, _ io.Reader, stdout, _ io.Writer) (int, error) {
		fmt.Fprintf(stdout, "%s: %s\n", c.Name, strings.Join(spec.Cmd, " "))
		return 7, nil
	}
	var out bytes.Buffer
	if code, err := f.Exec(ctx, "c-1", service.ExecSpec{Cmd: []string{"pg_isready"}}, nil, &out, io.Discard); code != 7 || err != nil || out.String() != "c-1: pg_isready\n" {
		t.Errorf("Exec with a hook = %d, %v, %q", code, err, out.String())
	}
	if code, _ := f.Exec(ctx, "c-1", service.ExecSpec{Cmd: []string{"x"}, Detach: true}, nil, io.Discard, io.Discard); code != 0 {
		t.Errorf("detached Exec = %d, want 0", code)
	}
	if err := f.CopyTo(ctx, id, "/", strings.NewReader("not a tar stream, long enough to fill a header block? no")); err == nil {
		t.Error("CopyTo with a broken tar stream: no error")
	}
}

// tarOf returns a tar stream of entries: "name" → content for regular
// files, names ending in "/" for directories, "name -> target" for links.
func tarOf(t *testing.T, entries ...string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		name, body, _ := strings.Cut(e, "=")
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}
		switch {
		case strings.HasSuffix(name, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case strings.Contains(name, " -> "):
			h.Name, h.Linkname, _ = strings.Cut(name, " -> ")
			h.Typeflag = tar.TypeSymlink
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// listTar returns the entries of a tar stream as "name" or "name=content"
// for regular files.
func listTar(t *testing.T, rc io.ReadCloser) []string {
	t.Helper()
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeReg {
			out = append(out, h.Name+"="+string(body))
		} else {
			out = append(out, h.Name)
		}
	}
}

func TestFakeCopyFrom(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	id := mustCreate(t, f, "c-1")
	if err := f.CopyTo(ctx, id, "/srv", tarOf(t, "app/", "app/a.txt=a", "app/sub/b.txt=b", "top.txt=old", "link -> app")); err != nil {
		t.Fatal(err)
	}
	if err := f.CopyTo(ctx, "c-1", "/srv/", tarOf(t, "top.txt=new")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/srv/top.txt", []string{"top.txt=new"}},
		{"srv/app/a.txt", []string{"a.txt=a"}},
		{"/srv/app", []string{"app/", "app/a.txt=a", "app/sub/", "app/sub/b.txt=b"}},
		{"/srv/app/", []string{"app/", "app/a.txt=a", "app/sub/", "app/sub/b.txt=b"}},
		{"/srv/app/.", []string{"./", "./a.txt=a", "./sub/", "./sub/b.txt=b"}},
		{"/", []string{"/", "/srv/", "/srv/app/", "/srv/app/a.txt=a", "/srv/app/sub/", "/srv/app/sub/b.txt=b", "/srv/top.txt=new"}},
	} {
		rc, err := f.CopyFrom(ctx, id, tt.path)
		if err != nil {
			t.Errorf("CopyFrom(%q): %v", tt.path, err)
			continue
		}
		if got := listTar(t, rc); !slices.Equal(got, tt.want) {
			t.Errorf("CopyFrom(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, missing := range []string{"/srv/link", "/srv/nope", "/srv/top.txt/x"} {
		if _, err := f.CopyFrom(ctx, id, missing); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), missing) {
			t.Errorf("CopyFrom(%q) = %v, want ErrNotFound naming the path", missing, err)
		}
	}
	if err := f.CopyTo(ctx, id, "/srv", tarOf(t, "../etc/passwd=x")); err == nil || errors.Is(err, service.ErrNotFound) {
		t.Errorf("CopyTo with an entry outside the directory = %v, want an error", err)
	}
	if _, err := f.CopyFrom(ctx, id, "/etc/passwd"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("an entry outside the directory was kept: %v", err)
	}
	// Files go with their container.
	if err := f.RemoveContainer(ctx, id, service.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	id = mustCreate(t, f, "c-1")
	if _, err := f.CopyFrom(ctx, id, "/srv/top.txt"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("a new container has the files of a removed one: %v", err)
	}
	if got := callLines(f.Calls()); strings.Contains(got, "CopyFrom") {
		t.Errorf("CopyFrom recorded as a mutating call:\n%s", got)
	}
}

func TestFakeTop(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	id := mustCreate(t, f, "c-1", func(s *service.ContainerSpec) {
		s.Entrypoint, s.Command, s.User = []string{"tini", "--"}, []string{"sleep", "9"}, "app:app"
	})
	if _, _, err := f.Top(ctx, id, nil); !errors.Is(err, service.ErrConflict) {
		t.Errorf("Top of a created container = %v, want ErrConflict", err)
	}
	_ = f.StartContainer(ctx, id)
	_ = f.PauseContainer(ctx, id)
	titles, procs, err := f.Top(ctx, "c-1", []string{"aux"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(titles, topTitles) || len(procs) != 1 || len(procs[0]) != len(titles) {
		t.Fatalf("Top = %q, %q", titles, procs)
	}
	if p := procs[0]; p[0] != "app" || p[7] != "tini -- sleep 9" || p[1] == "" {
		t.Errorf("process = %q", p)
	}
	if _, _, err := f.Top(ctx, "c-2", nil); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Top of a missing container = %v, want ErrNotFound", err)
	}
}

func TestFakeWaitContext(t *testing.T) {
	f := newTestFake(t)
	id := mustCreate(t, f, "c-1")
	if code, err := f.WaitContainer(t.Context(), id); code != 0 || err != nil {
		t.Errorf("WaitContainer on a created container = %d, %v; want 0 at once", code, err)
	}
	_ = f.StartContainer(t.Context(), id)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.WaitContainer(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitContainer at ctx's end = %v, want DeadlineExceeded", err)
	}
}

// TestFakeConcurrent drives a Fake from many goroutines; run it with -race.
func TestFakeConcurrent(t *testing.T) {
	ctx := t.Context()
	f := newTestFake(t)
	if _, err := f.CreateNetwork(ctx, service.NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	evctx, cancel := context.WithCancel(ctx)
	evs, _ := f.Events(evctx, service.Filter{})
	go func() {
		for range evs {
		}
	}()
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				name := fmt.Sprintf("c-%d-%d", g, i)
				id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: name, Image: "busybox", Networks: []service.Endpoint{{Network: "n"}}})
				if err != nil {
					errc <- err
					return
				}
				waited := make(chan struct{})
				go func() {
					defer close(waited)
					_, _ = f.WaitContainer(ctx, id)
				}()
				for _, err := range []error{
					f.StartContainer(ctx, id),
					f.Log(id, "stdout", "hi"),
					f.StopContainer(ctx, id, nil),
				} {
					if err != nil {
						errc <- err
					}
				}
				<-waited
				_, _ = f.ListContainers(ctx, service.Filter{All: true})
				_ = f.Logs(ctx, id, service.LogOptions{}, io.Discard, io.Discard)
				if err := f.RemoveContainer(ctx, id, service.RemoveOptions{}); err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if err := f.RemoveNetwork(ctx, "n"); err != nil {
		t.Errorf("RemoveNetwork after every container is gone: %v", err)
	}
	if n := len(f.Calls()); n != 2+16*20*4 { // with CreateNetwork and RemoveNetwork
		t.Errorf("%d calls recorded, want %d", n, 2+16*20*4)
	}
}
