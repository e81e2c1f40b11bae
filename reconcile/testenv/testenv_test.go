package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// stack is a fake project: Up makes a db (with a healthcheck, published
// on 32768) and a web container, Down removes what carries the project.
type stack struct {
	t     *testing.T
	f     *servicetest.Fake
	ups   int
	downs int
}

func newStack(t *testing.T) *stack {
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:1")
	return &stack{t: t, f: f}
}

func (s *stack) up(ctx context.Context, project string) error {
	s.ups++
	for _, svc := range []string{"db", "web"} {
		spec := service.ContainerSpec{Name: project + "-" + svc + "-1", Image: "busybox", Labels: map[string]string{
			service.LabelProject: project, service.LabelService: svc, service.LabelContainerNumber: "1", service.LabelOneoff: "False"}}
		if svc == "db" {
			spec.Ports = []service.PortBinding{{ContainerPort: 5432, HostPort: "32768", Protocol: "tcp"}}
			spec.Healthcheck = &service.Healthcheck{Test: []string{"CMD", "true"}}
		}
		id, err := s.f.CreateContainer(ctx, spec)
		if err != nil {
			return err
		}
		if err := s.f.StartContainer(ctx, id); err != nil {
			return err
		}
		if err := s.f.Log(id, "stdout", svc+" says hello"); err != nil {
			return err
		}
	}
	return nil
}

func (s *stack) down(ctx context.Context, project string) error {
	s.downs++
	cs, err := s.f.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: project}, All: true})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := s.f.RemoveContainer(ctx, c.ID, service.RemoveOptions{Force: true}); err != nil {
			return err
		}
	}
	return nil
}

func (s *stack) left(project string) int {
	cs, _ := s.f.ListContainers(context.Background(), service.Filter{Labels: map[string]string{service.LabelProject: project}, All: true})
	return len(cs)
}

