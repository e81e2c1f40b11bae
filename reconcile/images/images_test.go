package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// loadTree writes files into a new directory and loads the project of its
// compose.yaml.
func loadTree(t *testing.T, files map[string]string) *project.Project {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	p, err := project.Load(context.Background(), project.Options{WorkingDir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newFake is an in-memory runtime holding busybox.
func newFake(t *testing.T) *servicetest.Fake {
	t.Helper()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	return f
}

// imageCalls returns the references of the Fake's calls of op, sorted.
func imageCalls(f *servicetest.Fake, op string) []string {
	var out []string
	for _, c := range f.Calls() {
		if c.Op == op {
			out = append(out, c.Object)
		}
	}
	sort.Strings(out)
	return out
}

// builtTags returns the first tag of every build the Fake was asked for,
// in order.
func builtTags(f *servicetest.Fake) []string {
	var out []string
	for _, s := range f.Builds() {
		out = append(out, s.Tags[0])
	}
	return out
}

func TestEnsureImagesPolicies(t *testing.T) {
	const dockerfile = "FROM scratch\nLABEL x=1\n"
	cases := []struct {
		name     string
		services string            // the services: section
		local    map[string]string // images present, ref → ID
		remote   map[string]string // the registry
		opts     ImageOptions
		pulls    []string // images pulled
		builds   []string // images built (first tag)
		ids      map[string]string
		err      string // a substring of the error
	}{
		{
			name:     "missing image is pulled",
			services: "db: {image: redis:7}",
			remote:   map[string]string{"redis:7": "sha256:r7"},
			pulls:    []string{"redis:7"},
			ids:      map[string]string{"db": "sha256:r7"},
		},
		{
			name:     "present image is not pulled",
			services: "db: {image: redis:7}",
			local:    map[string]string{"redis:7": "sha256:old"},
			remote:   map[string]string{"redis:7": "sha256:r7"},
			ids:      map[string]string{"db": "sha256:old"},
		},
		{
			name:     "always pulls a present image",
			services: "db: {image: redis:7, pull_policy: always}",
			local:    map[string]string{"redis:7": "sha256:old"},
			remote:   map[string]string{"redis:7": "sha256:r7"},
			pulls:    []string{"redis:7"},
			ids:      map[string]string{"db": "sha256:r7"},
		},
		{
			name:     "if_not_present is missing",
			services: "db: {image: redis:7, pull_policy: if_not_present}",
			local:    map[string]string{"redis:7": "sha256:old"},
			ids:      map[string]string{"db": "sha256:old"},
		},
		{
			name:     "never does not pull a missing image",
			services: "db: {image: redis:7, pull_policy: never}",
			remote:   map[string]string{"redis:7": "sha256:r7"},
			err:      "service db: image redis:7 is not present, and the pull policy is never",
		},
		{
			name:     "--pull never overrides always",
			services: "db: {image: redis:7, pull_policy: always}",
			local:    map[string]string{"redis:7": "sha256:old"},
			remote:   map[string]string{"redis:7": "sha256:r7"},
			opts:     ImageOptions{Pull: "never"},
			ids:      map[string]string{"db": "sha256:old"},
		},
		{
			name:     "--pull always overrides missing",
			services: "db: {image: redis:7}",
			local:    map[string]string{"redis:7": "sha256:old"},
			remote:   map[string]string{"redis:7": "sha256:r7"},
			opts:     ImageOptions{Pull: "always"},
			pulls:    []string{"redis:7"},
			ids:      map[string]string{"db": "sha256:r7"},
		},
		{
			name:     "--pull policy keeps the services' policies",
			services: "db: {image: redis:7}",
			local:    map[string]string{"redis:7": "sha256:old"},
			opts:     ImageOptions{Pull: "policy"},
			ids:      map[string]string{"db": "sha256:old"},
		},
		{
			name:     "a failed pull names the service and the image, every one of them",
			services: "db: {image: redis:7}\n  cache: {image: memcached:1}\n  ok: {image: nginx:1}",
			remote:   map[string]string{"nginx:1": "sha256:n1"},
			pulls:    []string{"memcached:1", "nginx:1", "redis:7"},
			err:      "service cache: pull image \"memcached:1\"",
		},
		{
			name:     "daily refreshes a present image",
			services: "db: {image: redis:7, pull_policy: daily}",
			local:    map[string]string{"redis:7": "sha256:old"},
			remote:   map[string]string{"redis:7": "sha256:r7"},
			pulls:    []string{"redis:7"},
			ids:      map[string]string{"db": "sha256:r7"},
		},
		{
			name:     "a failed refresh keeps the local image",
			services: "db: {image: redis:7, pull_policy: every_12h}",
			local:    map[string]string{"redis:7": "sha256:old"},
			pulls:    []string{"redis:7"},
			ids:      map[string]string{"db": "sha256:old"},
		},
		{
			name:     "an image two services use is pulled once",
			services: "a: {image: redis:7}\n  b: {image: redis:7}",
			remote:   map[string]string{"redis:7": "sha256:r7"},
			pulls:    []string{"redis:7"},
			ids:      map[string]string{"a": "sha256:r7", "b": "sha256:r7"},
		},
		{
			name:     "a missing built image is built",
			services: "web: {build: .}",
			builds:   []string{"proj-web"},
		},
		{
			name:     "a present built image is not rebuilt",
			services: "web: {build: .}",
			local:    map[string]string{"proj-web": "sha256:w0"},
			ids:      map[string]string{"web": "sha256:w0"},
		},
		{
			name:     "--build rebuilds",
			services: "web: {build: .}\n  db: {image: redis:7}",
			local:    map[string]string{"proj-web": "sha256:w0", "redis:7": "sha256:old"},
			opts:     ImageOptions{Build: true},
			builds:   []string{"proj-web"},
		},
		{
			name:     "pull_policy build always builds",
			services: "web: {build: ., image: reg.example/web:1, pull_policy: build}",
			local:    map[string]string{"reg.example/web:1": "sha256:w0"},
			remote:   map[string]string{"reg.example/web:1": "sha256:w1"},
			builds:   []string{"reg.example/web:1"},
		},
		{
			name:     "--no-build with a missing built image",
			services: "web: {build: .}",
			opts:     ImageOptions{NoBuild: true},
			err:      "service web: image proj-web is not present, and --no-build forbids building it",
		},
		{
			name:     "--no-build with the image present",
			services: "web: {build: .}",
			local:    map[string]string{"proj-web": "sha256:w0"},
			opts:     ImageOptions{NoBuild: true, Build: false},
			ids:      map[string]string{"web": "sha256:w0"},
		},
		{
			name:     "image and build: a failed pull is a warning, then it is built",
			services: "web: {build: ., image: reg.example/web:1}",
			pulls:    []string{"reg.example/web:1"},
			builds:   []string{"reg.example/web:1"},
		},
		{
			name:     "image and build: pulled when the registry has it",
			services: "web: {build: ., image: reg.example/web:1}",
			remote:   map[string]string{"reg.example/web:1": "sha256:w1"},
			pulls:    []string{"reg.example/web:1"},
			ids:      map[string]string{"web": "sha256:w1"},
		},
		{
			name:     "a service running an image another builds waits for the build",
			services: "web: {build: ., image: app:dev}\n  worker: {image: app:dev}",
			pulls:    []string{"app:dev"},
			builds:   []string{"app:dev"},
		},
		{
			name:     "only the services asked for",
			services: "web: {build: .}\n  db: {image: redis:7}",
			opts:     ImageOptions{Services: []string{"web"}},
			builds:   []string{"proj-web"},
		},
		{
			name:     "invalid --pull",
			services: "db: {image: redis:7}",
			opts:     ImageOptions{Pull: "sometimes"},
			err:      `invalid --pull option "sometimes"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := loadTree(t, map[string]string{
				"compose.yaml": "name: proj\nservices:\n  " + c.services + "\n",
				"Dockerfile":   dockerfile,
			})
			f := servicetest.NewFake()
			for ref, id := range c.local {
				f.AddImage(ref, id)
			}
			for ref, id := range c.remote {
				f.AddRemoteImage(ref, id)
			}
			var mu sync.Mutex
			var events []ImageEvent
			c.opts.Progress = func(e ImageEvent) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}
			ids, err := EnsureImages(context.Background(), f, p, c.opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := imageCalls(f, "PullImage"); !slices.Equal(got, c.pulls) {
				t.Errorf("pulled %q, want %q", got, c.pulls)
			}
			if got := builtTags(f); !slices.Equal(got, c.builds) {
				t.Errorf("built %q, want %q", got, c.builds)
			}
			if err != nil {
				return
			}
			// every service has the ID of the image it will run
			for _, s := range p.Services {
				if c.opts.Services != nil && !slices.Contains(c.opts.Services, s.Name) {
					continue
				}
				img, err := f.InspectImage(context.Background(), s.Image)
				if err != nil {
					t.Fatalf("service %s: %v", s.Name, err)
				}
				if ids[s.Name] != img.ID {
					t.Errorf("service %s: ID %q, its image %s is %q", s.Name, ids[s.Name], s.Image, img.ID)
				}
				if want, ok := c.ids[s.Name]; ok && ids[s.Name] != want {
					t.Errorf("service %s: ID %q, want %q", s.Name, ids[s.Name], want)
				}
			}
			for _, e := range events {
				if e.Status == reconcile.StatusFailed {
					t.Errorf("event %+v failed but EnsureImages did not", e)
				}
			}
		})
	}
}

func TestEnsureImagesBuildSpec(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  web:
    build:
      context: app
      dockerfile: docker/Dockerfile.web
      args: {VERSION: "1.2", UNSET: null}
      labels: {org.example.team: web}
      target: prod
      network: host
      tags: ["reg.example/web:1.2", "proj-web"]
      extra_hosts: ["db=10.0.0.2"]
      shm_size: 64m
      cache_from: ["reg.example/web:cache"]
`,
		"app/docker/Dockerfile.web": "FROM scratch AS prod\n",
		"app/main.go":               "package main\n",
	})
	f := servicetest.NewFake()
	arg := "from the command line"
	_, err := EnsureImages(context.Background(), f, p, ImageOptions{Build: true, BuildArgs: map[string]*string{"CLI": &arg}})
	if err != nil {
		t.Fatal(err)
	}
	builds := f.Builds()
	if len(builds) != 1 {
		t.Fatalf("%d builds", len(builds))
	}
	s := builds[0]
	if want := []string{"proj-web", "reg.example/web:1.2"}; !slices.Equal(s.Tags, want) {
		t.Errorf("tags %q, want %q", s.Tags, want)
	}
	if s.Dockerfile != "docker/Dockerfile.web" || s.Target != "prod" || s.Network != "host" || s.ShmSize != 64<<20 {
		t.Errorf("spec %+v", s)
	}
	if !slices.Equal(s.ExtraHosts, []string{"db:10.0.0.2"}) || !slices.Equal(s.CacheFrom, []string{"reg.example/web:cache"}) {
		t.Errorf("extra hosts %q, cache from %q", s.ExtraHosts, s.CacheFrom)
	}
	var args []string
	for k, v := range s.Args {
		args = append(args, k+"="+*v)
	}
	sort.Strings(args)
	if want := []string{"CLI=from the command line", "VERSION=1.2"}; !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
	want := map[string]string{
		"org.example.team":                 "web",
		service.LabelProject:               "proj",
		service.LabelService:               "web",
		service.LabelVersion:               project.Version,
		"com.docker.compose.image.builder": "classic",
	}
	if fmt.Sprint(s.Labels) != fmt.Sprint(want) {
		t.Errorf("labels %v, want %v", s.Labels, want)
	}
}

func TestEnsureImagesReportsBuilds(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml":  "name: proj\nservices:\n  web: {build: .}\n",
		"Dockerfile":    "FROM scratch\nCOPY . /\n",
		"index.html":    "hello",
		"big.bin":       strings.Repeat("x", 100000),
		".dockerignore": "*.bin\n",
	})
	f := servicetest.NewFake()
	var events []ImageEvent
	var out strings.Builder
	_, err := EnsureImages(context.Background(), f, p, ImageOptions{
		Progress: func(e ImageEvent) { events = append(events, e) },
		Output: func(svc string) io.Writer {
			fmt.Fprintf(&out, "[%s]\n", svc)
			return &out
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Status != reconcile.StatusWorking || events[1].Status != reconcile.StatusDone {
		t.Fatalf("events %+v", events)
	}
	if size := events[0].ContextSize; size <= 0 || size > 20000 {
		t.Errorf("context size %d: the ignored big.bin was sent, or nothing was", size)
	}
	if events[0].Reason != "not present" || events[0].Image != "proj-web" || events[0].Service != "web" {
		t.Errorf("first event %+v", events[0])
	}
	if !strings.HasPrefix(out.String(), "[web]\nStep 1/2 : FROM scratch\n") {
		t.Errorf("output %q", out.String())
	}
}

// A rebuild of an unchanged context keeps the image ID, so the containers
// stay; a changed file gives a new ID, and only that service is recreated.
func TestRebuildRecreatesOnlyWhatChanged(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": "name: proj\nservices:\n  a: {build: a}\n  b: {build: b}\n",
		"a/Dockerfile": "FROM scratch\nCOPY . /\n",
		"a/main.go":    "package main // a\n",
		"b/Dockerfile": "FROM scratch\nCOPY . /\n",
		"b/main.go":    "package main // b\n",
	})
	f := newFake(t)
	ctx := context.Background()
	up := func(build bool) map[string]string {
		t.Helper()
		ids, err := EnsureImages(ctx, f, p, ImageOptions{Build: build})
		if err != nil {
			t.Fatal(err)
		}
		if err := reconcile.Converge(ctx, f, p, reconcile.Options{ImageIDs: ids}, reconcile.ApplyOptions{}, false, nil); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	containerIDs := func() map[string]string {
		out := map[string]string{}
		for _, n := range []string{"proj-a-1", "proj-b-1"} {
			c, ok := f.Container(n)
			if !ok {
				t.Fatalf("no container %s", n)
			}
			out[n] = c.ID
		}
		return out
	}
	first := up(false)
	before := containerIDs()
	if again := up(true); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("rebuilding unchanged contexts changed the IDs: %v → %v", first, again)
	}
	if after := containerIDs(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("an unchanged rebuild recreated containers: %v → %v", before, after)
	}
	if err := os.WriteFile(filepath.Join(p.WorkingDir, "b", "main.go"), []byte("package main // b, changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := up(true)
	after := containerIDs()
	if third["a"] != first["a"] || third["b"] == first["b"] {
		t.Errorf("IDs after changing b: %v (before %v)", third, first)
	}
	if after["proj-a-1"] != before["proj-a-1"] || after["proj-b-1"] == before["proj-b-1"] {
		t.Errorf("containers after changing b: %v (before %v): want only b's recreated", after, before)
	}
	c, _ := f.Container("proj-b-1")
	if c.Labels[service.LabelImage] != third["b"] {
		t.Errorf("proj-b-1's %s label is %q, want %q", service.LabelImage, c.Labels[service.LabelImage], third["b"])
	}
}

// orderedFake records when builds start and end.
type orderedFake struct {
	*servicetest.Fake
	mu  sync.Mutex
	log []string
}

func (o *orderedFake) BuildImage(ctx context.Context, spec service.BuildSpec, r io.Reader, w io.Writer) (string, error) {
	o.mu.Lock()
	o.log = append(o.log, "start "+spec.Tags[0])
	o.mu.Unlock()
	id, err := o.Fake.BuildImage(ctx, spec, r, w)
	o.mu.Lock()
	o.log = append(o.log, "end "+spec.Tags[0])
	o.mu.Unlock()
	return id, err
}

func TestBuildOrderFollowsServiceContexts(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  app:
    build:
      context: app
      additional_contexts: {base: "service:base"}
  tool:
    build:
      context: app
      additional_contexts: {base: "service:base", app: "service:app"}
  base: {build: base}
  other: {build: base}
`,
		"app/Dockerfile":  "FROM proj-base\n",
		"base/Dockerfile": "FROM scratch\n",
	})
	for i := 0; i < 5; i++ {
		f := &orderedFake{Fake: servicetest.NewFake()}
		if _, err := Build(context.Background(), f, p, ImageOptions{}); err != nil {
			t.Fatal(err)
		}
		pos := func(s string) int { return slices.Index(f.log, s) }
		if pos("end proj-base") > pos("start proj-app") || pos("end proj-app") > pos("start proj-tool") || pos("end proj-base") > pos("start proj-tool") {
			t.Fatalf("build order %q: base, then app, then tool", f.log)
		}
		if len(f.log) != 8 {
			t.Fatalf("builds %q", f.log)
		}
	}

	cyclic := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  a: {build: {context: ., additional_contexts: {b: "service:b"}}}
  b: {build: {context: ., additional_contexts: {a: "service:a"}}}
`,
		"Dockerfile": "FROM scratch\n",
	})
	_, err := Build(context.Background(), servicetest.NewFake(), cyclic, ImageOptions{})
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cyclic contexts: %v", err)
	}
}

func TestBuildFailureStopsAndNamesTheService(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": "name: proj\nservices:\n  web: {build: .}\n",
		"Dockerfile":   "FROM scratch\nRUN false\n",
	})
	_, err := EnsureImages(context.Background(), servicetest.NewFake(), p, ImageOptions{})
	if err == nil || !strings.Contains(err.Error(), "service web") || !strings.Contains(err.Error(), "RUN false") {
		t.Errorf("error %v, want one naming the service and the step", err)
	}
}

