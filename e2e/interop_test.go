package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The interoperability tests: berth and Debian's docker-compose (the Python
// docker-compose v1, 1.29.2, which .ci/deps.sh installs) each act on the
// other's project. What v1 does differently from docker compose v2, and so
// from berth:
//
//   - it names containers <project>_<service>_<n> (underscores), not
//     <project>-<service>-<n>, and one-off containers
//     <project>_<service>_run_<12 hex>;
//   - it computes another com.docker.compose.config-hash, so each tool
//     recreates the other's containers on up (under its own naming);
//   - it writes com.docker.compose.version=1.29.2 and none of v2's newer
//     labels (depends_on, image, ...).
//
// The labels both tools select on are the same: com.docker.compose.project,
// .service, .container-number and .oneoff ("True"/"False") on containers,
// com.docker.compose.project and .network on networks, and the default
// network is <project>_default in both.
//
// The tests are run against v1. Should a standalone docker-compose v2 be on
// PATH instead, they expect v2's names (see composeCLI.containerName).

// composeCLI is the docker-compose found on PATH.
type composeCLI struct {
	path    string
	version string // from `docker-compose version --short`, e.g. 1.29.2
	err     error  // why docker-compose is unusable although present
}

var (
	composeOnce  sync.Once
	composeFound *composeCLI // nil when docker-compose is not on PATH
)

// requireCompose returns docker-compose after requireEngine. It skips the
// test when docker-compose is not on PATH, except under CI=true, where
// .ci/deps.sh installs it and its absence fails the test. A docker-compose
// that is present but does not run fails the test.
func requireCompose(t *testing.T) *composeCLI {
	t.Helper()
	requireEngine(t)
	composeOnce.Do(func() {
		path, err := exec.LookPath("docker-compose")
		if err != nil {
			return
		}
		c := &composeCLI{path: path}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		r := command(ctx, "", nil, nil, path, "version", "--short")
		c.version = strings.TrimPrefix(strings.TrimSpace(r.stdout), "v")
		if r.code != 0 || c.version == "" {
			c.err = fmt.Errorf("%s version --short: exit %d: %s", path, r.code, strings.TrimSpace(r.stderr))
		}
		composeFound = c
	})
	switch {
	case composeFound == nil && inCI:
		t.Fatal("CI=true and docker-compose is not on PATH: .ci/deps.sh installs Debian's docker-compose; run make deps")
	case composeFound == nil:
		t.Skip("docker-compose is not on PATH: run make deps (it installs Debian's docker-compose 1.29.2)")
	case composeFound.err != nil:
		t.Fatalf("docker-compose is on PATH but does not run: %v", composeFound.err)
	}
	return composeFound
}

// v1 reports whether this docker-compose is the Python v1.
func (c *composeCLI) v1() bool { return strings.HasPrefix(c.version, "1.") }

// containerName is the name docker-compose gives replica n of svc in p.
func (c *composeCLI) containerName(p *testProject, svc string, n int) string {
	if c.v1() {
		return fmt.Sprintf("%s_%s_%d", p.name, svc, n)
	}
	return fmt.Sprintf("%s-%s-%d", p.name, svc, n)
}

// run runs docker-compose -p p.name args in the project directory with
// berth's environment (p.environ: COMPOSE_PROJECT_NAME is set there too).
func (c *composeCLI) run(p *testProject, args ...string) result {
	ctx, cancel := context.WithTimeoutCause(context.Background(), commandTimeout,
		fmt.Errorf("docker-compose ran longer than %v", commandTimeout))
	defer cancel()
	return command(ctx, p.dir, p.environ(), nil, c.path, append([]string{"-p", p.name}, args...)...)
}

