package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestNameClash: a container_name held by a container of another project
// (or of none) is reported before anything is created, naming both
// projects; the project's own container (kept or recreated) is no clash.
func TestNameClash(t *testing.T) {
	const compose = `
name: shop
services:
  db:
    image: busybox
    container_name: shared-db
  web:
    image: busybox
    container_name: shared-web
  app:
    image: busybox
`
	for _, tc := range []struct {
		name    string
		owner   map[string]string // labels of the container already named shared-db
		opts    Options
		wantErr []string // substrings; none: no error
	}{
		{"other project", map[string]string{service.LabelProject: "billing"}, Options{},
			[]string{`service "db" of project "shop"`, `container_name "shared-db"`, `project "billing"`, "berth -p billing down", "nothing was created"}},
		{"no project", map[string]string{}, Options{}, []string{`service "db"`, "belongs to no compose project"}},
		{"own project", nil, Options{}, nil},
		{"own project, recreated", nil, Options{ForceRecreate: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFake(t)
			p := load(t, compose)
			if tc.owner == nil {
				if err := Converge(ctx, f, p, Options{Services: []string{"db"}}, ApplyOptions{}, false, nil); err != nil {
					t.Fatal(err)
				}
			} else if _, err := f.CreateContainer(ctx, service.ContainerSpec{Name: "shared-db", Image: "busybox", Labels: tc.owner}); err != nil {
				t.Fatal(err)
			}
			before, _ := f.ListContainers(ctx, service.Filter{All: true})
			err := Converge(ctx, f, p, tc.opts, ApplyOptions{}, false, nil)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var nc *NameClashError
			if !errors.As(err, &nc) || nc.Name != "shared-db" {
				t.Errorf("not a NameClashError for shared-db: %#v", err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			after, _ := f.ListContainers(ctx, service.Filter{All: true})
			if len(after) != len(before) {
				t.Errorf("%d containers before, %d after: something was created", len(before), len(after))
			}
		})
	}
}
