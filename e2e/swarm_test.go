package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// swarmCompose is the 3-tier project of #15 on the private swarm: db with a
// healthcheck and a volume, api depending on db healthy with a secret and
// a config, web with a host-mode port serving the config.
const swarmCompose = `
services:
  db:
    image: ` + swarmImage + `
    command: ["sh", "-c", "echo ready > /data/ready; exec sleep 3600"]
    stop_grace_period: 1s
    volumes:
      - dbdata:/data
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      retries: 10
  api:
    image: ` + swarmImage + `
    command: ["sh", "-c", "test -s /run/secrets/app_key && exec httpd -f -p 8080 -h /srv"]
    stop_grace_period: 1s
    environment:
      LEVEL: ${API_LEVEL:-info}
    depends_on:
      db:
        condition: service_healthy
    secrets:
      - app_key
    configs:
      - source: site
        target: /srv/index.html
  web:
    image: ${WEB_IMAGE:-` + swarmImage + `}
    command: ["httpd", "-f", "-p", "80", "-h", "/srv"]
    stop_grace_period: 1s
    depends_on: [api]
    configs:
      - source: site
        target: /srv/index.html
    ports:
      - target: 80
        published: "18081"
        mode: host
    deploy:
      endpoint_mode: dnsrr
volumes:
  dbdata: {}
secrets:
  app_key:
    environment: APP_KEY
configs:
  site:
    content: <h1>berth on a swarm</h1>
`

