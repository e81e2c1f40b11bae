package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// builtinCompose is a one-service project on the test image.
const builtinCompose = `services:
  app:
    image: berth-test/busybox
    command: ["sleep", "600"]
`

// TestBuiltinRun drives `berth run` on the built-in runtime: exit codes,
// stdin, environment, user, and the error for a missing command.
func TestBuiltinRun(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": builtinCompose})
	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"exit code", "", []string{"run", "--rm", "app", "sh", "-c", "echo hi; exit 3"}, 3, "hi\n", ""},
		{"stdin", "line one\nline two\n", []string{"run", "--rm", "-T", "app", "cat"}, 0, "line one\nline two\n", ""},
		{"env", "", []string{"run", "--rm", "-e", "FOO=bar baz", "app", "sh", "-c", "echo \"$FOO\""}, 0, "bar baz\n", ""},
		{"user by name", "", []string{"run", "--rm", "-u", "nobody", "app", "sh", "-c", "id -u; id -g"}, 0, "65534\n65534\n", ""},
		{"user by number", "", []string{"run", "--rm", "-u", "1234:5678", "app", "sh", "-c", "id -u; id -g"}, 0, "1234\n5678\n", ""},
		{"workdir", "", []string{"run", "--rm", "-w", "/tmp/new", "app", "pwd"}, 0, "/tmp/new\n", ""},
		{"tty", "", []string{"run", "--rm", "-t", "app", "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo terminal; echo $TERM"}, 0, "terminal\r\nxterm\r\n", ""},
		{"hostname and pid 1", "", []string{"run", "--rm", "app", "sh", "-c", "echo $$; cat /proc/1/comm; true"}, 0, "1\nsh\n", ""},
		// As docker compose: the start error, exit 1 (docker run says 127).
		{"missing command", "", []string{"run", "--rm", "app", "nosuchcommand"}, 1, "", `exec: "nosuchcommand": executable file not found in $PATH`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := p.runStdin(tc.stdin, tc.args...)
			if r.code != tc.code || r.stdout != tc.stdout || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("berth %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
					strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	p.mustRun(t, "down")
}

// TestBuiltinProject runs a project on the built-in runtime with no engine:
// up -d, ps, logs, exec, stop, start, down; the cleanup then checks that
// nothing is left (processes, mounts, cgroups, state).
func TestBuiltinProject(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  web:
    image: berth-test/busybox
    command: ["sh", "-c", "echo web started; while true; do sleep 1; done"]
    environment:
      GREETING: hello
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  worker:
    image: berth-test/busybox
    command: ["sh", "-c", "echo worker at $$PWD; sleep 600"]
    working_dir: /srv
    depends_on:
      web:
        condition: service_healthy
`})
	p.mustRun(t, "up", "-d", "--wait")
	ps := p.mustRun(t, "ps", "--format", "{{.Service}} {{.State}} {{.Health}}").stdout
	for _, want := range []string{"web running healthy", "worker running"} {
		if !strings.Contains(ps, want) {
			t.Errorf("ps: no line %q in\n%s", want, ps)
		}
	}
	if out := p.mustRun(t, "logs", "--no-log-prefix", "worker").stdout; out != "worker at /srv\n" {
		t.Errorf("logs worker = %q, want %q", out, "worker at /srv\n")
	}
	if out := p.mustRun(t, "exec", "-T", "web", "sh", "-c", "echo $GREETING from $(hostname) in $(pwd)").stdout; !strings.HasPrefix(out, "hello from ") || !strings.HasSuffix(out, " in /\n") {
		t.Errorf("exec = %q, want %q", out, "hello from <hostname> in /")
	}
	// exec on a terminal (as docker compose exec by default)
	if out := p.mustRun(t, "exec", "-t", "web", "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo terminal").stdout; out != "terminal\r\n" {
		t.Errorf("exec on a terminal = %q, want %q", out, "terminal\r\n")
	}
	if r := p.run("exec", "-T", "web", "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec exit 5: exit %d\n%s", r.code, r.stderr)
	}
	p.mustRun(t, "stop", "-t", "1")
	if ps := p.mustRun(t, "ps", "-a", "--format", "{{.Service}} {{.State}}").stdout; strings.Count(ps, "exited") != 2 {
		t.Errorf("ps -a after stop:\n%s\nwant both exited", ps)
	}
	p.mustRun(t, "start")
	if out := p.mustRun(t, "logs", "--no-log-prefix", "web").stdout; strings.Count(out, "web started") != 2 {
		t.Errorf("logs web after a restart = %q, want two starts", out)
	}
	p.mustRun(t, "down", "-t", "1")
	if ps := p.mustRun(t, "ps", "-a", "-q").stdout; ps != "" {
		t.Errorf("ps -a after down = %q, want nothing", ps)
	}
}

// TestBuiltinRestartPolicy checks on-failure:2 (three runs, then exited)
// and that stop ends an always-restarting container for good.
func TestBuiltinRestartPolicy(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  flaky:
    image: berth-test/busybox
    command: ["sh", "-c", "echo run; exit 2"]
    restart: on-failure:2
  forever:
    image: berth-test/busybox
    command: ["sh", "-c", "echo again; sleep 0.2; exit 0"]
    restart: always
`})
	p.mustRun(t, "up", "-d")
	r := p.run("wait", "flaky")
	if strings.TrimSpace(r.stdout) != "2" {
		t.Errorf("wait flaky: %q, want 2", r.stdout)
	}
	// wait returns at the first exit; the policy restarts it twice.
	deadline := time.Now().Add(30 * time.Second)
	for {
		logs := p.mustRun(t, "logs", "--no-log-prefix", "flaky").stdout
		ps := p.mustRun(t, "ps", "-a", "--format", "{{.State}}", "flaky").stdout
		if strings.Count(logs, "run") == 3 && strings.TrimSpace(ps) == "exited" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("on-failure:2: logs %q, state %q; want 3 runs, then exited", logs, ps)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if logs := p.mustRun(t, "logs", "forever").stdout; strings.Count(logs, "again") < 2 {
		t.Errorf("restart: always: logs %q, want several runs", logs)
	}
	p.mustRun(t, "stop", "forever")
	before := p.mustRun(t, "logs", "forever").stdout
	time.Sleep(700 * time.Millisecond)
	if after := p.mustRun(t, "logs", "forever").stdout; after != before {
		t.Errorf("restart: always went on after stop: %q then %q", before, after)
	}
	p.mustRun(t, "down", "-t", "1")
}

