package reconcile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// nopCloser is a writer with a Close that does nothing.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestDeployLogs reads deployed services' logs from the in-memory swarm.
func TestDeployLogs(t *testing.T) {
	ctx := context.Background()
	sw := servicetest.NewSwarmFake(servicetest.NewFake())
	dir, _ := filepath.Abs(filepath.Join("..", "testdata", "swarm", "threetier"))
	p, err := project.Load(ctx, project.Options{WorkingDir: dir, Env: []string{"APP_KEY=k1"}})
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err := PlanDeployProject(ctx, sw, p.Model, DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, sw, plan, ApplyOptions{Project: "shop"}); err != nil {
		t.Fatal(err)
	}
	sw.SetSwarmLogs("shop_api", "api 1", "api 2", "api 3")
	sw.SetSwarmLogs("shop_db", "db 1")
	sw.SetSwarmLogs("shop_web", "web 1")

	read := func(opts DeployLogsOptions) (map[string]string, error) {
		var mu sync.Mutex
		bufs := map[string]*bytes.Buffer{}
		err := DeployLogs(ctx, sw, "shop", opts, func(s string) (io.WriteCloser, io.WriteCloser) {
			mu.Lock()
			defer mu.Unlock()
			bufs[s] = &bytes.Buffer{}
			return nopCloser{bufs[s]}, nopCloser{bufs[s]}
		})
		out := map[string]string{}
		for k, v := range bufs {
			out[k] = v.String()
		}
		return out, err
	}
	tests := []struct {
		name    string
		opts    DeployLogsOptions
		want    map[string]string
		wantErr string
	}{
		{"all", DeployLogsOptions{}, map[string]string{"api": "api 1\napi 2\napi 3\n", "db": "db 1\n", "web": "web 1\n"}, ""},
		{"one with tail", DeployLogsOptions{Services: []string{"api"}, Log: service.LogOptions{Tail: "2"}}, map[string]string{"api": "api 2\napi 3\n"}, ""},
		{"not deployed", DeployLogsOptions{Services: []string{"api", "cache"}}, map[string]string{}, "service cache is not deployed in stack shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("read %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("logs of %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	if err := DeployLogs(ctx, servicetest.NewFake(), "shop", DeployLogsOptions{}, nil); !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("deploy logs on a backend without swarm: %v", err)
	}
}