// mustRun is run that fails the test unless docker-compose exits 0.
func (c *composeCLI) mustRun(t *testing.T, p *testProject, args ...string) result {
	t.Helper()
	r := c.run(p, args...)
	if r.code != 0 {
		t.Fatalf("docker-compose %s (%s): exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), c.version, r.code, r.stdout, r.stderr)
	}
	return r
}

// interopFile is a two-service project: web prints a line, then both sleep.
// SIGKILL makes stop and down immediate in both tools.
func interopFile() string {
	return fmt.Sprintf(`
services:
  web:
    image: %[1]s
    command: ["sh", "-c", "echo hello from web; exec sleep 3600"]
    stop_signal: SIGKILL
  worker:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
`, busyboxImage())
}

// engineContainer is a container of the project as the engine lists it.
type engineContainer struct {
	ID, Name, Service, Number, Oneoff, State, Version string
}

// engineContainers lists every container labelled with p's project, with
// docker itself (not berth, not docker-compose).
func engineContainers(t *testing.T, p *testProject) []engineContainer {
	t.Helper()
	out := docker(t, "ps", "-a", "--no-trunc", "--filter", "label=com.docker.compose.project="+p.name, "--format",
		`{{json .ID}} {{json .Names}} {{json (.Label "com.docker.compose.service")}} {{json (.Label "com.docker.compose.container-number")}} `+
			`{{json (.Label "com.docker.compose.oneoff")}} {{json .State}} {{json (.Label "com.docker.compose.version")}}`)
	var cs []engineContainer
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		var c engineContainer
		d := json.NewDecoder(strings.NewReader(line))
		for _, f := range []*string{&c.ID, &c.Name, &c.Service, &c.Number, &c.Oneoff, &c.State, &c.Version} {
			if err := d.Decode(f); err != nil {
				t.Fatalf("docker ps line %q: %v", line, err)
			}
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs
}

// engineNetworks lists the names of the networks labelled with p's project.
func engineNetworks(t *testing.T, p *testProject) []string {
	t.Helper()
	return strings.Fields(docker(t, "network", "ls", "--filter", "label=com.docker.compose.project="+p.name, "--format", "{{.Name}}"))
}

// requireNothingLeft fails the test if any container or network still
// carries p's project label.
func requireNothingLeft(t *testing.T, p *testProject, after string) {
	t.Helper()
	if cs := engineContainers(t, p); len(cs) != 0 {
		t.Errorf("after %s, containers are left: %+v", after, cs)
	}
	if ns := engineNetworks(t, p); len(ns) != 0 {
		t.Errorf("after %s, networks are left: %v", after, ns)
	}
}

// composePsUp returns the names docker-compose ps shows with the state Up.
// v1 prints a table "Name  Command  State  Ports" with the state "Up"; v2
// one with a STATUS such as "Up 2 seconds". Both start a row with the name.
func composePsUp(out string) map[string]bool {
	up := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(f[1:], "Up") {
			up[f[0]] = true
		}
	}
	return up
}

// eventually retries check every 100ms for up to 10s, until it returns "";
// it then fails the test with check's last message.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestInteropComposeSeesBerth: docker-compose lists a project berth
// started, and takes it down. v1 has no trouble with berth's
// <project>-<service>-<n> names: it selects containers by label only (ps,
// ps -q and down all act on them; down also removes the <project>_default
// network berth created, which carries the same labels as v1's).
func TestInteropComposeSeesBerth(t *testing.T) {
	dc := requireCompose(t)
	p := newProject(t, map[string]string{"compose.yaml": interopFile()})

	p.mustRun(t, "up", "-d")
	ps := p.ps(t)
	web, worker := ps[p.name+"-web-1"], ps[p.name+"-worker-1"]
	if web.State != "running" || worker.State != "running" || len(ps) != 2 {
		t.Fatalf("after berth up -d: %+v", ps)
	}

	out := dc.mustRun(t, p, "ps").stdout
	up := composePsUp(out)
	for _, name := range []string{p.name + "-web-1", p.name + "-worker-1"} {
		if !up[name] {
			t.Errorf("docker-compose ps does not list %s as Up:\n%s", name, out)
		}
	}
	if len(up) != 2 {
		t.Errorf("docker-compose ps lists %d containers Up, want 2:\n%s", len(up), out)
	}
	ids := strings.Fields(dc.mustRun(t, p, "ps", "-q").stdout)
	for i, id := range ids {
		ids[i] = id[:min(12, len(id))] // berth's ps --format json has the short ID, as docker compose's
	}
	sort.Strings(ids)
	want := []string{web.ID, worker.ID}
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Errorf("docker-compose ps -q = %v, want berth's IDs %v", ids, want)
	}

	r := dc.mustRun(t, p, "down")
	requireNothingLeft(t, p, "docker-compose down:\n"+r.stderr)
}