// TestBuiltinStop checks the stop signal and grace period: a command that
// traps SIGTERM ends cleanly, one that ignores it is killed after the
// grace period.
func TestBuiltinStop(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  polite:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done"]
  stubborn:
    image: berth-test/busybox
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
    stop_grace_period: 1s
  custom:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'echo got USR1; exit 7' USR1; while true; do sleep 0.1; done"]
    stop_signal: SIGUSR1
`})
	p.mustRun(t, "up", "-d")
	time.Sleep(300 * time.Millisecond) // let the shells set their traps
	start := time.Now()
	p.mustRun(t, "stop", "stubborn")
	if d := time.Since(start); d < time.Second {
		t.Errorf("stop of a container ignoring SIGTERM took %v, want the 1s grace period", d)
	}
	p.mustRun(t, "stop", "polite", "custom")
	states := p.mustRun(t, "ps", "-a", "--format", "{{.Service}} {{.ExitCode}}").stdout
	for _, want := range []string{"polite 0", "stubborn 137", "custom 7"} {
		if !strings.Contains(states, want) {
			t.Errorf("ps -a: no %q in\n%s", want, states)
		}
	}
	logs := p.mustRun(t, "logs", "--no-log-prefix", "polite", "custom").stdout
	if !strings.Contains(logs, "got TERM") || !strings.Contains(logs, "got USR1") {
		t.Errorf("logs = %q, want the traps' lines", logs)
	}
	p.mustRun(t, "down")
}

// TestBuiltinOOM checks that a container over its memory limit is killed
// (137), as with docker.
func TestBuiltinOOM(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  hog:
    image: berth-test/busybox
    mem_limit: 16m
    memswap_limit: 16m
`})
	// tail keeps its last line, and /dev/zero has no newline.
	r := p.run("run", "--rm", "hog", "tail", "/dev/zero")
	if r.code != 137 {
		t.Errorf("tail /dev/zero in 16 MB: exit %d (stdout %q, stderr %q), want 137", r.code, r.stdout, r.stderr)
	}
	p.mustRun(t, "down")
}

