package berthtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func fake() *servicetest.Fake {
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	f.ExecHook = func(_ context.Context, c service.Container, spec service.ExecSpec, _ io.Reader, stdout, _ io.Writer) (int, error) {
		fmt.Fprintf(stdout, "%s ran %s", c.Labels[service.LabelService], strings.Join(spec.Cmd, " "))
		return 3, nil
	}
	return f
}

func projectContainers(t *testing.T, f *servicetest.Fake, name string) []service.Container {
	t.Helper()
	cs, err := f.ListContainers(context.Background(), service.Filter{Labels: map[string]string{service.LabelProject: name}, All: true})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestUpOnTheFake: Up brings the project up under a unique name with
// ephemeral ports, Endpoint, Exec and Logs answer, and the cleanup removes
// everything, volumes included.
func TestUpOnTheFake(t *testing.T) {
	f := fake()
	var name string
	t.Run("up", func(t *testing.T) {
		env := Up(t, "testdata/stack/compose.yaml", WithRuntime(f))
		name = env.Name()
		if !strings.HasPrefix(name, "stack") || name == "stack" {
			t.Errorf("project name %q, want a unique one from the directory's", name)
		}
		if env.Backend() != service.Backend(f) {
			t.Error("Backend is not the runtime given")
		}
		cs := projectContainers(t, f, name)
		if len(cs) != 2 {
			t.Fatalf("%d containers, want web and db", len(cs))
		}
		for _, c := range cs {
			if c.State != service.StateRunning {
				t.Errorf("%s is %s", c.Name, c.State)
			}
		}
		ep := env.Endpoint("web", 80)
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" || port == "8080" {
			t.Errorf("endpoint %q: want an ephemeral host port, not the fixed 8080 (%v)", ep, err)
		}
		if out, code := env.Exec("db", "echo", "hi"); out != "db ran echo hi" || code != 3 {
			t.Errorf("Exec: %q %d", out, code)
		}
		if err := f.Log(name+"-web-1", "stdout", "serving"); err != nil {
			t.Fatal(err)
		}
		if got := env.Logs("web"); !strings.Contains(got, "serving") {
			t.Errorf("Logs(web) = %q", got)
		}
		if _, ok := f.Volume(name + "_data"); !ok {
			t.Errorf("volume %s_data not created", name)
		}
	})
	if cs := projectContainers(t, f, name); len(cs) != 0 {
		t.Errorf("after the test: %d containers left", len(cs))
	}
	if _, ok := f.Volume(name + "_data"); ok {
		t.Errorf("after the test: volume %s_data left", name)
	}
}

// TestUpOptions: a fixed name and fixed ports.
func TestUpOptions(t *testing.T) {
	f := fake()
	env := Up(t, "testdata/stack/compose.yaml", WithRuntime(f), WithProjectName("fixed"), WithFixedPorts(), WithEnv("X=1"))
	if env.Name() != "fixed" {
		t.Errorf("name %q", env.Name())
	}
	if ep := env.Endpoint("web", 80); !strings.HasSuffix(ep, ":8080") {
		t.Errorf("endpoint %q, want the fixed port 8080", ep)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"My_App": "my_app", "_-x.y": "xy", "stack": "stack", "Ünï": "n"} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// recTB records what Up and Env report instead of failing the real test:
// Fatalf ends the goroutine, as testing's does; Cleanup collects.
type recTB struct {
	testing.TB
	failed   bool
	fatal    string
	logs     []string
	cleanups []func()
}

func (r *recTB) Helper()          {}
func (r *recTB) Failed() bool     { return r.failed }
func (r *recTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recTB) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recTB) Errorf(format string, args ...any) {
	r.failed = true
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recTB) Fatalf(format string, args ...any) {
	r.failed, r.fatal = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// do runs f as a test body would, and then the cleanups.
func (r *recTB) do(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestFailures: what Up and Env say when something is wrong, and the logs
// a failed test gets at cleanup.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  func(r *recTB, f *servicetest.Fake)
		fatal string
		log   string
	}{
		{"no such file", func(r *recTB, f *servicetest.Fake) { Up(r, "testdata/none/compose.yaml", WithRuntime(f)) }, "berthtest:", ""},
		{"unknown backend", func(r *recTB, f *servicetest.Fake) { Up(r, "testdata/stack/compose.yaml", WithBackend("nope")) }, `unknown backend "nope"`, ""},
		{"no such port", func(r *recTB, f *servicetest.Fake) {
			Up(r, "testdata/stack/compose.yaml", WithRuntime(f)).Endpoint("web", 81)
		}, "publishes no port 81", ""},
		{"no such service", func(r *recTB, f *servicetest.Fake) {
			Up(r, "testdata/stack/compose.yaml", WithRuntime(f)).Exec("nope", "true")
		}, "no running container of service nope", ""},
		{"image missing", func(r *recTB, f *servicetest.Fake) {
			_ = f.RemoveImage(context.Background(), "busybox", true)
			f.Fail("PullImage", "", fmt.Errorf("registry down"))
			Up(r, "testdata/stack/compose.yaml", WithRuntime(f))
		}, "registry down", ""},
		{"logs of a failed test", func(r *recTB, f *servicetest.Fake) {
			env := Up(r, "testdata/stack/compose.yaml", WithRuntime(f))
			if err := f.Log(env.Name()+"-db-1", "stdout", "db says why"); err != nil {
				t.Error(err)
			}
			r.failed = true
		}, "", "db says why"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fake()
			r := &recTB{TB: t}
			r.do(func() { tc.body(r, f) })
			if !strings.Contains(r.fatal, tc.fatal) || (tc.fatal == "" && r.fatal != "") {
				t.Errorf("fatal %q, want %q", r.fatal, tc.fatal)
			}
			if tc.log != "" && !strings.Contains(strings.Join(r.logs, "\n"), tc.log) {
				t.Errorf("logs %q, want %q in them", r.logs, tc.log)
			}
			if cs := projectContainers(t, f, ""); len(cs) != 0 {
				t.Errorf("%d containers left after the cleanup", len(cs))
			}
		})
	}
}
