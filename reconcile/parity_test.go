package reconcile

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

func TestSecurityOpts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "profile.json"), []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{in: nil, want: nil},
		{in: []string{"no-new-privileges:true", "seccomp=unconfined", "seccomp:builtin", "label=disable"},
			want: []string{"no-new-privileges:true", "seccomp=unconfined", "seccomp:builtin", "label=disable"}},
		{in: []string{"seccomp=profile.json"}, want: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}},
		{in: []string{"seccomp:" + filepath.Join(dir, "profile.json")}, want: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}},
		{in: []string{`seccomp={"defaultAction":"SCMP_ACT_LOG"}`}, want: []string{`seccomp={"defaultAction":"SCMP_ACT_LOG"}`}},
		{in: []string{"seccomp=missing.json"}, err: "opening seccomp profile failed"},
		{in: []string{"seccomp=broken.json"}, err: "is not JSON"},
	} {
		got, err := securityOpts(dir, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestBindCreateHostPath: which binds create a missing source directory,
// as docker compose v5 decides (it uses the engine's bind API for those).
func TestBindCreateHostPath(t *testing.T) {
	p := load(t, `
name: binds
services:
  web:
    image: busybox
    volumes:
      - ./short:/short
      - type: bind
        source: ./long
        target: /long
      - type: bind
        source: ./long-ro
        target: /long-ro
        read_only: true
        bind: {selinux: z}
      - type: bind
        source: ./no-create
        target: /no-create
        bind: {create_host_path: false}
      - type: bind
        source: ./shared
        target: /shared
        bind: {propagation: rshared}
`)
	spec, _, err := ContainerSpec(p, p.Service("web"), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"/short": true, "/long": true, "/long-ro": true, "/no-create": false, "/shared": false}
	for _, m := range spec.Mounts {
		if w, ok := want[m.Target]; !ok || m.CreateHostPath != w {
			t.Errorf("bind at %s: create host path %v, want %v", m.Target, m.CreateHostPath, w)
		}
		delete(want, m.Target)
	}
	if len(want) > 0 {
		t.Errorf("binds missing from the spec: %v", want)
	}
}

// TestStopOnlyTheFilesServices: stop with no service named stops the
// services of the files loaded, not the project's other containers (those
// of a service another -f file declares), as docker compose.
func TestStopOnlyTheFilesServices(t *testing.T) {
	p := load(t, threeTier)
	obs := upToDate(t, p)
	other := obs.Containers[0]
	other.ID, other.Name = "other-id", "shop-extra-1"
	other.Labels = maps.Clone(other.Labels)
	other.Labels[service.LabelService] = "extra"
	obs.Containers = append(obs.Containers, other)
	plan := Stop(p, obs, nil)
	if s := plan.String(); strings.Contains(s, "shop-extra-1") || !strings.Contains(s, "shop-web-1") {
		t.Errorf("stop plan:\n%s", s)
	}
	if s := Stop(nil, obs, nil).String(); !strings.Contains(s, "shop-extra-1") {
		t.Errorf("stop plan without files:\n%s", s)
	}
}

// TestStopWithoutFilesOrdersByLabels: without the compose files (-p NAME
// stop/down elsewhere), the order comes from the containers' depends_on
// label, as docker compose: the same plan as with the files.
func TestStopWithoutFilesOrdersByLabels(t *testing.T) {
	p := load(t, threeTier)
	obs := upToDate(t, p)
	if with, without := Stop(p, obs, nil).String(), Stop(nil, obs, nil).String(); with != without {
		t.Errorf("stop without the files:\n%s\nwith them:\n%s", without, with)
	}
	if with, without := Down(p, obs, DownOptions{}).String(), Down(nil, obs, DownOptions{}).String(); !strings.Contains(without, "(after") || strings.Count(with, "after") != strings.Count(without, "after") {
		t.Errorf("down without the files:\n%s\nwith them:\n%s", without, with)
	}
}

// TestNoDepsParentMissing: up --no-deps of a service that shares another's
// container (network_mode service:, volumes_from) fails before planning
// anything when that container does not exist, as docker compose.
func TestNoDepsParentMissing(t *testing.T) {
	p := load(t, `
name: nd
services:
  db:
    image: busybox
  app:
    image: busybox
    network_mode: "service:db"
    volumes_from: [db]
`)
	empty := &Observed{Project: p.Name, Networks: map[string]service.Network{}, Volumes: map[string]service.Volume{}}
	_, err := Diff(p, empty, Options{Services: []string{"app"}, NoDeps: true})
	if err == nil || !strings.Contains(err.Error(), "service app shares the container of service db") {
		t.Errorf("--no-deps without db: %v", err)
	}
	if _, err := Diff(p, empty, Options{Services: []string{"app"}}); err != nil {
		t.Errorf("with its dependencies: %v", err)
	}
	if _, err := Diff(p, upToDate(t, p), Options{Services: []string{"app"}, NoDeps: true}); err != nil {
		t.Errorf("--no-deps with db there: %v", err)
	}
}

// TestRestartPlan: restart stops (dependents first) then starts in
// dependency order, waiting for the depends_on conditions, as docker
// compose's restart.
func TestRestartPlan(t *testing.T) {
	p := load(t, threeTier)
	plan, err := Restart(p, upToDate(t, p), []string{"db", "api"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "../testdata/reconcile/restart-db.plan", plan.String())
	checkDAG(t, plan)
	got := plan.String()
	for _, want := range []string{"stop container shop-api-1", "stop container shop-db-1", "start container shop-db-1",
		"wait for container shop-db-1 healthy", "start container shop-api-1"} {
		if !strings.Contains(got, want) {
			t.Errorf("restart plan has no %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "shop-web-1") {
		t.Errorf("restart plan touches web:\n%s", got)
	}
	if plan, err := Restart(nil, upToDate(t, p), []string{"web"}); err != nil || !strings.Contains(plan.String(), "start container shop-web-1") {
		t.Errorf("restart without files: %v\n%s", err, plan)
	}
}
