package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestWriteLogFiles(t *testing.T) {
	ctx := context.Background()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:1")
	add := func(name, svc, n, oneoff string, hc bool, lines ...string) string {
		t.Helper()
		spec := service.ContainerSpec{Name: name, Image: "busybox", Labels: map[string]string{
			service.LabelProject: strings.Split(name, "-")[0], service.LabelService: svc, service.LabelContainerNumber: n, service.LabelOneoff: oneoff}}
		if hc {
			spec.Healthcheck = &service.Healthcheck{Test: []string{"CMD", "true"}}
		}
		id, err := f.CreateContainer(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		for i, l := range lines {
			stream := "stdout"
			if i%2 == 1 {
				stream = "stderr"
			}
			if err := f.Log(id, stream, l); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	add("shop-web-2", "web", "2", "False", false, "web two")
	add("shop-web-1", "web", "1", "False", false, "web one", "web one err")
	db := add("shop-db-1", "db", "1", "False", true, "db ready")
	add("shop-web-run-1", "web", "1", "True", false, "one-off")
	add("other-web-1", "web", "1", "False", false, "not ours")
	if err := f.SetHealth(db, service.HealthUnhealthy); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		opts   LogFilesOptions
		golden map[string]string // file → golden name
	}{
		{"all", LogFilesOptions{}, map[string]string{"db.log": "db.log", "web.log": "web.log"}},
		{"health", LogFilesOptions{Health: true, Services: []string{"db"}}, map[string]string{"db.log": "db-health.log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "logs")
			files, err := WriteLogFiles(ctx, f, "shop", dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(tt.golden) {
				t.Fatalf("files %v, want %d", files, len(tt.golden))
			}
			for file, golden := range tt.golden {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("..", "testdata", "reconcile", "logfiles", golden)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("%s:\n%s\nwant (%s):\n%s", file, got, path, want)
				}
			}
		})
	}
}

func TestWriteLogFilesUnsupported(t *testing.T) {
	type noLogs struct{ service.Backend }
	_, err := WriteLogFiles(context.Background(), noLogs{servicetest.NewFake()}, "shop", t.TempDir(), LogFilesOptions{})
	if err == nil {
		t.Fatal("no error from a backend without logs")
	}
}
