package reconcile

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// newRunning makes and starts a container of project p, service svc.
func newRunning(t *testing.T, f *servicetest.Fake, name, svc, image string, extra map[string]string) service.Container {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{service.LabelProject: "p", service.LabelService: svc, service.LabelContainerNumber: "1"}
	for k, v := range extra {
		labels[k] = v
	}
	id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: name, Image: image, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, err := f.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommitPlan(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("busybox:latest", "sha256:"+strings.Repeat("b", 64))
	c := newRunning(t, f, "p-web-1", "web", "busybox:latest", nil)
	opts := service.CommitOptions{Reference: "snap:v1", Comment: "m", Pause: true, Changes: []string{"ENV A=1"}}
	plan, err := Commit(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.String(), "#1 commit container p-web-1 as snap:v1\n"; got != want {
		t.Errorf("plan = %q, want %q", got, want)
	}
	opts.Changes[0] = "changed after" // the plan holds its own copy
	if plan.Steps[0].Commit.Changes[0] != "ENV A=1" {
		t.Error("the plan shares the caller's changes")
	}
	// a plan that is not applied (--dry-run) makes nothing
	if _, err := f.InspectImage(context.Background(), "snap:v1"); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("image before Apply: %v", err)
	}
	if err := Apply(context.Background(), f, plan, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	img, err := f.InspectImage(context.Background(), "snap:v1")
	if err != nil {
		t.Fatal(err)
	}
	if plan.Steps[0].Made != img.ID {
		t.Errorf("step made %q, the image is %q", plan.Steps[0].Made, img.ID)
	}
	if img.Labels[service.LabelService] != "web" {
		t.Errorf("image labels %v, want the container's", img.Labels)
	}
	if !slices.ContainsFunc(f.Calls(), func(c servicetest.Call) bool { return c.Op == "CommitContainer" && c.Detail == "snap:v1" }) {
		t.Errorf("calls %v: no commit", f.Calls())
	}
}

func TestCommitUnsupported(t *testing.T) {
	b := struct{ service.Backend }{servicetest.NewFake()}
	plan, err := Commit(service.Container{ID: "x", Name: "p-web-1"}, service.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = Apply(context.Background(), b, plan, ApplyOptions{})
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "p-web-1") {
		t.Errorf("Apply = %v, want ErrUnsupported naming the container", err)
	}
}

func TestCommitBadInput(t *testing.T) {
	c := service.Container{ID: "x", Name: "p-web-1"}
	for _, tt := range []struct {
		opts service.CommitOptions
		want string
	}{
		{service.CommitOptions{Reference: "Bad Ref"}, "invalid reference format"},
		{service.CommitOptions{Reference: "app@sha256:" + strings.Repeat("a", 64)}, "refusing to create a tag with a digest reference"},
		{service.CommitOptions{Changes: []string{"ENV A=1", "RUN rm -rf /"}}, "run is not a valid change command"},
	} {
		if _, err := Commit(c, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Commit(%+v) = %v, want an error with %q", tt.opts, err, tt.want)
		}
	}
}

func TestExport(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("busybox:latest", "sha256:"+strings.Repeat("b", 64))
	c := newRunning(t, f, "p-web-1", "web", "busybox:latest", nil)
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	_ = tw.WriteHeader(&tar.Header{Name: "etc/motd", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("hi\n"))
	_ = tw.Close()
	if err := f.CopyTo(context.Background(), c.ID, "/", &in); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Export(context.Background(), f, c, &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
	}
	if want := []string{"etc/", "etc/motd"}; !slices.Equal(got, want) {
		t.Errorf("export entries %q, want %q", got, want)
	}
	if err := Export(context.Background(), struct{ service.Backend }{f}, c, io.Discard); !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("Export without an Exporter = %v, want ErrUnsupported", err)
	}
	if err := Export(context.Background(), f, service.Container{ID: "gone", Name: "gone"}, io.Discard); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Export of a missing container = %v, want ErrNotFound", err)
	}
}

func TestImageSummaries(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("docker.io/library/redis:7", "sha256:"+strings.Repeat("a", 64))
	f.AddImage("busybox:latest", "sha256:"+strings.Repeat("b", 64))
	web := newRunning(t, f, "p-web-1", "web", "busybox", nil)
	db := newRunning(t, f, "p-db-1", "db", "redis:7", nil)
	gone := service.Container{Name: "p-old-1", Image: "example.com/team/app:2", ImageID: "sha256:" + strings.Repeat("c", 64)}
	got, err := ImageSummaries(context.Background(), f, []service.Container{web, gone, db}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ container, repo, tag, id, platform string }{
		{"p-db-1", "redis", "7", "sha256:" + strings.Repeat("a", 64), "linux/amd64"},
		{"p-old-1", "example.com/team/app", "2", "sha256:" + strings.Repeat("c", 64), "unknown"},
		{"p-web-1", "busybox", "latest", "sha256:" + strings.Repeat("b", 64), "linux/amd64"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d summaries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Container != w.container || g.Repository != w.repo || g.Tag != w.tag || g.ID != w.id || g.Platform() != w.platform {
			t.Errorf("summary %d = %+v (platform %s), want %+v", i, g, g.Platform(), w)
		}
	}
	if got[0].Size == 0 || got[0].Created.IsZero() || got[1].Size != 0 {
		t.Errorf("sizes and times: %+v", got)
	}
	f.FailOnce("InspectImage", "", errors.New("boom"))
	if _, err := ImageSummaries(context.Background(), f, []service.Container{web}, 0); err == nil {
		t.Error("an inspect failure is not reported")
	}
}

func TestEventsSinceUntil(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("busybox:latest", "sha256:"+strings.Repeat("b", 64))
	start := time.Now()
	web := newRunning(t, f, "p-web-1", "web", "busybox:latest", map[string]string{"team": "a"})
	newRunning(t, f, "p-db-1", "db", "busybox:latest", nil)
	newRunning(t, f, "p-web-run-1", "web", "busybox:latest", map[string]string{service.LabelOneoff: service.OneoffTrue})
	if err := f.KillContainer(context.Background(), web.ID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	err := Events(ctx, f, "p", EventsOptions{Services: []string{"web"}, Since: start, Until: end}, func(e ProjectEvent) error {
		got = append(got, e.Action+" "+e.Service+" "+e.Attributes["name"]+" "+e.Attributes["image"]+" "+e.Attributes["team"]+" "+e.Attributes["exitCode"])
		if _, ok := e.Attributes[service.LabelProject]; ok {
			t.Errorf("compose's labels in the attributes: %v", e.Attributes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create web p-web-1 busybox:latest a ", "start web p-web-1 busybox:latest a ",
		"kill web p-web-1 busybox:latest a ", "die web p-web-1 busybox:latest a 137",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n%q\nwant\n%q", got, want)
	}
	if err := Events(ctx, struct{ service.Backend }{f}, "p", EventsOptions{Since: start}, nil); !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("--since without history = %v, want ErrUnsupported", err)
	}
}

func TestProjectEventString(t *testing.T) {
	e := ProjectEvent{Time: time.Date(2026, 12, 6, 9, 43, 34, 487894752, time.UTC), Action: "kill", Container: "0566a5",
		Attributes: map[string]string{"signal": "15", "name": "p-web-1", "image": "busybox"}}
	if got, want := e.String(), "2026-12-06 09:43:34.487894 container kill 0566a5 (image=busybox, name=p-web-1, signal=15)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.FixedZone("X", 3600))
	for _, tt := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"10m", now.Add(-10 * time.Minute), false},
		{"1h30m", now.Add(-90 * time.Minute), false},
		{"2026-12-06T09:43:40Z", time.Date(2026, 12, 6, 9, 43, 40, 0, time.UTC), false},
		{"2026-12-06T09:43:40.5+02:00", time.Date(2026, 12, 6, 7, 43, 40, 5e8, time.UTC), false},
		{"2026-12-06T09:43:40", time.Date(2026, 12, 6, 9, 43, 40, 0, now.Location()), false},
		{"2026-12-06T09:43", time.Date(2026, 12, 6, 9, 43, 0, 0, now.Location()), false},
		{"2026-12-06", time.Date(2026, 12, 6, 0, 0, 0, 0, now.Location()), false},
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.25", time.Unix(1700000000, 25e7), false},
		{"0", time.Unix(0, 0), false},
		{"garbage", time.Time{}, true},
		{"2026-13-45", time.Time{}, true},
		{"-5m", now.Add(5 * time.Minute), false},
	} {
		got, err := ParseTimestamp(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v (error: %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
	if _, err := ParseTimestamp("garbage", now); err == nil || err.Error() != `failed to parse value as time or duration: "garbage"` {
		t.Errorf("error = %v, want docker's words", err)
	}
}

// closing is an EventHistory whose stream ends at once: the error channel
// closed first, then the events one.
type closing struct{ service.Backend }

func (closing) EventsBetween(ctx context.Context, f service.Filter, since, until time.Time) (<-chan service.Event, <-chan error) {
	evs, errs := make(chan service.Event), make(chan error)
	close(errs)
	go func() {
		time.Sleep(10 * time.Millisecond)
		close(evs)
	}()
	return evs, errs
}

func TestEventsEndsWhenTheStreamEnds(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- Events(context.Background(), closing{servicetest.NewFake()}, "p", EventsOptions{Until: time.Now()}, func(ProjectEvent) error { return nil })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Events = %v, want the end of the stream", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Events did not return when the stream ended")
	}
}
