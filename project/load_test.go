package project

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// writeFiles makes a directory holding files (relative path → content).
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "My_App")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const twoServices = `
services:
  web:
    image: busybox
    depends_on: [db]
  db:
    image: busybox
  admin:
    image: busybox
    profiles: [admin]
    depends_on: [db]
`

func TestProjectName(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		opts  Options
		want  string
	}{
		{"directory name, normalised", map[string]string{"compose.yaml": twoServices}, Options{}, "my_app"},
		{"name key", map[string]string{"compose.yaml": "name: fromfile\n" + twoServices}, Options{}, "fromfile"},
		{"env beats name key", map[string]string{"compose.yaml": "name: fromfile\n" + twoServices}, Options{Env: []string{"COMPOSE_PROJECT_NAME=fromenv"}}, "fromenv"},
		{"flag beats env", map[string]string{"compose.yaml": "name: fromfile\n" + twoServices}, Options{ProjectName: "fromflag", Env: []string{"COMPOSE_PROJECT_NAME=fromenv"}}, "fromflag"},
		{".env sets it", map[string]string{"compose.yaml": twoServices, ".env": "COMPOSE_PROJECT_NAME=fromdotenv\n"}, Options{}, "fromdotenv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			tt.opts.WorkingDir = dir
			if tt.opts.Env == nil {
				tt.opts.Env = []string{}
			}
			p, err := Load(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want {
				t.Errorf("name %q, want %q", p.Name, tt.want)
			}
		})
	}
}

