package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// The integration tests run against the engine the environment names. They
// touch only objects they create, named berthtest-<random>-... and labelled
// testLabel=<that prefix>, and remove them when done.

const (
	// testImage is the e2e harness's image: Debian's static busybox.
	testImage = "berth-test/busybox:latest"
	// testLabel marks every object the tests create.
	testLabel = "dev.berth.test"
	// engineTimeout bounds the ping of the engine and every cleanup.
	engineTimeout = 30 * time.Second
	// pollTimeout bounds waiting for a state (health, ...).
	pollTimeout = 60 * time.Second
)

// imageOnce makes the test image at most once per test binary.
var imageOnce = sync.OnceValue(func() error { return ensureImage(testImage) })

// engineBackend returns a backend on the engine, or skips the test when none
// answers (fails it under CI=true), and a prefix unique to the test.
func engineBackend(t *testing.T) (*Backend, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), engineTimeout)
	defer cancel()
	b, err := New(ctx)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker engine: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if err := imageOnce(); err != nil {
		t.Fatalf("test image %s: %v", testImage, err)
	}
	buf := make([]byte, 4)
	rand.Read(buf)
	return b, "berthtest-" + hex.EncodeToString(buf)
}

// cleanup registers f to run at the end of the test with a fresh context;
// it logs failures other than "not found".
func cleanup(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		defer cancel()
		if err := f(ctx); err != nil && !errors.Is(err, service.ErrNotFound) {
			t.Errorf("cleanup %s: %v", what, err)
		}
	})
}