// TestSwarmDeploy deploys the 3-tier project to the private one-node swarm:
// --dry-run changes nothing; deploy blocks until it converges and serves
// its page; docker stack ps sees it; a second deploy is a no-op; an env
// change updates that service only; a broken image fails the deploy naming
// the task; deploy rm leaves nothing.
func TestSwarmDeploy(t *testing.T) {
	e := requireSwarm(t)
	p := newProject(t, map[string]string{"compose.yaml": swarmCompose})
	p.env = []string{"DOCKER_HOST=" + e.host, "APP_KEY=k1"}
	label := "label=com.docker.stack.namespace=" + p.name
	t.Cleanup(func() {
		if r := p.run("deploy", "rm"); r.code != 0 {
			t.Logf("deploy rm: %s", r.stderr)
		}
	})

	dry := p.mustRun(t, "--dry-run", "deploy")
	for _, want := range []string{"create service " + p.name + "_db", "create secret " + p.name + "_app_key_", "wait for service " + p.name + "_web"} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("--dry-run deploy does not print %q:\n%s", want, dry.stdout)
		}
	}
	if out := e.mustDocker(t, "service", "ls", "-q", "--filter", label); out != "" {
		t.Fatalf("--dry-run deploy created services: %s", out)
	}

	start := time.Now()
	p.mustRun(t, "deploy")
	t.Logf("deploy to converged: %v", time.Since(start).Round(time.Millisecond))
	// blocked until converged: every service runs its tasks now
	for _, svc := range []string{"db", "api", "web"} {
		if got := e.mustDocker(t, "service", "ls", "--filter", "name="+p.name+"_"+svc, "--format", "{{.Replicas}}"); got != "1/1" {
			t.Errorf("after deploy, service %s replicas = %q, want 1/1", svc, got)
		}
	}
	// api (depends_on db: service_healthy) was created once db was healthy:
	// a swarm task with a healthcheck is "starting" until its first
	// healthy probe, and the wait step waits for "running"
	const rfc = `"2006-01-02T15:04:05.999999999Z07:00"`
	dbTask := e.mustDocker(t, "service", "ps", "-q", "--filter", "desired-state=running", p.name+"_db")
	healthy := e.mustDocker(t, "inspect", "--format", "{{.Status.State}} {{.Status.Timestamp.UTC.Format "+rfc+"}}", dbTask)
	created := e.mustDocker(t, "service", "inspect", "--format", "{{.CreatedAt.UTC.Format "+rfc+"}}", p.name+"_api")
	state, at, _ := strings.Cut(healthy, " ")
	dbRunning, err1 := time.Parse(time.RFC3339Nano, at)
	apiCreated, err2 := time.Parse(time.RFC3339Nano, created)
	if state != "running" || err1 != nil || err2 != nil || apiCreated.Before(dbRunning) {
		t.Errorf("api created at %s, db's task %q (%v %v): api must wait for db healthy", created, healthy, err1, err2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if page, err := e.inNetns(ctx, busyboxPath, "wget", "-q", "-O", "-", "http://127.0.0.1:18081/"); err != nil || !strings.Contains(page, "berth on a swarm") {
		t.Errorf("web does not serve its page: %q %v", page, err)
	}
	if out := e.mustDocker(t, "stack", "ps", "--format", "{{.Name}} {{.CurrentState}}", p.name); strings.Count(out, "Running") != 3 {
		t.Errorf("docker stack ps %s:\n%s", p.name, out)
	}
	if ps := p.mustRun(t, "deploy", "ps"); !strings.Contains(ps.stdout, p.name+"_web   1/1") && !strings.Contains(ps.stdout, p.name+"_web") {
		t.Errorf("deploy ps:\n%s", ps.stdout)
	}

	versions := func() string {
		return e.mustDocker(t, "service", "inspect", "--format", "{{.Spec.Name}}={{.Version.Index}}", p.name+"_db", p.name+"_api", p.name+"_web")
	}
	before := versions()
	if r := p.mustRun(t, "--dry-run", "deploy"); !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("a second deploy plans:\n%s", r.stdout)
	}
	p.mustRun(t, "deploy")
	if after := versions(); after != before {
		t.Errorf("a no-op deploy changed services:\nbefore %s\nafter  %s", before, after)
	}

	p.env = append(p.env, "API_LEVEL=debug")
	if r := p.mustRun(t, "--dry-run", "deploy"); strings.TrimSpace(r.stdout) != "#1 update service "+p.name+"_api: env changed\n#2 wait for service "+p.name+"_api (after #1)" {
		t.Errorf("env change plans:\n%s", r.stdout)
	}
	p.mustRun(t, "deploy")
	b, a := strings.Fields(before), strings.Fields(versions())
	if len(a) != 3 || a[0] != b[0] || a[2] != b[2] || a[1] == b[1] {
		t.Errorf("env change of api: versions before %v, after %v: want only api's changed", b, a)
	}

	p.env = append(p.env, "WEB_IMAGE="+busyboxRepo+":missing")
	r := p.run("deploy")
	if r.code == 0 || !strings.Contains(r.stderr, "task") || !strings.Contains(r.stderr, p.name+"_web") {
		t.Errorf("deploy of a missing image: exit %d, want a failure naming the task of %s_web\n%s", r.code, p.name, r.stderr)
	}
	t.Logf("deploy of a missing image: %s", lastLine(r.stderr))

	p.mustRun(t, "deploy", "rm")
	for _, kind := range []string{"service", "secret", "config", "network"} {
		waitFor(t, 30*time.Second, "deploy rm to remove every "+kind, func() (bool, string) {
			out, err := e.docker(context.Background(), nil, kind, "ls", "-q", "--filter", label)
			return err == nil && out == "", out
		})
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// swarmRollbackCompose is a service whose update the swarm rolls back when
// BREAK is set: the new task writes two lines and exits 3.
const swarmRollbackCompose = `
services:
  app:
    image: ` + swarmImage + `
    command: ["sh", "-c", "if [ -n \"$$BREAK\" ]; then echo starting with BREAK; echo fatal: BREAK is set >&2; exit 3; fi; echo serving; exec sleep 3600"]
    stop_grace_period: 1s
    environment:
      BREAK: ${BREAK:-}
    deploy:
      update_config:
        failure_action: rollback
        monitor: 3s
      rollback_config:
        monitor: 1s
`

// TestSwarmDeployRollback: an update that the swarm rolls back
// (failure_action: rollback) fails berth deploy, which names the failed
// task, its node, its error and its last log lines; the old spec runs
// again. deploy logs prints the service's output; deploy ps --format json
// and a template list it.
func TestSwarmDeployRollback(t *testing.T) {
	e := requireSwarm(t)
	p := newProject(t, map[string]string{"compose.yaml": swarmRollbackCompose})
	p.env = []string{"DOCKER_HOST=" + e.host}
	t.Cleanup(func() {
		if r := p.run("deploy", "rm"); r.code != 0 {
			t.Logf("deploy rm: %s", r.stderr)
		}
	})
	p.mustRun(t, "deploy")
	waitFor(t, 30*time.Second, "deploy logs to print the app's output", func() (bool, string) {
		r := p.run("deploy", "logs", "--no-color", "app")
		return r.code == 0 && strings.Contains(r.stdout, "app  | serving"), r.stdout + r.stderr
	})
	if ps := p.mustRun(t, "deploy", "ps", "--format", "{{.Service}} {{.Replicas}}"); strings.TrimSpace(ps.stdout) != "app 1/1" {
		t.Errorf("deploy ps --format template:\n%s", ps.stdout)
	}
	if ps := p.mustRun(t, "deploy", "ps", "--format", "json"); !strings.Contains(ps.stdout, `"Name":"`+p.name+`_app"`) || !strings.Contains(ps.stdout, `"Replicas":"1/1"`) {
		t.Errorf("deploy ps --format json:\n%s", ps.stdout)
	}

	p.env = append(p.env, "BREAK=1")
	start := time.Now()
	r := p.run("deploy")
	t.Logf("deploy of a broken update failed after %v:\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
	for _, want := range []string{
		"service " + p.name + "_app: the swarm rolled the update back (rollback_",
		"on node ", "failed: task: non-zero exit (3)",
		"last log lines of task ", "  starting with BREAK", "  fatal: BREAK is set",
	} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("deploy of an update rolled back: exit %d, stderr does not say %q", r.code, want)
		}
	}
	// the swarm put the old spec back, and it runs
	waitFor(t, 60*time.Second, "the rolled-back service to run its old spec", func() (bool, string) {
		env, err := e.docker(context.Background(), nil, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Env}} {{.UpdateStatus.State}}", p.name+"_app")
		reps, _ := e.docker(context.Background(), nil, "service", "ls", "--filter", "name="+p.name+"_app", "--format", "{{.Replicas}}")
		return err == nil && strings.Contains(env, "[BREAK=]") && strings.HasSuffix(env, "rollback_completed") && reps == "1/1", env + " " + reps
	})
	ps := p.mustRun(t, "deploy", "ps")
	if !strings.Contains(ps.stdout, "non-zero exit (3)") {
		t.Errorf("deploy ps does not show the failed task with its error:\n%s", ps.stdout)
	}
}

