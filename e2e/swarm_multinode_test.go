package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The multi-node swarm tests (#15) run with BERTH_E2E_SWARM_NODES=2, which
// make e2e sets under CI=true: two private engines, each in its network
// namespace, joined by a veth pair, in one swarm (requireSwarmCluster).

// multiNodeCompose is the 3-tier project of TestSwarmDeploy spread over
// the two nodes of the private swarm — db (healthcheck, volume) and api on
// the worker, web on the manager with a host-mode port — plus idle
// services placed on the nodes: one global, three by a constraint on
// node.role, node.labels and node.hostname (two replicas each, which the
// scheduler would otherwise spread over both nodes). Before it serves, web
// on the manager fetches api's page on the worker by name over the
// project's overlay network (api.html). Every endpoint is dnsrr: this
// kernel may have no IPVS. ${MANAGER} is the manager's hostname.
const multiNodeCompose = `
x-idle: &idle
  image: ` + swarmImage + `
  command: ["sleep", "3600"]
  stop_signal: SIGKILL
services:
  db:
    image: ` + swarmImage + `
    command: ["sh", "-c", "echo ready > /data/ready; exec sleep 3600"]
    stop_signal: SIGKILL
    volumes:
      - dbdata:/data
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      retries: 10
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role == worker]
  api:
    image: ` + swarmImage + `
    command: ["sh", "-c", "test -s /run/secrets/app_key && exec httpd -f -p 8080 -h /srv"]
    stop_signal: SIGKILL
    depends_on:
      db:
        condition: service_healthy
    secrets:
      - app_key
    configs:
      - source: site
        target: /srv/index.html
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role == worker]
  web:
    image: ` + swarmImage + `
    command: ["sh", "-c", "until wget -q -O /srv/api.html http://api:8080/; do sleep 0.2; done; exec httpd -f -p 80 -h /srv"]
    stop_signal: SIGKILL
    depends_on: [api]
    configs:
      - source: site
        target: /srv/index.html
    ports:
      - target: 80
        published: "18082"
        mode: host
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: ["node.hostname == ${MANAGER}"]
  everywhere:
    <<: *idle
    deploy:
      mode: global
      endpoint_mode: dnsrr
  byrole:
    <<: *idle
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role == worker]
  bylabel:
    <<: *idle
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      placement:
        constraints: [node.labels.berth.e2e.zone == b]
  byhostname:
    <<: *idle
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      placement:
        constraints: ["node.hostname == ${MANAGER}"]
volumes:
  dbdata: {}
secrets:
  app_key:
    environment: APP_KEY
configs:
  site:
    content: <h1>berth on two nodes</h1>
`

// TestSwarmMultiNode deploys with berth to a two-node private swarm: the
// 3-tier project converges across the two nodes and serves; a global
// service runs one task on each node; placement constraints on node.role,
// node.labels and node.hostname put every replica where they say; web on
// the manager reaches api on the worker by name over the overlay network
// (the only path between the nodes is the veth pair); VIP and the ingress
// mesh are skipped without IPVS; deploy rm leaves nothing on either node;
// and the stopped cluster leaves nothing behind (requireSwarmCluster's
// cleanup).
func TestSwarmMultiNode(t *testing.T) {
	start := time.Now()
	c := requireSwarmCluster(t)
	m, w := c.manager, c.worker
	nodes := map[string]string{m.name: "manager", w.name: "worker"}
	mgr, wkr := "manager("+m.name+")", "worker("+w.name+")"
	// tasks returns the nodes, as mgr and wkr, of svc's running tasks.
	tasks := func(t *testing.T, svc string) []string {
		t.Helper()
		out := m.mustDocker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", svc)
		var on []string
		for line := range strings.Lines(out) {
			node, state, _ := strings.Cut(strings.TrimSpace(line), " ")
			if !strings.HasPrefix(state, "Running") {
				t.Errorf("service %s: a task on %s is %q, not running", svc, node, state)
			}
			on = append(on, nodes[node]+"("+node+")")
		}
		slices.Sort(on)
		return on
	}

	p := newProject(t, map[string]string{"compose.yaml": multiNodeCompose})
	p.env = []string{"DOCKER_HOST=" + m.host, "MANAGER=" + m.name, "APP_KEY=k1"}
	deployed := time.Now()
	p.mustRun(t, "deploy")
	t.Logf("deploy to converged on two nodes: %v", time.Since(deployed).Round(time.Millisecond))

	t.Run("three-tier", func(t *testing.T) {
		for svc, want := range map[string]string{"db": wkr, "api": wkr, "web": mgr} {
			if got := tasks(t, p.name+"_"+svc); !slices.Equal(got, []string{want}) {
				t.Errorf("service %s runs on %v, want %s", svc, got, want)
			}
		}
		for _, path := range []string{"/", "/api.html"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			page, err := m.inNetns(ctx, busyboxPath, "wget", "-q", "-O", "-", "http://127.0.0.1:18082"+path)
			cancel()
			if err != nil || !strings.Contains(page, "berth on two nodes") {
				t.Errorf("web on the manager does not serve %s: %q %v", path, page, err)
			}
		}
		out := m.mustDocker(t, "stack", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.Node}} {{.CurrentState}}", p.name)
		if strings.Count(out, "Running") != 11 || !strings.Contains(out, w.name) || !strings.Contains(out, m.name) {
			t.Errorf("docker stack ps %s does not show 11 running tasks on both nodes:\n%s", p.name, out)
		}
	})
	t.Run("global", func(t *testing.T) {
		if got, want := tasks(t, p.name+"_everywhere"), []string{mgr, wkr}; !slices.Equal(got, want) {
			t.Errorf("mode: global runs tasks on %v, want one on each node %v", got, want)
		}
	})
	t.Run("placement", func(t *testing.T) {
		for _, tc := range []struct{ svc, constraint, want string }{
			{"byrole", "node.role == worker", wkr},
			{"bylabel", "node.labels.berth.e2e.zone == b", wkr},
			{"byhostname", "node.hostname == " + m.name, mgr},
		} {
			if got, want := tasks(t, p.name+"_"+tc.svc), []string{tc.want, tc.want}; !slices.Equal(got, want) {
				t.Errorf("service %s (%s): 2 replicas run on %v, want %v", tc.svc, tc.constraint, got, want)
			}
		}
	})
	t.Run("overlay", func(t *testing.T) {
		web := m.mustDocker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+p.name+"_web")
		if web == "" || strings.Contains(web, "\n") {
			t.Fatalf("web's container on the manager: %q", web)
		}
		// No wget -T: this busybox's wget crashes with it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		page, err := m.docker(ctx, nil, "exec", web, "wget", "-q", "-O", "-", "http://api:8080/")
		if err != nil || !strings.Contains(page, "berth on two nodes") {
			t.Errorf("web on the manager does not reach api on the worker over the overlay: %q %v", page, err)
		}
	})
	t.Run("vip", func(t *testing.T) {
		if _, err := os.Stat("/proc/sys/net/ipv4/vs"); err != nil {
			t.Skip("this kernel has no IPVS (/proc/sys/net/ipv4/vs missing): swarm's virtual IPs and ingress mesh cannot work here; dnsrr and host-mode ports are tested instead")
		}
		t.Skip("IPVS is present, but no VIP/ingress test is written yet: the machines it was written on have none to check it with")
	})

	rmStart := time.Now()
	p.mustRun(t, "deploy", "rm")
	waitNoTasks(t, c, p.name)
	t.Logf("deploy rm to nothing left on either node: %v", time.Since(rmStart).Round(time.Millisecond))
	t.Logf("multi-node tests, set-up included: %v", time.Since(start).Round(time.Millisecond))
}

// waitNoTasks waits until neither node of c has a container of stack
// namespace ns, and the manager has no service, secret, config or network
// of it.
func waitNoTasks(t *testing.T, c *privateCluster, ns string) {
	t.Helper()
	label := "label=com.docker.stack.namespace=" + ns
	waitFor(t, 30*time.Second, "deploy rm to remove every object of "+ns+" from both nodes", func() (bool, string) {
		var left []string
		for _, e := range []*privateEngine{c.manager, c.worker} {
			out, err := e.docker(context.Background(), nil, "ps", "-aq", "--filter", label)
			if err != nil || out != "" {
				left = append(left, e.name+" containers: "+out)
			}
		}
		for _, kind := range []string{"service", "secret", "config", "network"} {
			out, err := c.manager.docker(context.Background(), nil, kind, "ls", "-q", "--filter", label)
			if err != nil || out != "" {
				left = append(left, kind+"s: "+out)
			}
		}
		return len(left) == 0, strings.Join(left, "; ")
	})
}
