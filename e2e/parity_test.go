package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRunEnvFromEnvironment: run -e KEY and exec -e KEY take KEY's value
// from the project's environment — the process's, .env, --env-file — as
// docker compose does, and leave out a KEY that has none.
func TestRunEnvFromEnvironment(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{
			"compose.yaml": `services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`,
			".env":      "FROM_DOTENV=dotenv\n",
			"extra.env": "FROM_ENV_FILE=envfile\n",
		})
		p.env = append(p.env, "FROM_OS=os")
		script := `echo "$FROM_DOTENV $FROM_OS ${MISSING-unset} $SET"`
		got := p.mustRun(t, "run", "--rm", "-e", "FROM_DOTENV", "-e", "FROM_OS", "-e", "MISSING", "-e", "SET=x", "box", "sh", "-c", script).stdout
		if want := "dotenv os unset x\n"; got != want {
			t.Errorf("run -e KEY: %q, want %q", got, want)
		}
		got = p.mustRun(t, "--env-file", "extra.env", "run", "--rm", "-e", "FROM_ENV_FILE", "box", "sh", "-c", `echo "$FROM_ENV_FILE"`).stdout
		if want := "envfile\n"; got != want {
			t.Errorf("--env-file then run -e KEY: %q, want %q", got, want)
		}
		p.mustRun(t, "up", "-d")
		got = p.mustRun(t, "exec", "-T", "-e", "FROM_DOTENV", "-e", "MISSING", "box", "sh", "-c", `echo "$FROM_DOTENV ${MISSING-unset}"`).stdout
		if want := "dotenv unset\n"; !strings.HasSuffix(got, want) {
			t.Errorf("exec -e KEY: %q, want %q", got, want)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestInactiveProfileService: stop, start and restart of a service whose
// profile is not active work on its container, as docker compose (naming a
// service enables its profiles).
func TestInactiveProfileService(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  web:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
  tool:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    profiles: [tools]
`})
		p.mustRun(t, "up", "-d", "tool")
		for _, cmd := range []string{"stop", "start", "restart"} {
			p.mustRun(t, cmd, "tool")
		}
		if e := p.ps(t, "-a")[p.name+"-tool-1"]; e.State != "running" {
			t.Errorf("tool after stop, start, restart: %+v", e)
		}
		if r := p.run("stop", "nope"); r.code == 0 || !strings.Contains(r.stderr, "no such service: nope") {
			t.Errorf("stop of an unknown service: exit %d %s", r.code, r.stderr)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestExecPicksAsCompose: exec reaches a one-off started with run -d when
// the service has no other container, and a missing index is reported in
// docker compose's words.
func TestExecPicksAsCompose(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`})
		p.mustRun(t, "run", "-d", "--name", p.name+"-oneoff", "box")
		if got := p.mustRun(t, "exec", "-T", "box", "hostname").stdout; strings.TrimSpace(got) == "" {
			t.Errorf("exec into the one-off: %q", got)
		}
		if r := p.run("exec", "-T", "--index", "2", "box", "true"); r.code == 0 || !strings.Contains(r.stderr, `service "box" is not running container #2`) {
			t.Errorf("exec --index 2: exit %d %s", r.code, r.stderr)
		}
		p.mustRun(t, "down", "-t", "0", "--remove-orphans") // one-offs go with --remove-orphans, as in docker compose
	})
}

// TestRestartAsCompose: restart of a service restarts its dependents with
// restart: true after it is healthy again, running their hooks, as docker
// compose (before, it restarted both at once, without waiting or hooks).
func TestRestartAsCompose(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  db:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    healthcheck: {test: ["CMD", "true"], interval: 1s, start_interval: 200ms, start_period: 5s}
  api:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on:
      db: {condition: service_healthy, restart: true}
    post_start:
      - command: ["sh", "-c", "echo started >> /starts"]
  web:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`})
		p.mustRun(t, "up", "-d", "--wait")
		ids := p.containerIDs(t)
		before := map[string]time.Time{}
		for name, id := range ids {
			before[name] = p.startedAt(t, id)
		}
		plan := p.mustRun(t, "--dry-run", "restart", "db").stdout
		if !strings.Contains(plan, "wait for container "+p.name+"-db-1 healthy") || strings.Contains(plan, "web") {
			t.Errorf("restart db --dry-run:\n%s", plan)
		}
		p.mustRun(t, "restart", "db")
		for _, svc := range []string{"db", "api", "web"} {
			name := p.name + "-" + svc + "-1"
			restarted := p.startedAt(t, ids[name]).After(before[name])
			if restarted != (svc != "web") {
				t.Errorf("%s restarted: %v", svc, restarted)
			}
		}
		if got := p.mustRun(t, "exec", "-T", "api", "cat", "/starts").stdout; got != "started\nstarted\n" {
			t.Errorf("api's post_start hook ran: %q, want twice", got)
		}
		if e := p.ps(t)[p.name+"-db-1"]; e.Health != "healthy" && e.Health != "starting" {
			t.Errorf("db after restart: %+v", e)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}

// TestDryRunSignals: --dry-run kill, pause and unpause print the plan and
// change nothing (before, kill killed and pause paused) (issue 13).
func TestDryRunSignals(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`})
		p.mustRun(t, "up", "-d")
		name := p.name + "-box-1"
		for _, args := range [][]string{{"kill"}, {"kill", "-s", "SIGTERM", "box"}, {"pause"}} {
			r := p.mustRun(t, append([]string{"--dry-run"}, args...)...)
			if !strings.Contains(r.stdout, args[0]+" container "+name) {
				t.Errorf("--dry-run %s printed:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
			}
			if e := p.ps(t)[name]; e.State != "running" {
				t.Fatalf("after --dry-run %s, box is %s", strings.Join(args, " "), e.State)
			}
		}
		p.mustRun(t, "pause")
		if r := p.mustRun(t, "--dry-run", "unpause"); !strings.Contains(r.stdout, "unpause container "+name) {
			t.Errorf("--dry-run unpause printed:\n%s", r.stdout)
		}
		if e := p.ps(t)[name]; e.State != "paused" {
			t.Errorf("after --dry-run unpause, box is %s", e.State)
		}
		p.mustRun(t, "unpause")
		p.mustRun(t, "kill")
		if e := p.ps(t, "-a")[name]; e.State != "exited" {
			t.Errorf("after kill, box is %s", e.State)
		}
		p.mustRun(t, "down")
	})
}

// TestDryRunRm: --dry-run rm prints the removals and removes nothing
// (before, rm -f removed the containers) (issue 13).
func TestDryRunRm(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  box:
    image: berth-test/busybox
    command: ["true"]
`})
		p.mustRun(t, "up", "-d")
		name := p.name + "-box-1"
		eventually(t, func() string {
			if e := p.ps(t, "-a")[name]; e.State != "exited" {
				return "box is " + e.State
			}
			return ""
		})
		if r := p.mustRun(t, "--dry-run", "rm", "-f"); !strings.Contains(r.stdout, "remove container "+name) {
			t.Errorf("--dry-run rm -f printed:\n%s%s", r.stdout, r.stderr)
		}
		if _, ok := p.ps(t, "-a")[name]; !ok {
			t.Fatal("--dry-run rm -f removed the container")
		}
		p.mustRun(t, "rm", "-f")
		if _, ok := p.ps(t, "-a")[name]; ok {
			t.Error("rm -f left the container")
		}
		p.mustRun(t, "down")
	})
}