// createContainer creates a container from spec (named prefix-name,
// labelled, from the test image unless set) and removes it at the end.
func createContainer(t *testing.T, b *Backend, prefix, name string, spec service.ContainerSpec) (string, service.ContainerSpec) {
	t.Helper()
	spec.Name = prefix + "-" + name
	if spec.Image == "" {
		spec.Image = testImage
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[testLabel] = prefix
	id, err := b.CreateContainer(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, "container "+spec.Name, func(ctx context.Context) error {
		return b.RemoveContainer(ctx, id, service.RemoveOptions{Force: true, Volumes: true})
	})
	return id, spec
}

// createNetwork creates a network named prefix-name and removes it at the
// end (after the containers, which were created later).
func createNetwork(t *testing.T, b *Backend, prefix, name string) (string, string) {
	t.Helper()
	full := prefix + "-" + name
	id, err := b.CreateNetwork(t.Context(), service.NetworkSpec{Name: full, Labels: map[string]string{testLabel: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, "network "+full, func(ctx context.Context) error { return b.RemoveNetwork(ctx, id) })
	return id, full
}

// waitFor polls cond until it returns true or pollTimeout passes.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, pollTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestIntegrationNetworksLifecycle(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	t.Logf("engine API %s", b.APIVersion())

	netA, nameA := createNetwork(t, b, prefix, "a")
	netB, nameB := createNetwork(t, b, prefix, "b")
	useInit := true
	id, spec := createContainer(t, b, prefix, "two-nets", service.ContainerSpec{
		Command: []string{"sleep", "300"},
		Init:    &useInit,
		Networks: []service.Endpoint{
			{Network: nameB, Aliases: []string{"bee"}},
			{Network: nameA, Aliases: []string{"ay"}, Priority: 10},
		},
		Ports: []service.PortBinding{{HostIP: "127.0.0.1", ContainerPort: 80}},
	})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.StartContainer(ctx, id); err != nil {
		t.Errorf("starting a running container: %v", err)
	}

	c, err := b.InspectContainer(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Name != spec.Name || c.State != service.StateRunning || c.StartedAt.IsZero() || c.Image != testImage {
		t.Errorf("inspect = %+v", c)
	}
	if c.Networks[nameA] != netA || c.Networks[nameB] != netB || len(c.Networks) != 2 {
		t.Errorf("networks = %v, want %s → %s and %s → %s", c.Networks, nameA, netA, nameB, netB)
	}
	if len(c.Ports) != 1 || c.Ports[0].HostIP != "127.0.0.1" || c.Ports[0].ContainerPort != 80 || c.Ports[0].HostPort == 0 {
		t.Errorf("ports = %+v", c.Ports)
	}
	for _, n := range []string{netA, netB} {
		nw, err := b.InspectNetwork(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(nw.Containers, id) || nw.Labels[testLabel] != prefix {
			t.Errorf("network %s = %+v", n, nw)
		}
	}
	// The aliases resolve on their networks.
	var out bytes.Buffer
	code, err := b.Exec(ctx, id, service.ExecSpec{Cmd: []string{"sh", "-c", "nslookup ay 127.0.0.11 && nslookup bee 127.0.0.11"}}, nil, &out, &out)
	if err != nil || code != 0 {
		t.Errorf("resolving the aliases: %d, %v: %s", code, err, out.String())
	}

	list, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{testLabel: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Name != spec.Name || len(list[0].Networks) != 2 || len(list[0].Ports) != 1 {
		t.Errorf("list = %+v", list)
	}

	if err := b.RemoveNetwork(ctx, netA); !errors.Is(err, service.ErrConflict) {
		t.Errorf("removing a network in use: %v, want ErrConflict", err)
	}
	if err := b.ConnectNetwork(ctx, netA, id, service.Endpoint{}); !errors.Is(err, service.ErrConflict) {
		t.Errorf("connecting again: %v, want ErrConflict", err)
	}
	if err := b.RemoveContainer(ctx, id, service.RemoveOptions{}); !errors.Is(err, service.ErrConflict) {
		t.Errorf("removing a running container: %v, want ErrConflict", err)
	}

	timeout := 500 * time.Millisecond
	start := time.Now()
	if err := b.StopContainer(ctx, id, &timeout); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stop with a 1s timeout took %v", d)
	}
	if err := b.StopContainer(ctx, id, &timeout); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	if err := b.KillContainer(ctx, id, ""); !errors.Is(err, service.ErrConflict) {
		t.Errorf("killing a stopped container: %v, want ErrConflict", err)
	}
	if list, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{testLabel: prefix}}); err != nil || len(list) != 0 {
		t.Errorf("running containers after stop: %+v, %v", list, err)
	}
	list, err = b.ListContainers(ctx, service.Filter{All: true, Labels: map[string]string{testLabel: prefix}})
	if err != nil || len(list) != 1 || list[0].State != service.StateExited {
		t.Errorf("all containers after stop: %+v, %v", list, err)
	}

	if err := b.DisconnectNetwork(ctx, netB, id, false); err != nil {
		t.Errorf("disconnect: %v", err)
	}
	if err := b.RemoveContainer(ctx, id, service.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.InspectContainer(ctx, id); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("inspect removed container: %v, want ErrNotFound", err)
	}
	for _, n := range []string{netA, netB} {
		if err := b.RemoveNetwork(ctx, n); err != nil {
			t.Error(err)
		}
	}
	nets, err := b.ListNetworks(ctx, service.Filter{Labels: map[string]string{testLabel: prefix}})
	if err != nil || len(nets) != 0 {
		t.Errorf("networks left: %+v, %v", nets, err)
	}
}

func TestIntegrationHealthcheck(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	id, _ := createContainer(t, b, prefix, "healthy", service.ContainerSpec{
		Command:     []string{"sleep", "300"},
		Healthcheck: &service.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 3},
		StopSignal:  "SIGKILL",
	})
	evs, errc := b.Events(ctx, service.Filter{Labels: map[string]string{testLabel: prefix}})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	filter := service.Filter{Labels: map[string]string{testLabel: prefix}}
	waitFor(t, "healthy in the list", func() (bool, error) {
		list, err := b.ListContainers(ctx, filter)
		if err != nil || len(list) != 1 {
			return false, err
		}
		return list[0].Health == service.HealthHealthy, nil
	})
	c, err := b.InspectContainer(ctx, id)
	if err != nil || c.Health != service.HealthHealthy {
		t.Errorf("inspect: health %q, %v", c.Health, err)
	}
	if !strings.HasSuffix(c.Status, "(healthy)") {
		t.Errorf("status = %q", c.Status)
	}
	timeout := 10 * time.Second
	if err := b.StopContainer(ctx, id, &timeout); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for ev := range evs {
		if ev.ContainerID != id {
			t.Errorf("event of another container: %+v", ev)
		}
		actions = append(actions, ev.Action)
		if ev.Action == "die" {
			break
		}
	}
	if !slices.Contains(actions, "start") || !slices.Contains(actions, "health_status: healthy") {
		t.Errorf("events = %q, want start, health_status: healthy and die", actions)
	}
	select {
	case err := <-errc:
		t.Errorf("events error: %v", err)
	default:
	}
}

func TestIntegrationRunWaitLogsEvents(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	filter := service.Filter{Labels: map[string]string{testLabel: prefix}}
	ectx, stop := context.WithCancel(ctx)
	evs, errc := b.Events(ectx, filter)

	id, spec := createContainer(t, b, prefix, "echo", service.ContainerSpec{
		Command: []string{"sh", "-c", "echo hello; echo oops >&2; exit 7"},
	})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	code, err := b.WaitContainer(ctx, id)
	if err != nil || code != 7 {
		t.Fatalf("wait = %d, %v; want 7", code, err)
	}

	var stdout, stderr bytes.Buffer
	if err := b.Logs(ctx, id, service.LogOptions{}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "hello\n" || stderr.String() != "oops\n" {
		t.Errorf("logs: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	stdout.Reset()
	if err := b.Logs(ctx, id, service.LogOptions{Follow: true, Stdout: true}, &stdout, io.Discard); err != nil || stdout.String() != "hello\n" {
		t.Errorf("logs -f of a stopped container: %q, %v", stdout.String(), err)
	}

	c, err := b.InspectContainer(ctx, id)
	if err != nil || c.State != service.StateExited || c.ExitCode != 7 || c.FinishedAt.IsZero() || !strings.HasPrefix(c.Status, "Exited (7)") {
		t.Errorf("inspect = %+v, %v", c, err)
	}
	list, err := b.ListContainers(ctx, service.Filter{All: true, Labels: filter.Labels})
	if err != nil || len(list) != 1 || list[0].ExitCode != 7 {
		t.Errorf("list = %+v, %v", list, err)
	}

	var got []service.Event
	for ev := range evs {
		got = append(got, ev)
		if ev.Action == "die" {
			break
		}
	}
	stop()
	for range evs {
	}
	if err, ok := <-errc; ok {
		t.Errorf("events error after cancel: %v", err)
	}
	var actions []string
	for _, ev := range got {
		actions = append(actions, ev.Action)
	}
	if !slices.Contains(actions, "start") {
		t.Errorf("events = %q, want start and die", actions)
	}
	die := got[len(got)-1]
	if die.Action != "die" || die.ExitCode != 7 || die.ContainerName != spec.Name || die.Labels[testLabel] != prefix || die.Time.IsZero() {
		t.Errorf("die event = %+v", die)
	}

	if _, err := b.WaitContainer(ctx, prefix+"-missing"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("wait for a missing container: %v, want ErrNotFound", err)
	}
}

func TestIntegrationAttach(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	id, _ := createContainer(t, b, prefix, "cat", service.ContainerSpec{
		Command:   []string{"cat"},
		OpenStdin: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	const input = "hello through stdin\nsecond line\n"
	var stdout, stderr bytes.Buffer
	wait, err := b.Attach(ctx, id, strings.NewReader(input), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != input || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want %q", stdout.String(), stderr.String(), input)
	}
	code, err := b.WaitContainer(ctx, id)
	if err != nil || code != 0 {
		t.Errorf("wait = %d, %v; want 0", code, err)
	}

	// A TTY container's output is not multiplexed.
	tid, _ := createContainer(t, b, prefix, "tty", service.ContainerSpec{
		Command: []string{"echo", "on a tty"},
		Tty:     true, AttachStdout: true, AttachStderr: true,
	})
	stdout.Reset()
	wait, err = b.Attach(ctx, tid, nil, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StartContainer(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "on a tty\r\n" {
		t.Errorf("tty stdout %q", stdout.String())
	}
}

func TestIntegrationExecAndCopy(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	hostDir := filepath.Join(t.TempDir(), "made-by-the-engine")
	id, _ := createContainer(t, b, prefix, "exec", service.ContainerSpec{
		Command:    []string{"sleep", "300"},
		StopSignal: "SIGKILL",
		Mounts: []service.Mount{
			{Type: service.MountBind, Source: hostDir, Target: "/host", CreateHostPath: true},
			{Type: service.MountTmpfs, Target: "/scratch", TmpfsSize: 1 << 20},
			{Type: service.MountVolume, Target: "/anon"},
		},
	})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code, err := b.Exec(ctx, id, service.ExecSpec{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, nil, &stdout, &stderr)
	if err != nil || code != 3 {
		t.Errorf("exec = %d, %v; want 3", code, err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("exec: stdout %q, stderr %q", stdout.String(), stderr.String())
	}

	stdout.Reset()
	code, err = b.Exec(ctx, id, service.ExecSpec{Cmd: []string{"cat"}}, strings.NewReader("piped\n"), &stdout, &stderr)
	if err != nil || code != 0 || stdout.String() != "piped\n" {
		t.Errorf("exec cat = %d, %v, %q", code, err, stdout.String())
	}

	if code, err := b.Exec(ctx, id, service.ExecSpec{Cmd: []string{"touch", "/host/detached"}, Detach: true}, nil, nil, nil); err != nil || code != 0 {
		t.Errorf("detached exec = %d, %v", code, err)
	}
	waitFor(t, "the detached exec's file", func() (bool, error) {
		_, err := os.Stat(filepath.Join(hostDir, "detached"))
		return err == nil, nil
	})

	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	body := []byte("copied in\n")
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	// (The engine cannot copy into a tmpfs mount.)
	if err := b.CopyTo(ctx, id, "/tmp", &tarball); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code, err = b.Exec(ctx, id, service.ExecSpec{Cmd: []string{"sh", "-c", "cat /tmp/hello.txt && grep -q ' /scratch tmpfs' /proc/mounts && grep -q ' /anon ' /proc/mounts"}}, nil, &stdout, &stderr)
	if err != nil || code != 0 || stdout.String() != "copied in\n" {
		t.Errorf("after copy: %d, %v, %q, %q", code, err, stdout.String(), stderr.String())
	}
	if err := b.CopyTo(ctx, id, "/no/such/dir", bytes.NewReader(nil)); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("copy to a missing dir: %v, want ErrNotFound", err)
	}

	// Following the log of, and attaching to, a running container end
	// with ctx.
	lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = b.Logs(lctx, id, service.LogOptions{Follow: true}, io.Discard, io.Discard)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("logs -f until ctx ends: %v, want context.DeadlineExceeded", err)
	}
	actx, cancel := context.WithCancel(ctx)
	wait, err := b.Attach(actx, id, nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("attach until ctx ends: %v, want context.Canceled", err)
	}

	if err := b.PauseContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.PauseContainer(ctx, id); !errors.Is(err, service.ErrConflict) {
		t.Errorf("pausing twice: %v, want ErrConflict", err)
	}
	if err := b.UnpauseContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.KillContainer(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if code, err := b.WaitContainer(ctx, id); err != nil || code != 137 {
		t.Errorf("wait after kill = %d, %v; want 137", code, err)
	}
	if _, err := b.Exec(ctx, id, service.ExecSpec{Cmd: []string{"true"}}, nil, nil, nil); !errors.Is(err, service.ErrConflict) {
		t.Errorf("exec in a stopped container: %v, want ErrConflict", err)
	}
	d := time.Second
	if err := b.RestartContainer(ctx, id, &d); err != nil {
		t.Fatal(err)
	}
	if c, err := b.InspectContainer(ctx, id); err != nil || c.State != service.StateRunning {
		t.Errorf("after restart: %q, %v", c.State, err)
	}
}

// tarEntries reads a tar stream into "name" → content ("" for entries
// other than regular files; directories keep their trailing slash).
func tarEntries(t *testing.T, rc io.ReadCloser) map[string]string {
	t.Helper()
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = string(body)
	}
}

func TestIntegrationCopyFromAndTop(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	id, _ := createContainer(t, b, prefix, "top", service.ContainerSpec{
		Command:    []string{"sleep", "300"},
		StopSignal: "SIGKILL",
	})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "dir/", Mode: 0o755, Typeflag: tar.TypeDir})
	for name, body := range map[string]string{"dir/a.txt": "a\n", "hello.txt": "hello\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	if err := b.CopyTo(ctx, id, "/tmp", &tarball); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]map[string]string{
		"/tmp/hello.txt": {"hello.txt": "hello\n"},
		"/tmp/dir":       {"dir/": "", "dir/a.txt": "a\n"},
		"/tmp/dir/.":     {"./": "", "./a.txt": "a\n"},
	} {
		rc, err := b.CopyFrom(ctx, id, path)
		if err != nil {
			t.Fatalf("CopyFrom(%s): %v", path, err)
		}
		if got := tarEntries(t, rc); !reflect.DeepEqual(got, want) {
			t.Errorf("CopyFrom(%s) = %q, want %q", path, got, want)
		}
	}
	if _, err := b.CopyFrom(ctx, id, "/tmp/nope"); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), "/tmp/nope") {
		t.Errorf("CopyFrom of a missing path: %v, want ErrNotFound naming it", err)
	}

	titles, procs, err := b.Top(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(titles) == 0 || titles[len(titles)-1] != "CMD" || !slices.Contains(titles, "PID") {
		t.Errorf("Top titles = %q, want ps -ef's", titles)
	}
	if !slices.ContainsFunc(procs, func(p []string) bool { return len(p) == len(titles) && p[len(p)-1] == "sleep 300" }) {
		t.Errorf("Top processes = %q, want sleep 300", procs)
	}
	titles, procs, err = b.Top(ctx, id, []string{"-o", "pid,comm"})
	if err != nil || !slices.Equal(titles, []string{"PID", "COMMAND"}) || len(procs) == 0 || procs[0][1] != "sleep" {
		t.Errorf("Top -o pid,comm = %q, %q, %v", titles, procs, err)
	}

	if err := b.KillContainer(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Top(ctx, id, nil); !errors.Is(err, service.ErrConflict) {
		t.Errorf("Top of a stopped container: %v, want ErrConflict", err)
	}
	// Files can be copied from a stopped container.
	rc, err := b.CopyFrom(ctx, id, "/tmp/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := tarEntries(t, rc); got["hello.txt"] != "hello\n" {
		t.Errorf("CopyFrom a stopped container = %q", got)
	}
}

func TestIntegrationErrors(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	missing := prefix + "-missing"

	_, spec := createContainer(t, b, prefix, "dup", service.ContainerSpec{Command: []string{"true"}})
	if _, err := b.CreateContainer(ctx, spec); !errors.Is(err, service.ErrConflict) {
		t.Errorf("duplicate container name: %v, want ErrConflict", err)
	}
	_, other := createContainer(t, b, prefix, "other", service.ContainerSpec{Command: []string{"true"}})
	if err := b.RenameContainer(ctx, spec.Name, other.Name); !errors.Is(err, service.ErrConflict) {
		t.Errorf("rename to a taken name: %v, want ErrConflict", err)
	}
	bad := spec
	bad.Name, bad.Image = missing, prefix+"/no-such-image:1"
	_, err := b.CreateContainer(ctx, bad)
	if !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), `image "`+bad.Image+`" not found`) {
		t.Errorf("missing image: %v, want ErrNotFound naming the image", err)
	}

	if _, err := b.InspectContainer(ctx, missing); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("inspect: %v", err)
	}
	for name, err := range map[string]error{
		"start":  b.StartContainer(ctx, missing),
		"stop":   b.StopContainer(ctx, missing, nil),
		"remove": b.RemoveContainer(ctx, missing, service.RemoveOptions{Force: true}),
		"rename": b.RenameContainer(ctx, missing, missing+"-2"),
		"kill":   b.KillContainer(ctx, missing, ""),
	} {
		if !errors.Is(err, service.ErrNotFound) {
			t.Errorf("%s a missing container: %v, want ErrNotFound", name, err)
		}
	}
	if err := b.Logs(ctx, missing, service.LogOptions{}, io.Discard, io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("logs: %v", err)
	}
	if _, err := b.Attach(ctx, missing, nil, io.Discard, io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("attach: %v", err)
	}
	if _, err := b.Exec(ctx, missing, service.ExecSpec{Cmd: []string{"true"}}, nil, nil, nil); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("exec: %v", err)
	}
	if _, err := b.CopyFrom(ctx, missing, "/"); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("copy from: %v", err)
	}
	if _, _, err := b.Top(ctx, missing, nil); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("top: %v", err)
	}

	_, netName := createNetwork(t, b, prefix, "net")
	if _, err := b.CreateNetwork(ctx, service.NetworkSpec{Name: netName}); !errors.Is(err, service.ErrConflict) {
		t.Errorf("duplicate network name: %v, want ErrConflict", err)
	}
	if _, err := b.InspectNetwork(ctx, missing); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("inspect network: %v", err)
	}
	if err := b.RemoveNetwork(ctx, missing); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("remove network: %v", err)
	}
	if _, err := b.InspectVolume(ctx, missing); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("inspect volume: %v", err)
	}
	for _, force := range []bool{false, true} {
		if err := b.RemoveVolume(ctx, missing, force); !errors.Is(err, service.ErrNotFound) {
			t.Errorf("remove volume (force %v): %v", force, err)
		}
	}
	if _, err := b.InspectImage(ctx, prefix+"/no-such-image:1"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("inspect image: %v", err)
	}
	img, err := b.InspectImage(ctx, testImage)
	if err != nil || !strings.HasPrefix(img.ID, "sha256:") || !slices.Contains(img.RepoTags, testImage) {
		t.Errorf("inspect image = %+v, %v", img, err)
	}
}

