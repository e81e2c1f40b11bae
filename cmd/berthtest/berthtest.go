// Package berthtest brings a compose project up for a Go test and takes it
// down after, with berth's own packages (never the berth binary, nor
// docker/cli, docker/compose or buildx):
//
//	func TestMain(m *testing.M) { berthtest.Main(m) } // for the built-in runtime
//
//	func TestAPI(t *testing.T) {
//		env := berthtest.Up(t, "testdata/stack/compose.yaml")
//		resp, err := http.Get("http://" + env.Endpoint("web", 80) + "/health")
//		...
//	}
//
// Up gives the project a unique name, publishes its fixed host ports on
// ephemeral ones (so tests in parallel do not clash), pulls or builds what
// is missing, and waits until every service is ready as berth up --wait
// does. t.Cleanup removes everything (down -v), first writing every
// service's logs to the test's log when the test failed. The project
// carries a lifetime owned by the test process: if the test binary is
// killed, the next berth up or berth gc removes it.
//
// It runs on the Docker engine when one answers (DOCKER_HOST, or the
// default socket), else on berth's built-in runtime, which re-executes the
// test binary as its shim: call Main from TestMain then.
package berthtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/gc"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/reconcile/testenv"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
)

// Main runs the tests of a package that uses the built-in runtime: the
// runtime re-executes the test binary as a container's shim and init,
// which must run before the tests. Call it from TestMain.
func Main(m *testing.M) {
	if code, ok := builtin.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

type options struct {
	name, backend, root, exe string
	env                      []string
	timeout                  time.Duration
	fixedPorts               bool
	// runtime, when set, is the backend used (WithRuntime).
	runtime service.Backend
}

// Option changes what Up does.
type Option func(*options)

// WithProjectName uses name instead of a unique one.
func WithProjectName(name string) Option { return func(o *options) { o.name = name } }

// WithBackend picks the runtime: "engine" or "builtin" (default: the
// engine when one answers, else builtin).
func WithBackend(name string) Option { return func(o *options) { o.backend = name } }

// WithBuiltin sets the built-in runtime's state root and the berth binary
// it uses as shim (default: BERTH_ROOT or /var/lib/berth, and the test
// binary, which then needs Main).
func WithBuiltin(root, exe string) Option {
	return func(o *options) { o.root, o.exe = root, exe }
}

// WithEnv adds KEY=VALUE variables to the environment the compose files
// are interpolated with (the process's by default).
func WithEnv(kv ...string) Option { return func(o *options) { o.env = append(o.env, kv...) } }

// WithTimeout bounds how long Up waits for the services to be ready
// (default 2 minutes).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRuntime runs the project on b, which the caller opened and closes
// (another runtime, or servicetest's in-memory fake in unit tests),
// instead of the one WithBackend picks.
func WithRuntime(b service.Backend) Option { return func(o *options) { o.runtime = b } }

// WithFixedPorts keeps the host ports the files publish.
func WithFixedPorts() Option { return func(o *options) { o.fixedPorts = true } }

// Env is a project brought up for a test.
type Env struct {
	t       testing.TB
	b       service.Backend
	project *project.Project
}

// Up brings the project of composeFile up for t and registers its
// removal with t.Cleanup. It fails t when the project cannot be loaded,
// brought up, or made ready in time, with what berth knows of why.
func Up(t testing.TB, composeFile string, opts ...Option) *Env {
	t.Helper()
	o := options{timeout: 2 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatalf("berthtest: %v", err)
	}
	ctx := context.Background()
	name := o.name
	if name == "" {
		base := filepath.Base(filepath.Dir(abs))
		name = testenv.UniqueName(sanitize(base))
	}
	p, err := project.Load(ctx, project.Options{Files: []string{abs}, ProjectName: name, WorkingDir: filepath.Dir(abs),
		Env: append(os.Environ(), o.env...)})
	if err != nil {
		t.Fatalf("berthtest: %v", err)
	}
	if !o.fixedPorts {
		if _, err := p.EphemeralPorts(); err != nil {
			t.Fatalf("berthtest: %v", err)
		}
	}
	gc.SetLifetime(p, time.Now().Add(o.timeout+time.Hour), gc.Owner(os.Getpid()))
	b, closeBackend, err := open(ctx, o)
	if err != nil {
		t.Fatalf("berthtest: %v", err)
	}
	e := &Env{t: t, b: b, project: p}
	t.Cleanup(func() {
		e.down()
		closeBackend()
	})
	ids, err := images.EnsureImages(ctx, b, p, images.ImageOptions{Pull: "policy"})
	if err != nil {
		t.Fatalf("berthtest: images of %s: %v", abs, err)
	}
	if err := reconcile.Converge(ctx, b, p, reconcile.Options{ImageIDs: ids, RemoveOrphans: true}, reconcile.ApplyOptions{}, false, nil); err != nil {
		t.Fatalf("berthtest: up %s: %v", p.Name, err)
	}
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: p.Name, service.LabelOneoff: service.OneoffFalse}, All: true})
	if err != nil {
		t.Fatalf("berthtest: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := reconcile.WaitUp(wctx, b, p.Name, reconcile.WaitConditions(p, cs)); err != nil {
		t.Fatalf("berthtest: %s not ready: %v", p.Name, err)
	}
	return e
}