func TestFileSelection(t *testing.T) {
	files := map[string]string{
		"compose.yaml":          "services:\n  a:\n    image: busybox\n",
		"compose.override.yaml": "services:\n  b:\n    image: busybox\n",
		"other.yaml":            "services:\n  c:\n    image: busybox\n",
		"extra.yaml":            "services:\n  d:\n    image: busybox\n",
	}
	tests := []struct {
		name string
		opts Options
		wd   string
		want []string
	}{
		{"default file and override", Options{}, "", []string{"a", "b"}},
		{"found from a subdirectory", Options{}, "sub/deeper", []string{"a", "b"}},
		{"-f replaces the default", Options{Files: []string{"other.yaml"}}, "", []string{"c"}},
		{"several -f merged", Options{Files: []string{"other.yaml", "extra.yaml"}}, "", []string{"c", "d"}},
		{"COMPOSE_FILE", Options{Env: []string{"COMPOSE_FILE=other.yaml:extra.yaml"}}, "", []string{"c", "d"}},
		{"COMPOSE_PATH_SEPARATOR", Options{Env: []string{"COMPOSE_FILE=other.yaml;extra.yaml", "COMPOSE_PATH_SEPARATOR=;"}}, "", []string{"c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, files)
			wd := filepath.Join(dir, tt.wd)
			if err := os.MkdirAll(wd, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.opts.WorkingDir = wd
			if tt.opts.Env == nil {
				tt.opts.Env = []string{}
			}
			p, err := Load(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range p.Services {
				got = append(got, s.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("services %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServiceSelection(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		want     []string
		disabled []string
	}{
		{"all active services", Options{}, []string{"db", "web"}, []string{"admin"}},
		{"profile from flag", Options{Profiles: []string{"admin"}}, []string{"admin", "db", "web"}, nil},
		{"profile from COMPOSE_PROFILES", Options{Env: []string{"COMPOSE_PROFILES=admin"}}, []string{"admin", "db", "web"}, nil},
		{"named service and its dependencies", Options{Services: []string{"web"}}, []string{"db", "web"}, []string{"admin"}},
		{"naming a service enables its profile", Options{Services: []string{"admin"}}, []string{"admin", "db"}, []string{"web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"compose.yaml": twoServices})
			tt.opts.WorkingDir = dir
			if tt.opts.Env == nil {
				tt.opts.Env = []string{}
			}
			p, err := Load(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range p.Services {
				got = append(got, s.Name)
			}
			sort.Strings(p.DisabledServices)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("services %v, want %v", got, tt.want)
			}
			if len(p.DisabledServices) != len(tt.disabled) || (len(tt.disabled) > 0 && !reflect.DeepEqual(p.DisabledServices, tt.disabled)) {
				t.Errorf("disabled %v, want %v", p.DisabledServices, tt.disabled)
			}
		})
	}
}

func TestUnknownServiceIsNamed(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yaml": twoServices})
	_, err := Load(context.Background(), Options{WorkingDir: dir, Env: []string{}, Services: []string{"nosuch"}})
	var le *LoadError
	if !errors.As(err, &le) || le.Service != "nosuch" || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("got %v, want a LoadError naming service nosuch", err)
	}
}

func TestReplicasAndLabels(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yaml": `
services:
  web:
    image: busybox
    scale: 2
    labels: {team: core}
    depends_on:
      db: {condition: service_healthy, restart: true}
  db:
    image: busybox
    container_name: database
  job:
    build: .
volumes:
  data: {}
`})
	p, err := Load(context.Background(), Options{WorkingDir: dir, Env: []string{}, AllResources: true})
	if err != nil {
		t.Fatal(err)
	}
	web := p.Service("web")
	if web == nil || web.Scale != 2 {
		t.Fatalf("web: %+v", web)
	}
	r := web.Replica(p.Name, 2)
	if r.Name != "my_app-web-2" {
		t.Errorf("replica name %q", r.Name)
	}
	want := map[string]string{
		service.LabelProject:         "my_app",
		service.LabelService:         "web",
		service.LabelContainerNumber: "2",
		service.LabelOneoff:          "False",
		service.LabelConfigHash:      web.Hash,
		service.LabelDependsOn:       "db:service_healthy:true",
		service.LabelWorkingDir:      dir,
		service.LabelConfigFiles:     filepath.Join(dir, "compose.yaml"),
		"team":                       "core",
	}
	for k, v := range want {
		if r.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, r.Labels[k], v)
		}
	}
	if _, ok := web.Labels[service.LabelContainerNumber]; ok {
		t.Errorf("Replica wrote into the service's labels")
	}
	if got := p.Service("db").Replica(p.Name, 1).Name; got != "database" {
		t.Errorf("container_name: got %q", got)
	}
	if got := p.Service("job").Image; got != "my_app-job" {
		t.Errorf("default image of a built service: %q", got)
	}
	if len(p.Volumes) != 1 || p.Volumes[0].Name != "my_app_data" || p.Volumes[0].Labels[service.LabelVolume] != "data" {
		t.Errorf("volumes: %+v", p.Volumes)
	}
	if len(p.Networks) != 1 || p.Networks[0].Name != "my_app_default" || p.Networks[0].Hash == "" {
		t.Errorf("networks: %+v", p.Networks)
	}
}

func TestDotEnvComposeVars(t *testing.T) {
	dir := writeFiles(t, map[string]string{".env": "COMPOSE_PROFILES=a,b\nCOMPOSE_REMOVE_ORPHANS=1\nOTHER=x\n"})
	got := DotEnvComposeVars(nil, dir, []string{"COMPOSE_REMOVE_ORPHANS=0"})
	want := map[string]string{"COMPOSE_PROFILES": "a,b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v (the process environment wins, only COMPOSE_* is taken)", got, want)
	}
}

// TestCompatibilityNames: with Options.Compatibility, containers and built
// images are named with "_" as docker compose v1 (and --compatibility) did.
func TestCompatibilityNames(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yaml": "name: proj\nservices:\n  web:\n    image: busybox\n  built:\n    build: .\n  named:\n    image: busybox\n    container_name: fixed\n"})
	for _, tt := range []struct {
		compat          bool
		web, built, img string
	}{{false, "proj-web-2", "proj-built-1", "proj-built"}, {true, "proj_web_2", "proj_built_1", "proj_built"}} {
		p, err := Load(context.Background(), Options{WorkingDir: dir, Env: []string{}, Compatibility: tt.compat})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Service("web").Replica(p.Name, 2).Name; got != tt.web {
			t.Errorf("compatibility %v: web replica 2 is %s, want %s", tt.compat, got, tt.web)
		}
		if got := p.Service("built").Replica(p.Name, 1).Name; got != tt.built {
			t.Errorf("compatibility %v: built replica 1 is %s, want %s", tt.compat, got, tt.built)
		}
		if got := p.Service("built").Image; got != tt.img {
			t.Errorf("compatibility %v: built image %s, want %s", tt.compat, got, tt.img)
		}
		if got := p.Service("named").Replica(p.Name, 1).Name; got != "fixed" {
			t.Errorf("compatibility %v: container_name gives %s", tt.compat, got)
		}
	}
}