func TestBuildUnsupportedKeys(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  web:
    build:
      context: .
      ssh: [default]
      additional_contexts: {assets: ./assets}
`,
		"Dockerfile": "FROM scratch\n",
		"assets/a":   "a",
	})
	_, err := Build(context.Background(), servicetest.NewFake(), p, ImageOptions{})
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "service web: build.ssh, build.additional_contexts.assets") {
		t.Errorf("error %v", err)
	}
}

// bare is a backend with none of the optional interfaces.
type bare struct{ service.Backend }

func TestImagesNeedTheOptionalInterfaces(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": "name: proj\nservices:\n  web: {build: .}\n  db: {image: redis:7}\n",
		"Dockerfile":   "FROM scratch\n",
	})
	f := servicetest.NewFake()
	f.AddImage("redis:7", "sha256:r7")
	_, err := EnsureImages(context.Background(), bare{f}, p, ImageOptions{})
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "service web") {
		t.Errorf("build: %v, want ErrUnsupported naming the service", err)
	}
	f.AddImage("proj-web", "sha256:w")
	if _, err := EnsureImages(context.Background(), bare{f}, p, ImageOptions{}); err != nil {
		t.Errorf("nothing to pull or build: %v", err)
	}
	_, err = EnsureImages(context.Background(), bare{f}, p, ImageOptions{Pull: "always"})
	if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "service db") {
		t.Errorf("pull: %v, want ErrUnsupported naming the service", err)
	}
}

func TestEnsureImagesDryRun(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": "name: proj\nservices:\n  web: {build: .}\n  db: {image: redis:7}\n  cache: {image: memcached:1}\n",
		"Dockerfile":   "FROM scratch\n",
	})
	f := servicetest.NewFake()
	f.AddImage("memcached:1", "sha256:m1")
	var planned string
	ids, err := EnsureImages(context.Background(), f, p, ImageOptions{DryRun: true, OnPlan: func(plan *reconcile.Plan) {
		planned += plan.String()
	}})
	if err != nil {
		t.Fatal(err)
	}
	// one plan: the pulls, then the builds
	if want := "#1 pull image redis:7: not present\n#2 build image proj-web: not present\n"; planned != want {
		t.Errorf("planned\n%s\nwant\n%s", planned, want)
	}
	if fmt.Sprint(ids) != "map[cache:sha256:m1]" {
		t.Errorf("ids %v", ids)
	}
	if calls := append(imageCalls(f, "PullImage"), builtTags(f)...); len(calls) > 0 {
		t.Errorf("a dry run pulled or built %q", calls)
	}
}

func TestPullImages(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  built: {build: .}
  both: {build: ., image: reg.example/both:1}
  never: {image: never:1, pull_policy: never}
  missing: {image: present:1, pull_policy: missing}
  latest: {image: present:latest, pull_policy: missing}
  plain: {image: present:1}
  twin: {image: present:1}
  absent: {image: absent:1}
`,
		"Dockerfile": "FROM scratch\n",
	})
	newF := func() *servicetest.Fake {
		f := servicetest.NewFake()
		f.AddImage("present:1", "sha256:p1")
		f.AddImage("present:latest", "sha256:pl")
		f.AddRemoteImage("present:1", "sha256:p1new")
		f.AddRemoteImage("present:latest", "sha256:plnew")
		return f
	}
	f := newF()
	var skipped []string
	err := PullImages(context.Background(), f, p, ImageOptions{Progress: func(e ImageEvent) {
		if e.Skipped {
			skipped = append(skipped, e.Service+": "+e.Reason)
		}
	}})
	if err == nil || !strings.Contains(err.Error(), `service absent: pull image "absent:1"`) || strings.Contains(err.Error(), "both") {
		t.Errorf("error %v, want one for absent only (both can be built)", err)
	}
	// pull_policy missing skips present:1 but not present:latest; plain
	// (no policy) pulls it, for twin too
	if got, want := imageCalls(f, "PullImage"), []string{"absent:1", "present:1", "present:latest", "reg.example/both:1"}; !slices.Equal(got, want) {
		t.Errorf("pulled %q, want %q", got, want)
	}
	sort.Strings(skipped)
	want := []string{"built: no image to pull (it is built)", "missing: image is already present", "never: pull policy never", "twin: pulled for service plain"}
	if !slices.Equal(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}

	f = newF()
	err = PullImages(context.Background(), f, p, ImageOptions{IgnoreFailures: true, IgnoreBuildable: true, Pull: "always", Services: []string{"both", "absent", "never", "missing"}})
	if err != nil {
		t.Errorf("--ignore-pull-failures: %v", err)
	}
	if got, want := imageCalls(f, "PullImage"), []string{"absent:1", "never:1", "present:1"}; !slices.Equal(got, want) {
		t.Errorf("pulled %q, want %q (--policy always, --ignore-buildable)", got, want)
	}
	if err := PullImages(context.Background(), f, p, ImageOptions{Pull: "never"}); err == nil {
		t.Error("pull --policy never is accepted")
	}
}

