package reconcile

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

var update = flag.Bool("update", false, "rewrite the golden plans under testdata/reconcile")

// threeTier is the project most cases start from: a database with a
// healthcheck, an api that waits for it and restarts with it, a web front.
const threeTier = `
name: shop
services:
  db:
    image: busybox
    environment: {POSTGRES_PASSWORD: secret}
    healthcheck: {test: ["CMD", "true"], interval: 1s}
    volumes: ["data:/var/lib/db"]
  api:
    image: busybox
    depends_on:
      db: {condition: service_healthy, restart: true}
  web:
    image: busybox
    ports: ["8080:80"]
    depends_on: [api]
volumes:
  data: {}
`

func load(t *testing.T, compose string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(context.Background(), project.Options{WorkingDir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	// stable paths in the labels and so in the golden plans
	for _, s := range p.Services {
		s.Labels[service.LabelWorkingDir] = "/src"
		s.Labels[service.LabelConfigFiles] = "/src/compose.yaml"
	}
	return p
}

// upToDate is what Observe would see once p was applied: every replica
// running (healthy where it has a healthcheck), networks and volumes there.
func upToDate(t *testing.T, p *project.Project) *Observed {
	t.Helper()
	obs := &Observed{Project: p.Name, Networks: map[string]service.Network{}, Volumes: map[string]service.Volume{}}
	for _, n := range p.Networks {
		obs.Networks[n.Name] = service.Network{ID: "net-" + n.Name, Name: n.Name, Labels: n.Labels}
	}
	for _, v := range p.Volumes {
		obs.Volumes[v.Name] = service.Volume{Name: v.Name, Labels: v.Labels, Driver: "local"}
	}
	for _, s := range p.Services {
		for n := 1; n <= s.Scale; n++ {
			spec, _, err := ContainerSpec(p, s, n)
			if err != nil {
				t.Fatal(err)
			}
			c := service.Container{ID: "id-" + spec.Name, Name: spec.Name, Image: spec.Image, Labels: spec.Labels, State: service.StateRunning,
				Networks: map[string]string{}, Created: time.Unix(int64(n), 0)}
			if spec.Healthcheck != nil {
				c.Health = service.HealthHealthy
			}
			for _, ep := range spec.Networks {
				c.Networks[ep.Network] = "net-" + ep.Network
			}
			for _, m := range spec.Mounts {
				if m.Type == service.MountVolume {
					c.Mounts = append(c.Mounts, service.MountPoint{Type: m.Type, Name: m.Source, Destination: m.Target})
				}
			}
			obs.Containers = append(obs.Containers, c)
		}
	}
	return obs
}

// addOneoffs adds one-off containers of run: web's exited, api's dead,
// db's running.
func addOneoffs(o *Observed) {
	for _, c := range []struct{ svc, state string }{{"web", service.StateExited}, {"api", service.StateDead}, {"db", service.StateRunning}} {
		name := "shop-" + c.svc + "-run-0123456789ab"
		labels := map[string]string{service.LabelProject: "shop", service.LabelService: c.svc, service.LabelOneoff: service.OneoffTrue}
		o.Containers = append(o.Containers, service.Container{ID: "id-" + name, Name: name, Labels: labels, State: c.state})
	}
}

// linked is a project whose web links to db (by an alias) and to a
// container outside it.
const linked = `
name: shop
services:
  db:
    image: busybox
    scale: 2
  web:
    image: busybox
    links: ["db:database"]
    external_links: ["legacy", "other-db-1:olddb"]
`

func find(obs *Observed, name string) *service.Container {
	for i := range obs.Containers {
		if obs.Containers[i].Name == name {
			return &obs.Containers[i]
		}
	}
	return nil
}

func TestDiffGolden(t *testing.T) {
	tests := []struct {
		name    string
		before  string // what was applied ("" for nothing)
		after   string // the compose file now
		mutate  func(*Observed)
		opts    Options
		wantErr string
	}{
		{name: "cold-up", after: threeTier},
		{name: "no-op", before: threeTier, after: threeTier},
		{name: "env-change-restarts-dependents", before: threeTier, after: strings.Replace(threeTier, "secret}", "changed, EXTRA: x}", 1)},
		{name: "scale-up", before: threeTier, after: threeTier, opts: Options{Scale: map[string]int{"web": 3}}},
		{name: "scale-down", before: strings.Replace(threeTier, "ports: [\"8080:80\"]", "scale: 3", 1), after: strings.Replace(threeTier, "ports: [\"8080:80\"]", "scale: 1", 1)},
		{name: "stopped-container-started", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			find(o, "shop-web-1").State = service.StateExited
		}},
		{name: "missing-container-created", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			o.Containers = o.Containers[1:] // shop-api-1
		}},
		{name: "orphan-warned", before: strings.Replace(threeTier, "volumes:\n  data", "  old:\n    image: busybox\nvolumes:\n  data", 1), after: threeTier},
		{name: "orphan-removed", before: strings.Replace(threeTier, "volumes:\n  data", "  old:\n    image: busybox\nvolumes:\n  data", 1), after: threeTier, opts: Options{RemoveOrphans: true}},
		// one-offs of run: the stopped ones are orphans, of any service,
		// warned about or removed with --remove-orphans; running ones stay
		{name: "oneoff-stopped-warned", before: threeTier, after: threeTier, mutate: addOneoffs},
		{name: "oneoff-stopped-removed", before: threeTier, after: threeTier, mutate: addOneoffs, opts: Options{RemoveOrphans: true, Services: []string{"db"}}},
		{name: "links-cold-up", after: linked},
		{name: "links-no-deps", before: linked, after: linked, opts: Options{Services: []string{"web"}, NoDeps: true, ForceRecreate: true}},
		{name: "interrupted-recreate", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			web := *find(o, "shop-web-1")
			web.ID, web.Name, web.Created = "id-tmp", "0123456789ab_shop-web-1", time.Unix(100, 0)
			o.Containers = append(o.Containers, web)
			find(o, "shop-web-1").State = service.StateExited
		}},
		{name: "renamed-leftover", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			find(o, "shop-web-1").Name = "0123456789ab_shop-web-1"
		}},
		{name: "image-changed", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			find(o, "shop-web-1").Labels[service.LabelImage] = "sha256:old"
		}, opts: Options{ImageIDs: map[string]string{"web": "sha256:new", "api": "", "db": ""}}},
		{name: "force-recreate-one-service", before: threeTier, after: threeTier, opts: Options{Services: []string{"web"}, ForceRecreate: true}},
		{name: "volume-changed-needs-yes", before: threeTier, after: strings.Replace(threeTier, "data: {}", "data: {labels: {tier: db}}", 1), wantErr: `volume "shop_data" exists but its configuration differs from the compose file: run ` + "`up -y`"},
		{name: "volume-changed-yes", before: threeTier, after: strings.Replace(threeTier, "data: {}", "data: {labels: {tier: db}}", 1), opts: Options{RecreateVolumes: true}},
		{name: "network-changed", before: threeTier, after: threeTier + "networks:\n  default:\n    labels: {x: y}\n"},
		{name: "external-network-missing", after: threeTier + "networks:\n  default:\n    name: shared\n    external: true\n", wantErr: "network shared declared as external, but could not be found"},
		{name: "completed-dependency", after: `
name: jobs
services:
  migrate:
    image: busybox
  app:
    image: busybox
    depends_on:
      migrate: {condition: service_completed_successfully}
`},
		{name: "no-deps-only-target", after: threeTier, opts: Options{Services: []string{"web"}, NoDeps: true}},
		// issue 11: two ups that raced left two networks of one name and no
		// container (every create failed on the ambiguous name)
		{name: "duplicate-networks-stuck", after: threeTier, mutate: func(o *Observed) {
			labels := load(t, threeTier).Networks[0].Labels
			o.Networks["shop_default"] = service.Network{ID: "0a0a0a0a0a0a0a", Name: "shop_default", Labels: labels, Created: time.Unix(10, 0)}
			o.NetworkDuplicates = map[string][]service.Network{"shop_default": {{ID: "0b0b0b0b0b0b0b", Name: "shop_default", Labels: labels, Created: time.Unix(11, 0)}}}
		}},
		// a container runs on the duplicate: moved to the one kept, not
		// recreated
		{name: "duplicate-network-in-use", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			dup := o.Networks["shop_default"]
			dup.ID, dup.Containers = "0d0d0d0d0d0d0d", []string{"id-shop-db-1"}
			keep := o.Networks["shop_default"]
			keep.Containers = []string{"id-shop-api-1", "id-shop-web-1"}
			o.Networks["shop_default"] = keep
			o.NetworkDuplicates = map[string][]service.Network{"shop_default": {dup}}
			find(o, "shop-db-1").Networks["shop_default"] = dup.ID
		}},
		// and the configuration changed: the container on the duplicate is
		// connected to the new network, not to the one removed
		{name: "duplicate-network-in-use-changed", before: threeTier, after: threeTier + "networks:\n  default:\n    labels: {x: y}\n", mutate: func(o *Observed) {
			dup := o.Networks["shop_default"]
			dup.ID, dup.Containers = "0d0d0d0d0d0d0d", []string{"id-shop-db-1"}
			keep := o.Networks["shop_default"]
			keep.Containers = []string{"id-shop-api-1", "id-shop-web-1"}
			o.Networks["shop_default"] = keep
			o.NetworkDuplicates = map[string][]service.Network{"shop_default": {dup}}
			find(o, "shop-db-1").Networks["shop_default"] = dup.ID
		}},
		// an up that failed on the ambiguous name left the containers created
		{name: "duplicate-networks-containers-created", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			dup := o.Networks["shop_default"]
			dup.ID, dup.Created = "0d0d0d0d0d0d0d", time.Unix(20, 0)
			o.NetworkDuplicates = map[string][]service.Network{"shop_default": {dup}}
			for i := range o.Containers {
				o.Containers[i].State, o.Containers[i].Health = service.StateCreated, ""
				o.Containers[i].Networks["shop_default"] = ""
			}
		}},
		// a container of another project uses the duplicate: left, with a
		// warning
		{name: "duplicate-network-foreign", before: threeTier, after: threeTier, mutate: func(o *Observed) {
			dup := o.Networks["shop_default"]
			dup.ID, dup.Containers = "0d0d0d0d0d0d0d", []string{"0f0f0f0f0f0f0f0f"}
			o.NetworkDuplicates = map[string][]service.Network{"shop_default": {dup}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := load(t, tt.after)
			obs := &Observed{Project: after.Name, Networks: map[string]service.Network{}, Volumes: map[string]service.Volume{}}
			if tt.before != "" {
				obs = upToDate(t, load(t, tt.before))
			}
			if tt.mutate != nil {
				tt.mutate(obs)
			}
			plan, err := Diff(after, obs, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkDAG(t, plan)
			golden(t, filepath.Join("..", "testdata", "reconcile", tt.name+".plan"), plan.String())
		})
	}
}