// TestSwarmDeployDigest: as docker stack deploy, a service whose image is
// in a registry runs image@digest (the registry runs in the private
// swarm's network namespace, where the swarm's dockerd reaches it on
// 127.0.0.1), and carries com.docker.stack.image with the image as the
// file names it; an image no registry knows (loaded on the node) keeps its
// tag, and berth deploy says why; a service with build: is built and
// pushed there by deploy --build. A second deploy changes nothing; deploy
// rm removes the network once the tasks let go of it.
func TestSwarmDeployDigest(t *testing.T) {
	e := requireSwarm(t)
	reg := startRegistryIn(t, e.name)
	image := reg + "/berthe2e/digest:v1"
	e.mustDocker(t, "tag", swarmImage, image)
	e.mustDocker(t, "push", "-q", image)
	repoDigest := e.mustDocker(t, "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", image)
	_, digest, ok := strings.Cut(strings.Fields(repoDigest)[0], "@")
	if !ok {
		t.Fatalf("no digest of %s after push: %q", image, repoDigest)
	}
	compose := `
services:
  pinned:
    image: ` + image + `
    command: ["sleep", "3600"]
    stop_grace_period: 1s
  built:
    image: ` + reg + `/berthe2e/built:v1
    build: .
    command: ["sh", "-c", "cat /built; exec sleep 3600"]
    stop_grace_period: 1s
  local:
    image: ` + swarmImage + `
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`
	p := newProject(t, map[string]string{"compose.yaml": compose,
		"Dockerfile": "FROM " + swarmImage + "\nRUN echo built by berth > /built\n"})
	p.env = []string{"DOCKER_HOST=" + e.host}
	t.Cleanup(func() {
		if r := p.run("deploy", "rm"); r.code != 0 {
			t.Logf("deploy rm: %s", r.stderr)
		}
	})
	r := p.mustRun(t, "deploy", "--build")
	if want := "image " + swarmImage + " could not be accessed on a registry to record its digest"; !strings.Contains(r.stderr, want) {
		t.Errorf("deploy does not warn %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "image "+image+" could not") {
		t.Errorf("deploy warns about the image in the registry:\n%s", r.stderr)
	}
	inspect := func(svc string) string {
		return e.mustDocker(t, "service", "inspect", "--format", `{{.Spec.TaskTemplate.ContainerSpec.Image}} {{index .Spec.Labels "com.docker.stack.image"}}`, p.name+"_"+svc)
	}
	if got, want := inspect("pinned"), image+"@"+digest+" "+image; got != want {
		t.Errorf("service pinned: image and label %q, want %q", got, want)
	}
	if got, want := inspect("local"), swarmImage+" "+swarmImage; got != want {
		t.Errorf("service local: image and label %q, want %q", got, want)
	}
	// --build built the image on the swarm's engine and pushed it: the
	// service runs it from the registry, by digest
	if got := inspect("built"); !strings.HasPrefix(got, reg+"/berthe2e/built:v1@sha256:") {
		t.Errorf("service built: image and label %q, want %s/berthe2e/built:v1@sha256:...", got, reg)
	}
	waitFor(t, 30*time.Second, "the built service to print what its build wrote", func() (bool, string) {
		r := p.run("deploy", "logs", "--no-log-prefix", "built")
		return strings.Contains(r.stdout, "built by berth"), r.stdout + r.stderr
	})
	if r := p.mustRun(t, "--dry-run", "deploy"); !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("a second deploy plans:\n%s", r.stdout)
	}
	// sleep as PID 1 ignores SIGTERM: the tasks hold the network for their
	// grace period, and deploy rm waits for them to let go
	p.mustRun(t, "deploy", "rm")
}
