package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// hostBlockDevice returns "major minor" of a block device of this machine
// that the host's root can open, to check that a container cannot.
func hostBlockDevice(t *testing.T) string {
	t.Helper()
	for _, pat := range []string{"/dev/loop[0-9]*", "/dev/vd[a-z]", "/dev/sd[a-z]", "/dev/nvme[0-9]n[0-9]"} {
		paths, _ := filepath.Glob(pat)
		for _, p := range paths {
			var st unix.Stat_t
			if unix.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			f.Close()
			return fmt.Sprintf("%d %d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	t.Fatal("this machine has no block device that root can open: the device rules cannot be checked")
	return ""
}

// statusFields are the lines of /proc/self/status that say how a process
// is confined.
const statusFields = `grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status`

// TestBuiltinConfinement checks that every process berth starts in a
// container on the built-in runtime — the init, exec, a healthcheck, a
// post_start hook, run's one-off — is confined as the container's PID 1 is
// (capability sets, no_new_privs, seccomp, cgroup), that what docker's
// confinement forbids fails inside (opening a host disk, setting the clock,
// a user namespace, mount), that cap_add and privileged change that as with
// docker, and that an exec'd process counts against the memory limit.
func TestBuiltinConfinement(t *testing.T) {
	probe := func(tag string) string {
		return fmt.Sprintf("%s > /tmp/%s.status; cat /proc/self/cgroup > /tmp/%s.cgroup", statusFields, tag, tag)
	}
	p := newBuiltinProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    mem_limit: 32m
    healthcheck:
      test: ["CMD-SHELL", %q]
      interval: 1s
    post_start:
      - command: ["sh", "-c", %q]
  timekeeper:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    cap_add: [SYS_TIME]
  privileged:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    privileged: true
`, probe("health"), probe("hook"))})
	p.mustRun(t, "up", "-d", "--wait")

	exec := func(svc, script string) result {
		return p.run("exec", "-T", svc, "sh", "-c", script)
	}
	pid1 := exec("box", strings.ReplaceAll(statusFields, "self", "1")+"; echo; cat /proc/1/cgroup")
	if pid1.code != 0 || !strings.Contains(pid1.stdout, "Seccomp:\t2") || !strings.Contains(pid1.stdout, "CapBnd:\t00000000a80425fb") {
		t.Fatalf("PID 1 of the container: exit %d\n%s%s", pid1.code, pid1.stdout, pid1.stderr)
	}
	if !strings.Contains(pid1.stdout, "/berth/") {
		t.Fatalf("PID 1 is not in a berth cgroup:\n%s", pid1.stdout)
	}
	for _, tc := range []struct{ name, script string }{
		{"exec", statusFields + "; echo; cat /proc/self/cgroup"},
		{"healthcheck", "cat /tmp/health.status; echo; cat /tmp/health.cgroup"},
		{"post_start hook", "cat /tmp/hook.status; echo; cat /tmp/hook.cgroup"},
	} {
		got := exec("box", tc.script)
		if got.code != 0 || got.stdout != pid1.stdout {
			t.Errorf("%s: exit %d\n%s%s\nwant what PID 1 has:\n%s", tc.name, got.code, got.stdout, got.stderr, pid1.stdout)
		}
	}
	status := func(out string) string { s, _, _ := strings.Cut(out, "\n\n"); return s }
	if got := p.mustRun(t, "run", "--rm", "box", "sh", "-c", statusFields).stdout; got != status(pid1.stdout)+"\n" {
		t.Errorf("run: %s\nwant what the service's PID 1 has:\n%s", got, status(pid1.stdout))
	}
	if got := exec("box", "grep -E '^(CapEff|CapBnd):' /proc/self/status").stdout; got != "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n" {
		t.Errorf("exec as root: %q", got)
	}
	if got := p.run("exec", "-T", "-u", "nobody", "box", "grep", "-E", "^(CapEff|CapBnd):", "/proc/self/status").stdout; got != "CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n" {
		t.Errorf("exec as nobody: %q", got)
	}

	// What docker's confinement forbids, through exec. The disk is a block
	// device of the host that berth (the host's root) can open; date -s
	// sets the time it is (busybox's date exits 0 either way, hence the
	// message), adjtimex the tick it has: nothing moves if they pass.
	disk := hostBlockDevice(t)
	forbidden := fmt.Sprintf(`set -u
mknod /tmp/disk b %s && echo mknod ok
head -c 1 /tmp/disk >/dev/null 2>&1 && echo disk readable || echo disk denied
date -s "@$(date +%%s)" 2>&1 | grep -q "can't set" && echo clock denied || echo clock set
adjtimex -t "$(adjtimex | awk '/tick:/ {print $3}')" >/dev/null 2>&1 && echo tick set || echo tick denied
unshare -U true 2>/dev/null && echo userns made || echo userns denied
mkdir -p /mnt && mount -t tmpfs none /mnt 2>/dev/null && echo mounted || echo mount denied
true`, disk)
	if got := exec("box", forbidden).stdout; got != "mknod ok\ndisk denied\nclock denied\ntick denied\nuserns denied\nmount denied\n" {
		t.Errorf("default container, through exec:\n%s", got)
	}
	if got := exec("timekeeper", forbidden).stdout; got != "mknod ok\ndisk denied\nclock set\ntick set\nuserns denied\nmount denied\n" {
		t.Errorf("cap_add SYS_TIME, through exec:\n%s", got)
	}
	got := exec("privileged", forbidden+"\n"+statusFields)
	for _, want := range []string{"disk readable", "tick set", "userns made", "mounted", "Seccomp:\t0", "CapEff:\t000001fffeffffff"} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("privileged, through exec: no %q in\n%s%s", want, got.stdout, got.stderr)
		}
	}

	// The exec'd process is in the container's cgroup: its memory limit
	// kills it.
	if r := exec("box", "dd if=/dev/zero of=/dev/null bs=100M count=1"); r.code != 137 {
		t.Errorf("an exec'd process over the memory limit: exit %d, want 137 (killed)\n%s%s", r.code, r.stdout, r.stderr)
	}
	p.mustRun(t, "down")
}

// TestSeccompProfile runs a service under a seccomp profile of its own,
// named by a path relative to the project (docker compose reads it and
// sends its content): mkdir is denied in the container's init and in an
// exec, on both backends.
func TestSeccompProfile(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{
			"compose.yaml": `services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "mkdir /made-by-init 2>&1; trap 'exit 0' TERM; sleep 1000 & wait"]
    security_opt: ["seccomp=profiles/no-mkdir.json"]
`,
			"profiles/no-mkdir.json": `{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`,
		})
		p.mustRun(t, "up", "-d")
		r := p.run("exec", "-T", "box", "sh", "-c", "mkdir /made-by-exec; grep ^Seccomp: /proc/self/status; ls -d /made-by-init 2>&1")
		if !strings.Contains(r.stdout+r.stderr, "Operation not permitted") || !strings.Contains(r.stdout, "Seccomp:\t2") ||
			!strings.Contains(r.stdout, "No such file") {
			t.Errorf("exec under the profile: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		p.mustRun(t, "down", "-t", "1")
	})
}

// TestBindCreatesHostPath: a long-syntax bind to a missing directory
// creates it, as docker compose does; with create_host_path: false, up
// fails naming the path, on both backends.
func TestBindCreatesHostPath(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    volumes:
      - type: bind
        source: ./made/by/up
        target: /m
`})
		p.mustRun(t, "up", "-d")
		if st, err := os.Stat(filepath.Join(p.dir, "made/by/up")); err != nil || !st.IsDir() {
			t.Errorf("the bind's source was not created: %v", err)
		}
		p.mustRun(t, "down", "-t", "1")
		p.writeFile(t, "compose.yaml", `services:
  box:
    image: berth-test/busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    volumes:
      - type: bind
        source: ./not/made
        target: /m
        bind: {create_host_path: false}
`)
		r := p.run("up", "-d")
		if r.code == 0 || !strings.Contains(r.stderr, "not/made") {
			t.Errorf("up with a missing source and create_host_path: false: exit %d\n%s", r.code, r.stderr)
		}
		p.run("down", "-t", "1")
	})
}