// TestBuiltinShimKilled kills a container's shim with SIGKILL: the next
// command sees the container exited, and down leaves nothing behind.
func TestBuiltinShimKilled(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": builtinCompose})
	p.mustRun(t, "up", "-d")
	out, err := exec.Command("pgrep", "-f", "__berth-shim "+builtinRootOf(p)).Output()
	pids := strings.Fields(string(out))
	if err != nil || len(pids) != 1 {
		t.Fatalf("pgrep the shim: %v %q", err, out)
	}
	if err := exec.Command("kill", "-9", pids[0]).Run(); err != nil {
		t.Fatal(err)
	}
	// and the DNS server too: the next start brings it back
	if out, err := exec.Command("pkill", "-9", "-f", "__berth-dns "+builtinRootOf(p)).CombinedOutput(); err != nil {
		t.Fatalf("pkill the DNS server: %v %s", err, out)
	}
	time.Sleep(200 * time.Millisecond)
	if ps := p.mustRun(t, "ps", "-a", "--format", "{{.State}}").stdout; strings.TrimSpace(ps) != "exited" {
		t.Errorf("ps -a after the shim was killed = %q, want exited", ps)
	}
	p.mustRun(t, "up", "-d")
	if ps := p.mustRun(t, "ps", "--format", "{{.State}}").stdout; strings.TrimSpace(ps) != "running" {
		t.Errorf("ps after up = %q, want running", ps)
	}
	if r := p.run("exec", "-T", "app", "nslookup", "app"); r.code != 0 || !strings.Contains(r.stdout, "Address: 10.") {
		t.Errorf("name resolution after the DNS server was killed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	p.mustRun(t, "down", "-t", "0")
}

// builtinRootOf returns the BERTH_ROOT of a project on the built-in runtime.
func builtinRootOf(p *testProject) string {
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "BERTH_ROOT="); ok {
			return v
		}
	}
	return ""
}

// TestBuiltinHardening checks the security settings a container gets on
// the built-in runtime: capabilities (docker's defaults with cap_add and
// cap_drop), no_new_privs, a read-only root with a tmpfs, ulimits, init,
// and docker's masked and read-only /proc paths.
func TestBuiltinHardening(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  probe:
    image: berth-test/busybox
    read_only: true
    tmpfs: [/scratch]
    cap_drop: [CHOWN]
    cap_add: [NET_ADMIN]
    security_opt: ["no-new-privileges:true"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    init: true
  plain:
    image: berth-test/busybox
`})
	script := `grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status
touch /x 2>/dev/null && echo root writable || echo root read-only
touch /scratch/x && echo tmpfs writable
echo "nofile $(ulimit -n)"
echo "pid 1 $(cat /proc/1/comm)"
echo "timer_list $(wc -c < /proc/timer_list)"
echo 1 2>/dev/null > /proc/sys/vm/overcommit_memory && echo proc/sys writable || echo proc/sys read-only
id -u`
	got := p.mustRun(t, "run", "--rm", "probe", "sh", "-c", script).stdout
	want := "CapEff:\t00000000a80435fa\nCapBnd:\t00000000a80435fa\nNoNewPrivs:\t1\n" +
		"root read-only\ntmpfs writable\nnofile 1024\npid 1 init\ntimer_list 0\nproc/sys read-only\n0\n"
	if got != want {
		t.Errorf("hardened container:\n%s\nwant:\n%s", got, want)
	}
	// docker's defaults: CapEff a80425fb, writable root, sh as PID 1; a
	// non-root user has no effective capabilities.
	got = p.mustRun(t, "run", "--rm", "plain", "sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; touch /x && echo root writable; cat /proc/1/comm; true").stdout
	if want := "CapEff:\t00000000a80425fb\nNoNewPrivs:\t0\nroot writable\nsh\n"; got != want {
		t.Errorf("default container:\n%s\nwant:\n%s", got, want)
	}
	got = p.mustRun(t, "run", "--rm", "-u", "nobody", "plain", "grep", "^CapEff", "/proc/self/status").stdout
	if want := "CapEff:\t0000000000000000\n"; got != want {
		t.Errorf("non-root user: %q, want %q", got, want)
	}
	p.mustRun(t, "down")
}

// TestBuiltinPull pulls the services' image from a local registry (Debian's
// docker-registry on 127.0.0.1) into the built-in runtime's store: berth
// pull, then up with the image present, then the error for a missing one.
func TestBuiltinPull(t *testing.T) {
	addr := startRegistry(t)
	ref := addr + "/berth-e2e/busybox:pull"
	img, err := tarball.ImageFromPath(busyboxTarball(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push the test image to %s: %v", ref, err)
	}
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  app:
    image: ` + ref + `
    command: ["sh", "-c", "echo pulled image runs; sleep 600"]
  missing:
    image: ` + addr + `/berth-e2e/absent:1
    profiles: [missing]
`})
	p.mustRun(t, "pull", "app")
	if out := p.mustRun(t, "image", "ls").stdout; !strings.Contains(out, "berth-e2e/busybox:pull") {
		t.Errorf("image ls after pull:\n%s\nwant the pulled image", out)
	}
	p.mustRun(t, "up", "-d", "--pull", "never")
	if out := p.mustRun(t, "logs", "--no-log-prefix", "app").stdout; out != "pulled image runs\n" {
		t.Errorf("logs = %q", out)
	}
	p.mustRun(t, "down", "-t", "0")
	r := p.run("--profile", "missing", "up", "-d", "missing")
	if r.code == 0 || !strings.Contains(r.stderr, "absent:1") {
		t.Errorf("up with an image the registry lacks: exit %d, stderr %q; want an error naming it", r.code, r.stderr)
	}
}