// checkDAG verifies that every dependency comes earlier in the plan.
func checkDAG(t *testing.T, p *Plan) {
	t.Helper()
	pos := map[*Step]int{}
	for i, s := range p.Steps {
		pos[s] = i
		if s.ID != i+1 {
			t.Errorf("step %d has ID %d", i+1, s.ID)
		}
		for _, d := range s.Deps {
			if j, ok := pos[d]; !ok || j >= i {
				t.Errorf("step %s depends on a later or foreign step %s", s, d)
			}
		}
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./reconcile -update)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s\n--- got ---\n%s--- want ---\n%s", file, got, want)
	}
}

func TestNoOpPlanIsEmpty(t *testing.T) {
	p := load(t, threeTier)
	plan, err := Diff(p, upToDate(t, p), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Empty() {
		t.Errorf("no-op up plans:\n%s", plan)
	}
}

// TestOtherReleasesHashIsUpToDate: a container labelled with the hash
// another docker compose release line computes for the same service (v2's,
// for a service with a short-syntax bind) is left alone; one with an
// unknown hash is recreated.
func TestOtherReleasesHashIsUpToDate(t *testing.T) {
	p := load(t, `
name: shop
services:
  web:
    image: busybox
    volumes: ["./site:/srv"]
`)
	web := p.Service("web")
	if len(web.Hashes) < 2 || web.Hashes[0] != web.Hash {
		t.Fatalf("hashes %v: want v5's first and v2's after it", web.Hashes)
	}
	for _, tc := range []struct {
		hash     string
		recreate bool
	}{
		{web.Hashes[1], false},
		{web.Hashes[len(web.Hashes)-1], false},
		{strings.Repeat("0", 64), true},
	} {
		obs := upToDate(t, p)
		for i := range obs.Containers {
			obs.Containers[i].Labels[service.LabelConfigHash] = tc.hash
		}
		plan, err := Diff(p, obs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := !plan.Empty(); got != tc.recreate {
			t.Errorf("hash %s…: recreate %v, want %v\n%s", tc.hash[:8], got, tc.recreate, plan)
		}
	}
}

func TestDownGolden(t *testing.T) {
	p := load(t, threeTier)
	obs := upToDate(t, p)
	golden(t, "../testdata/reconcile/down.plan", Down(p, obs, DownOptions{}).String())
	golden(t, "../testdata/reconcile/down-volumes.plan", Down(p, obs, DownOptions{Volumes: true}).String())
	golden(t, "../testdata/reconcile/down-without-file.plan", Down(nil, obs, DownOptions{}).String())
	golden(t, "../testdata/reconcile/stop.plan", Stop(p, obs, nil).String())

	dup := obs.Networks["shop_default"]
	dup.ID = "0d0d0d0d0d0d0d"
	obs.NetworkDuplicates = map[string][]service.Network{"shop_default": {dup}}
	golden(t, "../testdata/reconcile/down-duplicate-networks.plan", Down(p, obs, DownOptions{}).String())
	golden(t, "../testdata/reconcile/down-duplicate-networks-without-file.plan", Down(nil, obs, DownOptions{}).String())
}