func TestRun(t *testing.T) {
	never := func(ctx context.Context, _ string, _ []string) (int, error) { <-ctx.Done(); return 0, ctx.Err() }
	for _, tc := range []struct {
		name     string
		opts     Options
		upErr    error
		test     func(ctx context.Context, project string, env []string) (int, error)
		cancelIn time.Duration // cancel the caller's context after this
		wantCode int
		wantErr  string
		wantLogs bool
		wantKept bool
	}{
		{name: "pass", test: func(context.Context, string, []string) (int, error) { return 0, nil }},
		{name: "fail", test: func(context.Context, string, []string) (int, error) { return 3, nil }, wantCode: 3, wantLogs: true},
		{name: "keep on failure", opts: Options{KeepOnFailure: true}, test: func(context.Context, string, []string) (int, error) { return 2, nil },
			wantCode: 2, wantLogs: true, wantKept: true},
		{name: "up fails", upErr: errors.New("db is unhealthy"), wantCode: CodeSetupFailed, wantErr: "db is unhealthy", wantLogs: true},
		{name: "command cannot run", test: func(context.Context, string, []string) (int, error) {
			return CodeSetupFailed, errors.New("no such file")
		},
			wantCode: CodeSetupFailed, wantErr: "no such file", wantLogs: true},
		{name: "timeout", opts: Options{Timeout: 100 * time.Millisecond}, test: never, wantCode: CodeTimeout, wantErr: "timeout after 100ms", wantLogs: true},
		{name: "interrupted, kept nonetheless removed", opts: Options{KeepOnFailure: true}, test: never, cancelIn: 100 * time.Millisecond,
			wantCode: CodeInterrupted, wantErr: "interrupted", wantLogs: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			dir := t.TempDir()
			o := tc.opts
			o.Base = "shop"
			o.LogsDir = filepath.Join(dir, "logs")
			o.EndpointsFile = filepath.Join(dir, "out", "endpoints.json")
			var msgs bytes.Buffer
			o.Messages = &msgs
			var gotEnv []string
			steps := Steps{
				Up: func(ctx context.Context, project string) error {
					if err := s.up(ctx, project); err != nil {
						return err
					}
					return tc.upErr
				},
				Test: func(ctx context.Context, project string, env []string) (int, error) {
					gotEnv = env
					return tc.test(ctx, project, env)
				},
				Down: s.down,
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelIn > 0 {
				time.AfterFunc(tc.cancelIn, cancel)
			}
			res, err := Run(ctx, s.f, o, steps)
			if res.Code != tc.wantCode {
				t.Errorf("code %d, want %d (err %v)", res.Code, tc.wantCode, err)
			}
			if tc.wantErr == "" && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(res.Project, "shop-") || len(res.Project) != len("shop-")+8 {
				t.Errorf("project %q, want shop-<8 hex>", res.Project)
			}
			if !strings.Contains(msgs.String(), "project "+res.Project) {
				t.Errorf("project name not printed: %q", msgs.String())
			}
			if res.Kept != tc.wantKept {
				t.Errorf("kept %v, want %v", res.Kept, tc.wantKept)
			}
			if n := s.left(res.Project); tc.wantKept != (n > 0) {
				t.Errorf("%d containers left, kept %v", n, tc.wantKept)
			}
			if !tc.wantKept && s.downs != 1 {
				t.Errorf("down ran %d times, want 1", s.downs)
			}
			_, statErr := os.Stat(o.LogsDir)
			if tc.wantLogs != (statErr == nil) {
				t.Errorf("logs dir written: %v, want %v", statErr == nil, tc.wantLogs)
			}
			if tc.wantLogs {
				db, err := os.ReadFile(filepath.Join(o.LogsDir, "db.log"))
				if err != nil || !strings.Contains(string(db), "db says hello") || !strings.Contains(string(db), "health:") {
					t.Errorf("db.log %q (%v): want its output and health", db, err)
				}
				if len(res.LogFiles) != 2 {
					t.Errorf("log files %v, want db and web", res.LogFiles)
				}
			}
			if tc.test == nil {
				return
			}
			for _, want := range []string{"COMPOSE_PROJECT_NAME=" + res.Project, "DB_5432=127.0.0.1:32768", "DB_5432_PORT=32768"} {
				if !slices.Contains(gotEnv, want) {
					t.Errorf("command environment %v lacks %s", gotEnv, want)
				}
			}
			data, err := os.ReadFile(o.EndpointsFile)
			if err != nil {
				t.Fatal(err)
			}
			var doc reconcile.EndpointsDocument
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Version != reconcile.EndpointsVersion || doc.Project != res.Project || len(doc.Endpoints) != 1 || doc.Endpoints[0].Port != 32768 {
				t.Errorf("endpoints file %s", data)
			}
		})
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("ci"), UniqueName("ci")
	if a == b || !strings.HasPrefix(a, "ci-") {
		t.Errorf("names %q and %q", a, b)
	}
	if n := UniqueName(""); !strings.HasPrefix(n, "berth-test-") {
		t.Errorf("default base: %q", n)
	}
}

func TestHostCommand(t *testing.T) {
	var out bytes.Buffer
	pidFile := filepath.Join(t.TempDir(), "pid")
	for _, tc := range []struct {
		name     string
		argv     []string
		cancelIn time.Duration
		want     int
		wantErr  bool
		wantOut  string
	}{
		{name: "exit code", argv: []string{"sh", "-c", "exit 3"}, want: 3},
		{name: "environment", argv: []string{"sh", "-c", `echo "$DB_5432"`}, wantOut: "127.0.0.1:1\n"},
		{name: "terminated on cancel", argv: []string{"sh", "-c", "trap 'exit 7' TERM; sleep 30 >/dev/null 2>&1 & wait"}, cancelIn: 200 * time.Millisecond, want: 7},
		{name: "its children terminated on cancel", argv: []string{"sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $! > " + pidFile + "; wait"}, cancelIn: 300 * time.Millisecond, want: 128 + 15},
		{name: "missing", argv: []string{"/nonexistent/berth-test-command"}, want: CodeSetupFailed, wantErr: true},
		{name: "none", want: CodeSetupFailed, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out.Reset()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelIn > 0 {
				time.AfterFunc(tc.cancelIn, cancel)
			}
			code, err := HostCommand(tc.argv, nil, &out, &out, 5*time.Second)(ctx, "p", []string{"DB_5432=127.0.0.1:1"})
			if code != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("code %d, err %v; want %d, error %v", code, err, tc.want, tc.wantErr)
			}
			if tc.wantOut != "" && out.String() != tc.wantOut {
				t.Errorf("output %q, want %q", out.String(), tc.wantOut)
			}
			if pid, err := os.ReadFile(pidFile); err == nil {
				time.Sleep(100 * time.Millisecond)
				if _, err := os.Stat("/proc/" + strings.TrimSpace(string(pid))); err == nil {
					stat, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
					if !strings.Contains(string(stat), ") Z ") {
						t.Errorf("the command's child %s still runs", pid)
					}
				}
				os.Remove(pidFile)
			}
		})
	}
}
