package logs

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// sink collects each container's output under its name.
type sink struct {
	mu  sync.Mutex
	out map[string]*bytes.Buffer
}

func (s *sink) writer(c service.Container) io.WriteCloser {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		s.out = map[string]*bytes.Buffer{}
	}
	if s.out[c.Name] == nil {
		s.out[c.Name] = &bytes.Buffer{}
	}
	return nopCloser{&lockedWriter{mu: &s.mu, w: s.out[c.Name]}}
}

func (s *sink) text(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out[name] == nil {
		return ""
	}
	return s.out[name].String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// project makes p-web-1, p-web-2 (running) and p-db-1 (stopped) and a
// one-off p-web-run-x, each with a log line, and another project's q-web-1.
func project(t *testing.T) *servicetest.Fake {
	t.Helper()
	ctx := context.Background()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	for _, c := range []struct {
		name, project, svc, num, oneoff string
		run                             bool
	}{
		{"p-web-1", "p", "web", "1", "False", true},
		{"p-web-2", "p", "web", "2", "False", true},
		{"p-db-1", "p", "db", "1", "False", false},
		{"p-web-run-x", "p", "web", "1", "True", false},
		{"q-web-1", "q", "web", "1", "False", true},
	} {
		labels := map[string]string{service.LabelProject: c.project, service.LabelService: c.svc,
			service.LabelContainerNumber: c.num, service.LabelOneoff: c.oneoff}
		id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: c.name, Image: "busybox", Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		if c.run {
			if err := f.StartContainer(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Log(c.name, "stdout", "hello from "+c.name); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func names(cs []service.Container) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

func TestContainers(t *testing.T) {
	f := project(t)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"all, one-offs and stopped too", Options{Project: "p"}, "p-db-1,p-web-1,p-web-2,p-web-run-x"},
		{"a service", Options{Project: "p", Services: []string{"db"}}, "p-db-1"},
		{"a replica", Options{Project: "p", Services: []string{"web"}, Index: 2}, "p-web-2"},
		{"no such replica", Options{Project: "p", Index: 3}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := Containers(context.Background(), f, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(cs); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainersListError(t *testing.T) {
	f := project(t)
	f.Fail("ListContainers", "", context.DeadlineExceeded)
	if _, err := Containers(context.Background(), f, Options{Project: "p"}); err == nil || !strings.Contains(err.Error(), "project p") {
		t.Fatalf("err = %v, want one naming the project", err)
	}
}

// Without Follow, every selected container's output is read once, with the
// options given (tail).
func TestFollowOnce(t *testing.T) {
	f := project(t)
	ctx := context.Background()
	if err := f.Log("p-web-1", "stderr", "second line"); err != nil {
		t.Fatal(err)
	}
	o := Options{Project: "p", Services: []string{"web"}, Log: service.LogOptions{Tail: "1"}}
	cs, err := Containers(ctx, f, o)
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, f, cs, o, s.writer) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow without Follow did not return")
	}
	if got := s.text("p-web-1"); got != "second line\n" {
		t.Errorf("p-web-1: %q, want the last line only (tail 1), stderr included", got)
	}
	if got := s.text("p-web-2"); got != "hello from p-web-2\n" {
		t.Errorf("p-web-2: %q", got)
	}
	if got := s.text("p-db-1"); got != "" {
		t.Errorf("p-db-1 not selected, printed %q", got)
	}
}

// With Follow, new lines are printed, a container that starts later is
// followed from its start, and Follow returns once none runs.
func TestFollowNewAndRestarted(t *testing.T) {
	f := project(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := Options{Project: "p", Log: service.LogOptions{Follow: true, Tail: "all"}}
	cs, err := Containers(ctx, f, o)
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, f, cs, o, s.writer) }()
	waitFor(t, func() bool { return strings.Contains(s.text("p-web-1"), "hello") })
	if err := f.Log("p-web-1", "stdout", "later"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(s.text("p-web-1"), "later") })
	// the stopped db starts: followed
	if err := f.StartContainer(ctx, "p-db-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Log("p-db-1", "stdout", "db up"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(s.text("p-db-1"), "db up") })
	for _, n := range []string{"p-web-1", "p-web-2", "p-db-1"} {
		if err := f.Exit(n, 0); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not return when no container of the selection ran")
	}
	if got := s.text("q-web-1"); got != "" {
		t.Errorf("another project's container printed %q", got)
	}
	if strings.Count(s.text("p-web-1"), "hello from p-web-1") != 1 {
		t.Errorf("p-web-1 printed a line twice: %q", s.text("p-web-1"))
	}
}

// Follow ends when its context does.
func TestFollowCancelled(t *testing.T) {
	f := project(t)
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{Project: "p", Services: []string{"web"}, Log: service.LogOptions{Follow: true}}
	cs, _ := Containers(ctx, f, o)
	var s sink
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, f, cs, o, s.writer) }()
	waitFor(t, func() bool { return strings.Contains(s.text("p-web-2"), "hello") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}
}

// noLogs is a backend without logs.
type noLogs struct{ service.Backend }

func TestFollowUnsupported(t *testing.T) {
	f := project(t)
	err := Follow(context.Background(), noLogs{f}, nil, Options{Project: "p"}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot read logs") {
		t.Fatalf("err = %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
