package images

import (
	"context"
	"errors"
	"testing"

	"github.com/berthdev/berth/service/servicetest"
)

// TestBuildAndPush builds then pushes the services with both build and
// image, leaves the others alone, and pushes nothing when a build fails.
func TestBuildAndPush(t *testing.T) {
	compose := "name: shop\nservices:\n  api:\n    image: reg.test:5000/shop/api:1\n    build: .\n  db:\n    image: db:1\n"
	p := loadTree(t, map[string]string{"compose.yaml": compose, "Dockerfile": "FROM busybox\n"})
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	if err := BuildAndPush(context.Background(), f, p, ImageOptions{}); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range f.Calls() {
		if c.Op == "BuildImage" || c.Op == "PushImage" {
			ops = append(ops, c.Op+" "+c.Object)
		}
	}
	if want := []string{"BuildImage reg.test:5000/shop/api:1", "PushImage reg.test:5000/shop/api:1"}; len(ops) != 2 || ops[0] != want[0] || ops[1] != want[1] {
		t.Errorf("calls %q, want %q", ops, want)
	}

	f.ResetCalls()
	boom := errors.New("boom")
	f.FailOnce("BuildImage", "reg.test:5000/shop/api:1", boom)
	if err := BuildAndPush(context.Background(), f, p, ImageOptions{}); !errors.Is(err, boom) {
		t.Errorf("a failed build: %v", err)
	}
	for _, c := range f.Calls() {
		if c.Op == "PushImage" {
			t.Errorf("pushed %s after a failed build", c.Object)
		}
	}
}