// open picks and opens the runtime.
func open(ctx context.Context, o options) (service.Backend, func(), error) {
	if o.runtime != nil {
		return o.runtime, func() {}, nil
	}
	kind := o.backend
	if kind == "" {
		kind = "builtin"
		if os.Getenv("DOCKER_HOST") != "" {
			kind = "engine"
		} else if c, err := net.DialTimeout("unix", "/var/run/docker.sock", time.Second); err == nil {
			c.Close()
			kind = "engine"
		}
	}
	switch kind {
	case "engine":
		b, err := engine.New(ctx)
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	case "builtin":
		root := o.root
		if root == "" {
			root = os.Getenv("BERTH_ROOT")
		}
		b, err := builtin.Open(builtin.Options{Root: root, Exe: o.exe})
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown backend %q: use engine or builtin", kind)
}

// Name is the project's name.
func (e *Env) Name() string { return e.project.Name }

// Backend is the runtime the project runs on, for what Env does not offer.
func (e *Env) Backend() service.Backend { return e.b }

// Endpoint is "host:port" where port (tcp) of the service's first
// replica is published; it fails the test when it is not.
func (e *Env) Endpoint(svc string, port int) string {
	e.t.Helper()
	eps, err := reconcile.Endpoints(context.Background(), e.b, e.project.Name, []string{svc})
	if err != nil {
		e.t.Fatalf("berthtest: endpoints of %s: %v", svc, err)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Replica < eps[j].Replica })
	for _, ep := range eps {
		if ep.Target == port && (ep.Protocol == "" || ep.Protocol == "tcp") {
			return net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
		}
	}
	e.t.Fatalf("berthtest: service %s publishes no port %d", svc, port)
	return ""
}

// Exec runs cmd in the service's first running container and returns its
// output (standard output and error) and exit code; it fails the test
// when the command cannot be run.
func (e *Env) Exec(svc string, cmd ...string) (string, int) {
	e.t.Helper()
	ex, ok := e.b.(service.Execer)
	if !ok {
		e.t.Fatalf("berthtest: this runtime cannot exec")
	}
	c := e.container(svc)
	var out bytes.Buffer
	code, err := ex.Exec(context.Background(), c.ID, service.ExecSpec{Cmd: cmd}, nil, &out, &out)
	if err != nil {
		e.t.Fatalf("berthtest: exec in %s: %v", c.Name, err)
	}
	return out.String(), code
}

// Logs returns the output of the service's containers so far.
func (e *Env) Logs(svc string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	if _, err := reconcile.WriteLogFiles(context.Background(), e.b, e.project.Name, dir, reconcile.LogFilesOptions{Services: []string{svc}}); err != nil {
		e.t.Fatalf("berthtest: logs of %s: %v", svc, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, svc+".log"))
	return string(b)
}

func (e *Env) container(svc string) service.Container {
	e.t.Helper()
	cs, err := e.b.ListContainers(context.Background(), service.Filter{Labels: map[string]string{
		service.LabelProject: e.project.Name, service.LabelService: svc, service.LabelOneoff: service.OneoffFalse}})
	if err != nil || len(cs) == 0 {
		e.t.Fatalf("berthtest: no running container of service %s (%v)", svc, err)
	}
	sort.Slice(cs, func(i, j int) bool {
		return cs[i].Labels[service.LabelContainerNumber] < cs[j].Labels[service.LabelContainerNumber]
	})
	return cs[0]
}

// down removes the project; when the test failed, it logs every service's
// output (and health) first.
func (e *Env) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.t.Failed() {
		dir, err := os.MkdirTemp("", "berthtest-logs-")
		if err == nil {
			files, _ := reconcile.WriteLogFiles(ctx, e.b, e.project.Name, dir, reconcile.LogFilesOptions{Health: true})
			for _, f := range files {
				b, _ := os.ReadFile(f)
				e.t.Logf("berthtest: logs of %s:\n%s", strings.TrimSuffix(filepath.Base(f), ".log"), b)
			}
			_ = os.RemoveAll(dir)
		}
	}
	obs, err := reconcile.Observe(ctx, e.b, e.project.Name, nil)
	if err != nil {
		e.t.Errorf("berthtest: down %s: %v", e.project.Name, err)
		return
	}
	plan := reconcile.Down(e.project, obs, reconcile.DownOptions{RemoveOrphans: true, Volumes: true})
	if err := reconcile.Apply(ctx, e.b, plan, reconcile.ApplyOptions{Project: e.project.Name}); err != nil {
		e.t.Errorf("berthtest: down %s: %v", e.project.Name, err)
	}
}

// sanitize makes base a project name: lowercase [a-z0-9_-].
func sanitize(base string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}