func TestIntegrationVolumes(t *testing.T) {
	b, prefix := engineBackend(t)
	ctx := t.Context()
	name := prefix + "-data"
	spec := service.VolumeSpec{Name: name, Labels: map[string]string{testLabel: prefix, "k": "v"}}
	v, err := b.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, "volume "+name, func(ctx context.Context) error { return b.RemoveVolume(ctx, name, true) })
	if v.Name != name || v.Driver != "local" || v.Labels["k"] != "v" || v.Mountpoint == "" {
		t.Errorf("created = %+v", v)
	}
	if again, err := b.CreateVolume(ctx, spec); err != nil || again.Name != name {
		t.Errorf("creating again = %+v, %v", again, err)
	}
	list, err := b.ListVolumes(ctx, service.Filter{Labels: map[string]string{testLabel: prefix}})
	if err != nil || len(list) != 1 || list[0].Name != name {
		t.Errorf("list = %+v, %v", list, err)
	}
	if got, err := b.InspectVolume(ctx, name); err != nil || got.Labels[testLabel] != prefix {
		t.Errorf("inspect = %+v, %v", got, err)
	}

	id, _ := createContainer(t, b, prefix, "user", service.ContainerSpec{
		Command: []string{"true"},
		Mounts:  []service.Mount{{Type: service.MountVolume, Source: name, Target: "/data"}},
	})
	c, err := b.InspectContainer(ctx, id)
	if err != nil || len(c.Mounts) != 1 || c.Mounts[0].Name != name || c.Mounts[0].Type != service.MountVolume || c.Mounts[0].Destination != "/data" {
		t.Errorf("mounts = %+v, %v", c.Mounts, err)
	}
	if err := b.RemoveVolume(ctx, name, false); !errors.Is(err, service.ErrConflict) {
		t.Errorf("removing a volume in use: %v, want ErrConflict", err)
	}
	if err := b.RemoveContainer(ctx, id, service.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveVolume(ctx, name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.InspectVolume(ctx, name); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("inspect removed volume: %v, want ErrNotFound", err)
	}
}

// ensureImage imports ref, as the e2e harness does testImage, unless it is
// there: a root file system of Debian's static busybox with its applets.
func ensureImage(ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		return nil
	}
	rootfs, err := servicetest.BusyboxRootfs()
	if err != nil {
		return err
	}
	cmd, err := json.Marshal(servicetest.ImageCmd)
	if err != nil {
		return err
	}
	rc, err := c.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"}, ref, client.ImageImportOptions{
		Changes: []string{"ENV " + servicetest.ImageEnv, "CMD " + string(cmd)},
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	msg, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if bytes.Contains(msg, []byte(`"error"`)) {
		return errors.New(string(msg))
	}
	return nil
}