func TestPushImagesRoundTrip(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  web: {build: {context: ., tags: ["reg.example/web:latest"]}, image: reg.example/web:1}
  local: {build: .}
  db: {image: redis:7}
`,
		"Dockerfile": "FROM scratch\n",
	})
	f := servicetest.NewFake()
	f.AddImage("redis:7", "sha256:r7")
	ids, err := Build(context.Background(), f, p, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := PushImages(context.Background(), f, p, ImageOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := imageCalls(f, "PushImage"), []string{"reg.example/web:1", "reg.example/web:latest"}; !slices.Equal(got, want) {
		t.Errorf("pushed %q, want %q", got, want)
	}
	if id, ok := f.RemoteImage("reg.example/web:1"); !ok || id != ids["web"] {
		t.Errorf("registry has %q, %v; want %q", id, ok, ids["web"])
	}
	// back: remove it locally, pull it
	if err := f.RemoveImage(context.Background(), "reg.example/web:1", false); err != nil {
		t.Fatal(err)
	}
	got, err := EnsureImages(context.Background(), f, p, ImageOptions{Services: []string{"web"}})
	if err != nil || got["web"] != ids["web"] {
		t.Errorf("pulled back %v, %v; want %q", got, err, ids["web"])
	}

	f = servicetest.NewFake()
	err = PushImages(context.Background(), f, p, ImageOptions{})
	if err == nil || !strings.Contains(err.Error(), "service web: push image \"reg.example/web:1\"") {
		t.Errorf("pushing what was not built: %v", err)
	}
	if err := PushImages(context.Background(), f, p, ImageOptions{IgnoreFailures: true}); err != nil {
		t.Errorf("--ignore-push-failures: %v", err)
	}
}

func TestDownRemovesImages(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  web: {build: {context: ., tags: ["extra:1"]}}
  api: {build: ., image: reg.example/api:1}
  db: {image: redis:7}
`,
		"Dockerfile": "FROM scratch\nLABEL service=x\n",
	})
	ctx := context.Background()
	setup := func() *servicetest.Fake {
		f := newFake(t)
		f.AddImage("redis:7", "sha256:r7")
		ids, err := EnsureImages(ctx, f, p, ImageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := reconcile.Converge(ctx, f, p, reconcile.Options{ImageIDs: ids}, reconcile.ApplyOptions{}, false, nil); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		mode   string
		noFile bool
		want   []string
	}{
		{mode: "local", want: []string{"proj-web"}},
		{mode: "all", want: []string{"extra:1", "proj-web", "redis:7", "reg.example/api:1"}},
		{mode: "local", noFile: true, want: []string{"proj-web"}},
		{mode: "all", noFile: true, want: []string{"proj-web", "redis:7", "reg.example/api:1"}},
	} {
		t.Run(fmt.Sprintf("%s without file %v", c.mode, c.noFile), func(t *testing.T) {
			f := setup()
			pp := p
			if c.noFile {
				pp = nil
			}
			obs, err := reconcile.Observe(ctx, f, "proj", pp)
			if err != nil {
				t.Fatal(err)
			}
			images, err := DownImages(ctx, f, pp, obs, c.mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(images, c.want) {
				t.Fatalf("images %q, want %q", images, c.want)
			}
			plan := reconcile.Down(pp, obs, reconcile.DownOptions{Images: images})
			for _, s := range plan.Steps {
				if s.Op == reconcile.OpRemoveImage && len(s.Deps) != plan.Count(reconcile.OpRemoveContainer) {
					t.Errorf("%s: want it after every container removal", s)
				}
			}
			if err := reconcile.Apply(ctx, f, plan, reconcile.ApplyOptions{Project: "proj"}); err != nil {
				t.Fatal(err)
			}
			for _, ref := range c.want {
				if _, err := f.InspectImage(ctx, ref); !errors.Is(err, service.ErrNotFound) {
					t.Errorf("image %s is still there (%v)", ref, err)
				}
			}
		})
	}
	if _, err := DownImages(ctx, servicetest.NewFake(), p, &reconcile.Observed{}, "some", nil); err == nil {
		t.Error("--rmi some is accepted")
	}
}

func TestBuildTargets(t *testing.T) {
	p := loadTree(t, map[string]string{
		"compose.yaml": `
name: proj
services:
  web: {build: {context: ., dockerfile_inline: "FROM scratch", additional_contexts: {b: "service:db"}}}
  db: {build: ., image: redis:7}
  cache: {image: memcached:1}
`,
	})
	targets, err := BuildTargets(p, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 || targets[1].Service != "web" || targets[1].DockerfileInline != "FROM scratch" || targets[1].Context != p.WorkingDir ||
		!slices.Equal(targets[1].After, []string{"db"}) || !slices.Equal(targets[1].Spec.Tags, []string{"proj-web"}) ||
		targets[0].Service != "db" || !slices.Equal(targets[0].Spec.Tags, []string{"redis:7"}) {
		t.Errorf("targets %+v", targets)
	}
	if _, err := BuildTargets(p, ImageOptions{Services: []string{"nope"}}); err == nil {
		t.Error("an unknown service is accepted")
	}
}

func TestRepository(t *testing.T) {
	for ref, want := range map[string]string{
		"app":                             "app",
		"app:1":                           "app",
		"127.0.0.1:5000/team/app:1":       "127.0.0.1:5000/team/app",
		"127.0.0.1:5000/team/app":         "127.0.0.1:5000/team/app",
		"registry/app@sha256:0123":        "registry/app",
		"registry:443/app:v2@sha256:0123": "registry:443/app",
	} {
		if got := repository(ref); got != want {
			t.Errorf("repository(%q) = %q, want %q", ref, got, want)
		}
	}
}
