package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// benchSwarmCompose is the 3-tier project of #15 as berth deploys it: db
// with a healthcheck and a volume, api after db is healthy with a secret
// and a config, web with a host-mode port.
const benchSwarmCompose = `
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
  web:
    image: ` + swarmImage + `
    command: ["httpd", "-f", "-p", "80", "-h", "/srv"]
    stop_signal: SIGKILL
    depends_on: [api]
    configs:
      - source: site
        target: /srv/index.html
    ports:
      - target: 80
        published: 18083
        mode: host
    deploy:
      endpoint_mode: dnsrr
volumes:
  dbdata: {}
secrets:
  app_key:
    file: ./app_key.txt
configs:
  site:
    file: ./site.html
`

// benchStackCompose is benchSwarmCompose as docker stack deploy takes it:
// its loader rejects depends_on's long form (and ignores depends_on).
var benchStackCompose = strings.Replace(benchSwarmCompose, `
    depends_on:
      db:
        condition: service_healthy
`, `
    depends_on: [db]
`, 1)

// TestBenchSwarm prints berth deploy's deploy-to-converged time of the
// 3-tier project on the private one-node swarm beside docker stack
// deploy's (BERTH_BENCH=1, make bench): the time docker stack deploy takes
// to return, the time until its tasks actually run (every service's
// running tasks = desired, polled through the API every 20ms; a task with
// a healthcheck counts once healthy), and docker stack deploy
// --detach=false, which waits itself. berth deploy returns when converged,
// so its one figure is both. Also a no-op deploy of the running project,
// and the removal until nothing of it is left. Medians of benchRuns runs.
func TestBenchSwarm(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("set BERTH_BENCH=1 (make bench)")
	}
	e := requireSwarm(t)
	c, err := client.New(client.WithHost(e.host))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatal(err)
	}

	p := newProject(t, map[string]string{"compose.yaml": benchSwarmCompose, "stack.yaml": benchStackCompose,
		"app_key.txt": "k1\n", "site.html": "<h1>berth bench</h1>\n"})
	p.env = []string{"DOCKER_HOST=" + e.host}
	ns := p.name
	stackCLI := func(args ...string) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			r := command(ctx, p.dir, append(os.Environ(), "DOCKER_HOST="+e.host), nil, "docker", args...)
			if r.code != 0 {
				return fmt.Errorf("docker %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
			}
			return nil
		}
	}
	berth := func(args ...string) func() error {
		return func() error {
			if r := p.run(args...); r.code != 0 {
				return fmt.Errorf("berth %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
			}
			return nil
		}
	}
	stackDeploy := stackCLI("stack", "deploy", "--resolve-image", "never", "-q", "-c", "stack.yaml", ns)
	stackDeployWait := stackCLI("stack", "deploy", "--resolve-image", "never", "-q", "--detach=false", "-c", "stack.yaml", ns)
	stackRm := stackCLI("stack", "rm", ns)
	filter := make(client.Filters).Add("label", "com.docker.stack.namespace="+ns)

	// running says whether the stack's three services run all their tasks.
	running := func() (bool, error) {
		svcs, err := c.ServiceList(ctx, client.ServiceListOptions{Filters: filter, Status: true})
		if err != nil {
			return false, err
		}
		if len(svcs.Items) != 3 {
			return false, nil
		}
		for _, s := range svcs.Items {
			if s.ServiceStatus == nil || s.ServiceStatus.DesiredTasks == 0 || s.ServiceStatus.RunningTasks != s.ServiceStatus.DesiredTasks {
				return false, nil
			}
		}
		return true, nil
	}
	waitRunning := func() error {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			ok, err := running()
			if err != nil || ok {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stack %s: tasks not running after 2m", ns)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// gone says what of the stack is left: containers, services, networks,
	// secrets, configs.
	gone := func() error {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var left []string
			if l, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter}); err != nil || len(l.Items) > 0 {
				left = append(left, fmt.Sprintf("containers %d %v", len(l.Items), err))
			}
			if l, err := c.ServiceList(ctx, client.ServiceListOptions{Filters: filter}); err != nil || len(l.Items) > 0 {
				left = append(left, fmt.Sprintf("services %d %v", len(l.Items), err))
			}
			if l, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: filter}); err != nil || len(l.Items) > 0 {
				left = append(left, fmt.Sprintf("networks %d %v", len(l.Items), err))
			}
			if l, err := c.SecretList(ctx, client.SecretListOptions{Filters: filter}); err != nil || len(l.Items) > 0 {
				left = append(left, fmt.Sprintf("secrets %d %v", len(l.Items), err))
			}
			if l, err := c.ConfigList(ctx, client.ConfigListOptions{Filters: filter}); err != nil || len(l.Items) > 0 {
				left = append(left, fmt.Sprintf("configs %d %v", len(l.Items), err))
			}
			if len(left) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stack %s not gone after 2m: %s", ns, strings.Join(left, ", "))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// untilRemoved runs rm again while it fails on a network still in use
	// by a task that is going away: the swarm refuses to remove the
	// network until then, and neither berth deploy rm nor docker stack rm
	// waits for it. The retries are counted for the report.
	retries := map[string]int{}
	untilRemoved := func(who string, rm func() error) func() error {
		return func() error {
			deadline := time.Now().Add(2 * time.Minute)
			for {
				err := rm()
				if err == nil || !strings.Contains(err.Error(), "in use by task") || time.Now().After(deadline) {
					if err != nil {
						return err
					}
					return gone()
				}
				retries[who]++
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	berthRm := untilRemoved("berth deploy rm", berth("deploy", "rm"))
	// removeAll removes what either tool left of the stack, untimed (its
	// retries not reported).
	removeAll := untilRemoved("", berth("deploy", "rm"))
	t.Cleanup(func() { _ = removeAll() })
	then := func(fns ...func() error) func() error {
		return func() error {
			for _, fn := range fns {
				if err := fn(); err != nil {
					return err
				}
			}
			return nil
		}
	}

	rows := []benchSwarmRow{
		{what: "deploy to converged, 3-tier", by: map[string]time.Duration{}},
		{what: "deploy returns, 3-tier", by: map[string]time.Duration{}},
		{what: "no-op deploy, 3-tier running", by: map[string]time.Duration{}},
		{what: "rm to nothing left, 3-tier", by: map[string]time.Duration{}},
	}
	const stack, stackWait = "docker stack", "stack --detach=false"

	// berth: deploy returns when converged (checked, untimed)
	cold := timeIt(t, removeAll, then(berth("deploy"), func() error {
		if ok, err := running(); err != nil || !ok {
			return fmt.Errorf("berth deploy returned before every task ran (%v)", err)
		}
		return nil
	}))
	rows[0].by["berth"], rows[1].by["berth"] = cold, cold
	rows[2].by["berth"] = timeIt(t, nil, berth("deploy"))
	rows[3].by["berth"] = timeIt(t, berth("deploy"), berthRm)

	// docker stack deploy: the time it returns, and until its tasks run
	var returns, converged []time.Duration
	for range benchRuns {
		if err := removeAll(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := stackDeploy(); err != nil {
			t.Fatal(err)
		}
		returns = append(returns, time.Since(start))
		if err := waitRunning(); err != nil {
			t.Fatal(err)
		}
		converged = append(converged, time.Since(start))
	}
	rows[0].by[stack], rows[1].by[stack] = median(converged), median(returns)
	rows[2].by[stack] = timeIt(t, nil, stackDeploy)
	rows[3].by[stack] = timeIt(t, then(stackDeploy, waitRunning), untilRemoved("docker stack rm", stackRm))

	// docker stack deploy --detach=false: it waits for convergence itself
	waited := timeIt(t, removeAll, then(stackDeployWait, func() error {
		if ok, err := running(); err != nil || !ok {
			return fmt.Errorf("docker stack deploy --detach=false returned before every task ran (%v)", err)
		}
		return nil
	}))
	rows[0].by[stackWait], rows[1].by[stackWait] = waited, waited

	fmt.Print(benchSwarmTable([]string{"berth", stack, stackWait}, rows))
	fmt.Println("(berth deploy and docker stack deploy --detach=false return when converged; docker stack deploy returns before its tasks run, and starts api without waiting for db to be healthy)")
	for who, n := range retries {
		if who == "" {
			continue
		}
		fmt.Printf("(%s failed %d times on a network still in use by a stopping task, and was run again: counted in its time)\n", who, n)
	}
}

// benchSwarmRow is one figure of TestBenchSwarm, by tool.
type benchSwarmRow struct {
	what string
	by   map[string]time.Duration
}

// benchSwarmTable prints rows as TestBenchReport does: a column per tool
// in cols, then berth's ratio to each other column.
func benchSwarmTable(cols []string, rows []benchSwarmRow) string {
	var out strings.Builder
	fmt.Fprintf(&out, "\nberth deploy on a private one-node swarm, medians of %d runs (%s)\n", benchRuns, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&out, "%-30s", "")
	for _, c := range cols {
		fmt.Fprintf(&out, "%22s", c)
	}
	fmt.Fprintf(&out, "%22s\n", "ratio")
	for _, r := range rows {
		fmt.Fprintf(&out, "%-30s", r.what)
		for _, c := range cols {
			if d, ok := r.by[c]; ok {
				fmt.Fprintf(&out, "%22s", d.Round(time.Millisecond))
			} else {
				fmt.Fprintf(&out, "%22s", "-")
			}
		}
		var ratios []string
		for _, c := range cols[1:] {
			if d, ok := r.by[c]; ok && d > 0 {
				ratios = append(ratios, fmt.Sprintf("berth = %.2f× %s", float64(r.by["berth"])/float64(d), c))
			}
		}
		if len(ratios) == 0 {
			ratios = []string{"-"}
		}
		fmt.Fprintf(&out, "   %s\n", strings.Join(ratios, ", "))
	}
	return out.String()
}
