package listing

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// fake holds two projects: p (web-1 running, web-2 exited, db-1 running,
// a one-off of web, running) and shop (api-1 exited).
func fake(t *testing.T) *servicetest.Fake {
	t.Helper()
	ctx := context.Background()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	for _, c := range []struct {
		name, project, svc, oneoff string
		state                      string
	}{
		{"p-web-1", "p", "web", "False", "running"},
		{"p-web-2", "p", "web", "False", "exited"},
		{"p-db-1", "p", "db", "False", "running"},
		{"p-web-run-1", "p", "web", "True", "running"},
		{"shop-api-1", "shop", "api", "False", "exited"},
	} {
		labels := map[string]string{service.LabelProject: c.project, service.LabelService: c.svc, service.LabelOneoff: c.oneoff,
			service.LabelConfigFiles: "/src/" + c.project + "/compose.yaml"}
		id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: c.name, Image: "busybox", Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if c.state == "exited" {
			if err := f.Exit(id, 1); err != nil {
				t.Fatal(err)
			}
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
	f := fake(t)
	for _, tc := range []struct {
		name string
		o    ContainersOptions
		want string
	}{
		{"running, no one-offs", ContainersOptions{Project: "p"}, "p-db-1,p-web-1"},
		{"all, one-offs too", ContainersOptions{Project: "p", All: true}, "p-db-1,p-web-1,p-web-2,p-web-run-1"},
		{"a state implies all", ContainersOptions{Project: "p", States: []string{"exited"}}, "p-web-2"},
		{"a service", ContainersOptions{Project: "p", Services: []string{"web"}, All: true}, "p-web-1,p-web-2,p-web-run-1"},
		{"another project", ContainersOptions{Project: "shop", All: true}, "shop-api-1"},
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
	f.Fail("ListContainers", "", os.ErrPermission)
	if _, err := Containers(context.Background(), f, ContainersOptions{Project: "p"}); err == nil || !strings.Contains(err.Error(), "project p") {
		t.Errorf("err = %v, want one naming the project", err)
	}
}

func TestProjects(t *testing.T) {
	f := fake(t)
	for _, tc := range []struct {
		name string
		o    ProjectsOptions
		want []Project
	}{
		{"running", ProjectsOptions{}, []Project{{Name: "p", Status: "running(3)", ConfigFiles: "/src/p/compose.yaml"}}},
		{"all", ProjectsOptions{All: true}, []Project{
			{Name: "p", Status: "exited(1), running(3)", ConfigFiles: "/src/p/compose.yaml"},
			{Name: "shop", Status: "exited(1)", ConfigFiles: "/src/shop/compose.yaml"}}},
		{"by name", ProjectsOptions{All: true, Names: []*regexp.Regexp{regexp.MustCompile("^sh")}}, []Project{
			{Name: "shop", Status: "exited(1)", ConfigFiles: "/src/shop/compose.yaml"}}},
		{"no match", ProjectsOptions{All: true, Names: []*regexp.Regexp{regexp.MustCompile("x")}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Projects(context.Background(), f, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestVolumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	compose := "name: v\nservices:\n  web:\n    image: busybox\n    volumes: [data:/data, /tmp:/host]\n  db:\n    image: busybox\n    volumes: [db:/db]\nvolumes:\n  data: {}\n  db: {}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(ctx, project.Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f := servicetest.NewFake()
	for _, v := range p.Volumes {
		if _, err := f.CreateVolume(ctx, service.VolumeSpec{Name: v.Name, Labels: v.Labels}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.CreateVolume(ctx, service.VolumeSpec{Name: "other_data", Labels: map[string]string{service.LabelProject: "other"}}); err != nil {
		t.Fatal(err)
	}
	vname := func(vs []service.Volume) string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name     string
		p        *project.Project
		services []string
		want     string
	}{
		{"all", p, nil, "v_data,v_db"},
		{"of web", p, []string{"web"}, "v_data"},
		{"of an unknown service", p, []string{"nope"}, ""},
		{"no project: all", nil, []string{"web"}, "v_data,v_db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := Volumes(ctx, f, "v", tc.p, tc.services)
			if err != nil {
				t.Fatal(err)
			}
			if got := vname(vs); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	f.Fail("ListVolumes", "", os.ErrPermission)
	if _, err := Volumes(ctx, f, "v", p, nil); err == nil || !strings.Contains(err.Error(), "project v") {
		t.Errorf("err = %v", err)
	}
}
