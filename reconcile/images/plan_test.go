package images

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

var update = flag.Bool("update", false, "rewrite the golden plans under testdata/images")

// golden compares got with the file under testdata/images, or rewrites it
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("..", "..", "testdata", "images", name+".plan")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./reconcile/images -update)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s\n--- got ---\n%s--- want ---\n%s", file, got, want)
	}
}

// planProject builds web (tagged twice) and api (after web, whose image
// its additional context names), pulls db, and never pulls cache.
const planProject = `name: shop
services:
  web:
    image: reg.example/web:1
    build: {context: ., tags: ["reg.example/web:latest", "mirror.example/web:1"]}
  api:
    build: {context: ., additional_contexts: {base: "service:web"}}
  db:
    image: reg.example/db:2
    pull_policy: always
  cache:
    image: reg.example/cache:3
    pull_policy: never
  worker:
    image: reg.example/db:2
`

// TestPlans: the plans of up's images, pull, build and push, in a dry run
// (golden files), and that a dry run calls nothing that changes anything.
func TestPlans(t *testing.T) {
	p := loadTree(t, map[string]string{"compose.yaml": planProject, "Dockerfile": "FROM scratch\n"})
	for _, tt := range []struct {
		name string
		do   func(context.Context, service.Backend, ImageOptions) error
		opts ImageOptions
	}{
		{"ensure", func(ctx context.Context, b service.Backend, o ImageOptions) error {
			_, err := EnsureImages(ctx, b, p, o)
			return err
		}, ImageOptions{}},
		{"ensure-build", func(ctx context.Context, b service.Backend, o ImageOptions) error {
			_, err := EnsureImages(ctx, b, p, o)
			return err
		}, ImageOptions{Build: true, Pull: "never"}},
		{"pull", func(ctx context.Context, b service.Backend, o ImageOptions) error {
			return PullImages(ctx, b, p, o)
		}, ImageOptions{IgnoreFailures: true}},
		{"build", func(ctx context.Context, b service.Backend, o ImageOptions) error {
			_, err := Build(ctx, b, p, o)
			return err
		}, ImageOptions{}},
		{"push", func(ctx context.Context, b service.Backend, o ImageOptions) error {
			return PushImages(ctx, b, p, o)
		}, ImageOptions{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := servicetest.NewFake()
			f.AddImage("reg.example/web:1", "sha256:w1")
			var got strings.Builder
			tt.opts.DryRun = true
			tt.opts.OnPlan = func(plan *reconcile.Plan) {
				for _, s := range plan.Steps {
					opt := ""
					if s.Optional {
						opt = " [optional]"
					}
					got.WriteString(s.String() + opt + "\n")
				}
			}
			if err := tt.do(context.Background(), f, tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, got.String())
			for _, c := range f.Calls() {
				if !strings.HasPrefix(c.Op, "Inspect") && !strings.HasPrefix(c.Op, "List") {
					t.Errorf("a dry run called %s %s", c.Op, c.Object)
				}
			}
		})
	}
}

func TestRemovePlan(t *testing.T) {
	plan := RemovePlan([]string{"a:1", "b"}, true)
	if got, want := plan.String(), "#1 remove image a:1\n#2 remove image b (after #1)\n"; got != want {
		t.Errorf("plan\n%s\nwant\n%s", got, want)
	}
	for _, s := range plan.Steps {
		if !s.Force || s.Optional {
			t.Errorf("step %s: force %v, optional %v; want forced, not optional", s, s.Force, s.Optional)
		}
	}
}

// TestPullsAreAppliedWithTheOneBound: the pulls are steps applied by
// reconcile.Apply, at most opts.Parallel at once, and every failure is
// reported, joined, the others done.
func TestPullsAreAppliedWithTheOneBound(t *testing.T) {
	p := loadTree(t, map[string]string{"compose.yaml": "name: p\nservices:\n  a: {image: r/a}\n  b: {image: r/b}\n  c: {image: r/c}\n  d: {image: r/d}\n"})
	f := servicetest.NewFake()
	for _, r := range []string{"r/a", "r/d"} {
		f.AddRemoteImage(r, "sha256:"+r[2:])
	}
	var steps []string
	err := PullImages(context.Background(), f, p, ImageOptions{Parallel: 1, OnPlan: func(plan *reconcile.Plan) {
		steps = append(steps, plan.String())
	}})
	if err == nil || !strings.Contains(err.Error(), "service b: pull image \"r/b\"") || !strings.Contains(err.Error(), "service c: pull image \"r/c\"") {
		t.Errorf("error %v: want both failures", err)
	}
	if !errors.Is(err, service.ErrNotFound) {
		t.Errorf("error %v does not wrap the backend's", err)
	}
	if _, err := f.InspectImage(context.Background(), "r/d"); err != nil {
		t.Errorf("r/d not pulled after r/b and r/c failed: %v", err)
	}
	if len(steps) != 1 || strings.Count(steps[0], "pull image") != 4 {
		t.Errorf("plans %q", steps)
	}
}