// TestInteropBerthManagesCompose: berth lists, reads the logs of, stops and
// takes down a project docker-compose started, with v1's names.
func TestInteropBerthManagesCompose(t *testing.T) {
	dc := requireCompose(t)
	p := newProject(t, map[string]string{"compose.yaml": interopFile()})

	dc.mustRun(t, p, "up", "-d")
	webName, workerName := dc.containerName(p, "web", 1), dc.containerName(p, "worker", 1)
	cs := engineContainers(t, p)
	if len(cs) != 2 || cs[0].Name != webName || cs[1].Name != workerName {
		t.Fatalf("after docker-compose up -d, the engine has %+v; want %s and %s", cs, webName, workerName)
	}
	// the default network, labelled as berth labels its own
	network := p.name + "_default"
	if got := docker(t, "network", "inspect", "--format",
		`{{index .Labels "com.docker.compose.project"}} {{index .Labels "com.docker.compose.network"}}`, network); got != p.name+" default" {
		t.Errorf("labels of %s: %q", network, got)
	}

	ps := p.ps(t)
	if len(ps) != 2 {
		t.Errorf("berth ps lists %d containers, want 2: %+v", len(ps), ps)
	}
	for name, svc := range map[string]string{webName: "web", workerName: "worker"} {
		if e := ps[name]; e.Service != svc || e.State != "running" {
			t.Errorf("berth ps: %s is %+v, want service %s running", name, e, svc)
		}
	}

	eventually(t, func() string {
		r := p.mustRun(t, "logs", "--no-color")
		if !strings.Contains(r.stdout, "hello from web") {
			return fmt.Sprintf("berth logs lacks web's line:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		return ""
	})

	p.mustRun(t, "stop")
	if ps := p.ps(t); len(ps) != 0 {
		t.Errorf("berth ps after berth stop lists running containers: %+v", ps)
	}
	psa := p.ps(t, "-a")
	for _, name := range []string{webName, workerName} {
		if psa[name].State != "exited" {
			t.Errorf("berth ps -a after berth stop: %s is %+v, want exited", name, psa[name])
		}
	}

	r := p.mustRun(t, "down")
	requireNothingLeft(t, p, "berth down:\n"+r.stderr)
}

// TestInteropUpAfterCompose: berth up converges a project docker-compose
// started. v1's config hash differs from berth's, so berth recreates every
// container under its own name (its plan first renames <p>_<svc>_<n> to
// <p>-<svc>-<n>, then replaces it); what matters is that it converges and
// leaves exactly one container per service and number.
func TestInteropUpAfterCompose(t *testing.T) {
	dc := requireCompose(t)
	p := newProject(t, map[string]string{"compose.yaml": interopFile()})

	dc.mustRun(t, p, "up", "-d", "--scale", "worker=2")
	if cs := engineContainers(t, p); len(cs) != 3 {
		t.Fatalf("after docker-compose up -d --scale worker=2: %+v", cs)
	}

	p.mustRun(t, "up", "-d", "--scale", "worker=2")
	if out := p.mustRun(t, "up", "-d", "--dry-run", "--scale", "worker=2").stdout; !strings.Contains(out, "Nothing to do") {
		t.Errorf("berth up did not converge: a second up plans\n%s", out)
	}

	cs := engineContainers(t, p)
	replicas := map[string][]string{} // service/number → names
	for _, c := range cs {
		key := c.Service + "/" + c.Number
		replicas[key] = append(replicas[key], c.Name)
		if c.State != "running" {
			t.Errorf("%s is %s, want running", c.Name, c.State)
		}
	}
	for key, names := range replicas {
		if len(names) != 1 {
			t.Errorf("replica %s has %d containers: %v", key, len(names), names)
		}
	}
	ps := p.ps(t)
	for _, name := range []string{p.name + "-web-1", p.name + "-worker-1", p.name + "-worker-2"} {
		if ps[name].State != "running" {
			t.Errorf("after berth up, %s is not running: %+v", name, ps)
		}
	}
	if len(replicas) != 3 || len(ps) != 3 {
		t.Errorf("after berth up, want web/1, worker/1, worker/2; the engine has %+v", cs)
	}
	// berth reused the network docker-compose created
	if ns := engineNetworks(t, p); !slices.Equal(ns, []string{p.name + "_default"}) {
		t.Errorf("networks after berth up: %v", ns)
	}

	p.mustRun(t, "down")
	requireNothingLeft(t, p, "berth down")
}

// TestInteropComposeRunOneOff: a one-off container of docker-compose run
// (v1 names it <p>_<svc>_run_<12 hex>, labels it com.docker.compose.oneoff=True).
func TestInteropComposeRunOneOff(t *testing.T) {
	dc := requireCompose(t)
	p := newProject(t, map[string]string{"compose.yaml": interopFile()})

	dc.mustRun(t, p, "up", "-d")
	runName := strings.TrimSpace(dc.mustRun(t, p, "run", "-d", "worker", "sleep", "3600").stdout)
	var oneoff engineContainer
	for _, c := range engineContainers(t, p) {
		if c.Oneoff == "True" {
			oneoff = c
		}
	}
	if oneoff.ID == "" || oneoff.Name != runName || oneoff.Service != "worker" {
		t.Fatalf("docker-compose run -d printed %q; the engine has the one-off %+v", runName, oneoff)
	}

	if e := p.ps(t, "-a")[oneoff.Name]; e.Service != "worker" || e.State != "running" {
		t.Errorf("berth ps -a: the one-off %s is %+v, want service worker running", oneoff.Name, e)
	}
	t.Run("ps without -a leaves one-offs out", func(t *testing.T) {
		// docker compose ps lists one-off containers only with -a.
		ps := p.ps(t)
		if _, listed := ps[oneoff.Name]; listed {
			t.Errorf("berth ps without -a lists the one-off %s", oneoff.Name)
		}
		if len(ps) != 2 {
			t.Errorf("berth ps: %+v", ps)
		}
	})

	// down leaves one-off containers (and so the network they use) to
	// --remove-orphans, as docker compose does
	r := p.mustRun(t, "down")
	for _, c := range engineContainers(t, p) {
		if c.Oneoff != "True" {
			t.Errorf("berth down left the service container %s\nstderr:\n%s", c.Name, r.stderr)
		}
	}
	r = p.mustRun(t, "down", "--remove-orphans")
	requireNothingLeft(t, p, "berth down --remove-orphans:\n"+r.stderr)
}