// TestBuiltinNetworks checks networking on the built-in runtime: service
// names, aliases and container names resolve over the project network,
// round-robin over replicas; a published port answers on the host; the
// names of another project do not resolve; a taken port is a clear error.
func TestBuiltinNetworks(t *testing.T) {
	compose := `services:
  web:
    image: berth-test/busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["127.0.0.1::8080"]
    networks:
      default:
        aliases: [www]
  replica:
    image: berth-test/busybox
    command: ["sleep", "600"]
    scale: 2
  client:
    image: berth-test/busybox
    command: ["sleep", "600"]
`
	p := newBuiltinProject(t, map[string]string{"compose.yaml": compose})
	// The DNS server collects garbage often: its lock must survive that
	// (one server per root, checked at the end).
	p.env = append(p.env, "GOGC=1")
	p.mustRun(t, "up", "-d")
	fetch := func(host string) string {
		r := p.run("exec", "-T", "client", "wget", "-q", "-O", "-", "http://"+host+":8080/")
		if r.code != 0 {
			t.Errorf("wget %s from client: exit %d: %s", host, r.code, r.stderr)
		}
		return r.stdout
	}
	body := fetch("web")
	if body == "" || fetch("www") != body || fetch(p.name+"-web-1") != body {
		t.Errorf("web, its alias and its container name give %q, %q, %q; want the same page", body, fetch("www"), fetch(p.name+"-web-1"))
	}
	// Both replicas answer to the service name.
	r := p.mustRun(t, "exec", "-T", "client", "nslookup", "replica")
	if n := strings.Count(r.stdout, "Address: 10."); n != 2 {
		t.Errorf("nslookup replica: %d addresses, want 2:\n%s", n, r.stdout)
	}
	// The published port, from the host.
	port := strings.TrimSpace(p.mustRun(t, "port", "web", "8080").stdout)
	resp, err := http.Get("http://" + port + "/")
	if err != nil {
		t.Fatalf("GET http://%s/ from the host: %v", port, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(page) != body {
		t.Errorf("published port: %q, want %q", page, body)
	}

	// Another project on the same root cannot resolve this one's names.
	q := newProject(t, map[string]string{"compose.yaml": `services:
  other:
    image: berth-test/busybox
    command: ["sleep", "600"]
  taken:
    image: berth-test/busybox
    command: ["sleep", "600"]
    ports: ["` + port + `:80"]
    profiles: [taken]
`})
	q.env = p.env
	q.mustRun(t, "up", "-d")
	if r := q.run("exec", "-T", "other", "nslookup", "web"); r.code == 0 && strings.Contains(r.stdout, "Address: 10.") {
		t.Errorf("another project resolves web:\n%s", r.stdout)
	}
	// ... nor reach it by address: the networks are isolated.
	webIP := strings.TrimSpace(p.mustRun(t, "exec", "-T", "web", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1").stdout)
	if r := q.run("exec", "-T", "other", "nc", "-w", "2", webIP, "8080"); r.code == 0 {
		t.Errorf("another project's container connected to web at %s", webIP)
	}
	if r := p.run("exec", "-T", "client", "nc", "-w", "2", webIP, "8080"); r.code != 0 {
		t.Errorf("nc from the same project to %s: exit %d (the check above proves nothing)", webIP, r.code)
	}
	r = q.run("--profile", "taken", "up", "-d", "taken")
	if r.code == 0 || !strings.Contains(r.stderr, "port is already allocated") {
		t.Errorf("up with a taken host port: exit %d, stderr %q; want 'port is already allocated'", r.code, r.stderr)
	}
	if n := dnsServers(builtinRootOf(p)); n != 1 {
		t.Errorf("%d DNS servers run for the root, want 1", n)
	}
	q.mustRun(t, "--profile", "taken", "down", "-t", "0")
	p.mustRun(t, "down", "-t", "0")
}

// dnsServers counts the DNS server processes of a state root.
func dnsServers(root string) int {
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("__berth-dns\x00"+root+"\x00")) {
			n++
		}
	}
	return n
}

// TestBuiltinVolumes checks volumes on the built-in runtime: a new named
// volume is filled from the image, an anonymous volume survives a
// recreate, a bind mount is shared with the host (read-only when asked),
// and down -v removes both volumes.
func TestBuiltinVolumes(t *testing.T) {
	compose := func(mode string) string {
		return `services:
  app:
    image: berth-test/busybox
    command: ["sleep", "600"]
    environment: {MODE: ` + mode + `}
    stop_signal: SIGKILL
    volumes:
      - etc:/etc
      - /scratch
      - ./shared:/shared
      - ./shared:/ro:ro
volumes:
  etc: {}
`
	}
	p := newBuiltinProject(t, map[string]string{"compose.yaml": compose("one"), "shared/from-host.txt": "host\n"})
	p.mustRun(t, "up", "-d")
	if out := p.mustRun(t, "exec", "-T", "app", "sh", "-c", "grep -c nobody /etc/passwd; cat /shared/from-host.txt; echo kept > /scratch/f; echo new > /shared/from-container.txt; touch /ro/x 2>/dev/null || echo read-only").stdout; out != "1\nhost\nread-only\n" {
		t.Errorf("volumes in the container: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(p.dir, "shared", "from-container.txt")); err != nil || string(b) != "new\n" {
		t.Errorf("bind mount seen from the host: %q, %v", b, err)
	}
	p.writeFile(t, "compose.yaml", compose("two"))
	p.mustRun(t, "up", "-d")
	if out := p.mustRun(t, "exec", "-T", "app", "sh", "-c", "echo $MODE; cat /scratch/f").stdout; out != "two\nkept\n" {
		t.Errorf("after a recreate: %q, want the new env and the anonymous volume's file", out)
	}
	vols, err := p.backend(t).ListVolumes(t.Context(), service.Filter{})
	if err != nil || len(vols) != 2 {
		t.Errorf("volumes before down -v: %v, %v; want the named and the anonymous one", vols, err)
	}
	p.mustRun(t, "down", "-v", "-t", "0")
	if vols, err := p.backend(t).ListVolumes(t.Context(), service.Filter{}); err != nil || len(vols) != 0 {
		t.Errorf("volumes after down -v: %v, %v; want none", vols, err)
	}
}

// TestBuiltinNetworkModeService checks network_mode: service:web: the
// sidecar shares web's network namespace (web's server on localhost).
func TestBuiltinNetworkModeService(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{"compose.yaml": `services:
  web:
    image: berth-test/busybox
    command: ["sh", "-c", "mkdir -p /www && echo shared > /www/index.html && exec httpd -f -p 8080 -h /www"]
  sidecar:
    image: berth-test/busybox
    command: ["sleep", "600"]
    network_mode: service:web
`})
	p.mustRun(t, "up", "-d")
	if out := p.mustRun(t, "exec", "-T", "sidecar", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").stdout; out != "shared\n" {
		t.Errorf("sidecar fetching web on localhost: %q", out)
	}
	p.mustRun(t, "down", "-t", "0")
}
