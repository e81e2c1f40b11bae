package cli

import (
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

const runProject = `
name: cr
services:
  db:
    image: busybox
  tool:
    image: busybox
    environment: {GREETING: hi}
    command: ["default"]
    depends_on: [db]
`

// TestRunCmd runs one-off containers on the fake: the exit code, --rm,
// -d, and what the flags put in the container.
func TestRunCmd(t *testing.T) {
	t.Run("exit code, --rm", func(t *testing.T) {
		c := newFakeCLI(t, runProject)
		r := c.start(t.Context(), "", "run", "--rm", "tool", "sh", "-c", "exit 3")
		name := c.oneOff()
		c.waitRunning(name)
		if spec, _ := c.f.ContainerSpec(name); strings.Join(spec.Command, " ") != "sh -c exit 3" || spec.Labels[service.LabelService] != "tool" {
			t.Errorf("command %q, labels %v", spec.Command, spec.Labels)
		}
		_ = c.f.Log(name, "stdout", "from the one-off")
		waitUntil(t, "the output", func() bool { return strings.Contains(r.out.String(), "from the one-off") })
		_ = c.f.Exit(name, 3)
		r.wait(t)
		if r.code != 3 {
			t.Errorf("exit %d, want 3\n%s", r.code, r.err)
		}
		if c.state(name) != "" {
			t.Error("--rm left the container")
		}
		if c.state("cr-db-1") != service.StateRunning {
			t.Error("the dependency was not started")
		}
	})
	t.Run("-d prints the ID", func(t *testing.T) {
		c := newFakeCLI(t, runProject)
		r := c.result("run", "-d", "--rm", "tool")
		if r.code != 0 || !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(r.out.String()) {
			t.Fatalf("exit %d, stdout %q, stderr %s", r.code, r.out, r.err)
		}
		name := c.oneOff()
		if got, _ := c.f.Container(name); got.ID+"\n" != r.out.String() || got.State != service.StateRunning {
			t.Errorf("%s: ID %s, state %s", name, got.ID, got.State)
		}
	})
	t.Run("flags", func(t *testing.T) {
		c := newFakeCLI(t, runProject)
		c.env = append(c.env, "FROM_HERE=x")
		r := c.result("run", "-d", "--no-deps", "--name", "mine", "-e", "A=1", "-e", "FROM_HERE", "-e", "UNSET", "-w", "/work", "-u", "nobody",
			"--entrypoint", "/bin/sh -e", "-l", "k=v", "tool", "-c", "true")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.err)
		}
		spec, ok := c.f.ContainerSpec("mine")
		if !ok {
			t.Fatal("no container mine")
		}
		for _, e := range []string{"GREETING=hi", "A=1", "FROM_HERE=x"} {
			if !slices.Contains(spec.Env, e) {
				t.Errorf("env %v lacks %s", spec.Env, e)
			}
		}
		if slices.ContainsFunc(spec.Env, func(e string) bool { return strings.HasPrefix(e, "UNSET") }) {
			t.Errorf("env %v: -e of an unset variable is left out", spec.Env)
		}
		if spec.WorkingDir != "/work" || spec.User != "nobody" || strings.Join(spec.Entrypoint, " ") != "/bin/sh -e" ||
			strings.Join(spec.Command, " ") != "-c true" || spec.Labels["k"] != "v" || spec.Tty || spec.OpenStdin {
			t.Errorf("spec: workdir %q user %q entrypoint %q command %q labels %v tty %v stdin %v",
				spec.WorkingDir, spec.User, spec.Entrypoint, spec.Command, spec.Labels, spec.Tty, spec.OpenStdin)
		}
		if c.state("cr-db-1") != "" {
			t.Error("--no-deps created the dependency")
		}
		// -d: no TTY, no stdin, even with -t
		if r := c.result("run", "-d", "-t", "--no-deps", "--name", "tty", "tool"); r.code != 0 {
			t.Fatalf("run -d -t: exit %d: %s", r.code, r.err)
		}
		if spec, _ := c.f.ContainerSpec("tty"); spec.Tty || spec.OpenStdin || spec.AttachStdout {
			t.Errorf("run -d -t: tty %v, stdin %v, attached %v", spec.Tty, spec.OpenStdin, spec.AttachStdout)
		}
		// -t, attached: a TTY although standard input is no terminal
		r = c.start(t.Context(), "", "run", "-t", "--no-deps", "--name", "tty2", "tool")
		c.waitRunning("tty2")
		_ = c.f.Exit("tty2", 0)
		r.wait(t)
		if spec, _ := c.f.ContainerSpec("tty2"); !spec.Tty || !spec.OpenStdin || r.code != 0 {
			t.Errorf("run -t: tty %v, stdin %v, exit %d", spec.Tty, spec.OpenStdin, r.code)
		}
	})
	t.Run("--entrypoint ''", func(t *testing.T) {
		c := newFakeCLI(t, runProject)
		if r := c.result("run", "-d", "--no-deps", "--name", "xx", "--entrypoint", "", "tool"); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.err)
		}
		if spec, _ := c.f.ContainerSpec("xx"); spec.Entrypoint == nil || len(spec.Entrypoint) != 0 || len(spec.Command) != 0 {
			t.Errorf("entrypoint %q command %q: both emptied", spec.Entrypoint, spec.Command)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "nosuch"}, "no such service: nosuch"},
			{[]string{"run", "-t", "-T", "tool"}, "--tty and --no-TTY can't be used together"},
			{[]string{"run", "--env-from-file", "/nonexistent", "tool"}, "/nonexistent"},
			{[]string{"run", "-p", "a:b:c:d", "--no-deps", "tool"}, "invalid -p"},
		} {
			c := newFakeCLI(t, runProject)
			r := c.result(tt.args...)
			if r.code != 1 || !strings.Contains(r.err.String(), tt.want) {
				t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, r.code, r.err, tt.want)
			}
			if calls := c.ops("CreateContainer"); len(calls) != 0 {
				t.Errorf("%v created %v", tt.args, calls)
			}
		}
	})
	t.Run("-q", func(t *testing.T) {
		c := newFakeCLI(t, runProject)
		r := c.result("run", "-q", "-d", "tool")
		if r.code != 0 || r.err.String() != "" {
			t.Errorf("exit %d, stderr %q: -q prints no progress", r.code, r.err)
		}
	})
}

// TestExecCmd runs exec on the fake's ExecHook.
func TestExecCmd(t *testing.T) {
	c := newFakeCLI(t, runProject)
	if r := c.result("up", "-d"); r.code != 0 {
		t.Fatal(r.err)
	}
	var got service.ExecSpec
	var gotTarget string
	var gotStdin string
	c.f.ExecHook = func(ctx context.Context, ct service.Container, spec service.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		got, gotTarget = spec, ct.Name
		gotStdin = ""
		if stdin != nil {
			b, _ := io.ReadAll(stdin)
			gotStdin = string(b)
		}
		io.WriteString(stdout, "out\n")
		return 4, nil
	}
	r := c.start(t.Context(), "typed", "exec", "-e", "X=1", "-u", "u", "-w", "/w", "--privileged", "tool", "cmd", "arg")
	r.wait(t)
	if r.code != 4 || r.out.String() != "out\n" {
		t.Errorf("exit %d, stdout %q: want the command's", r.code, r.out)
	}
	if gotTarget != "cr-tool-1" || strings.Join(got.Cmd, " ") != "cmd arg" || !slices.Equal(got.Env, []string{"X=1"}) || got.User != "u" ||
		got.WorkingDir != "/w" || !got.Privileged || got.Tty || gotStdin != "typed" {
		t.Errorf("exec in %s: %+v, stdin %q", gotTarget, got, gotStdin)
	}
	r = c.start(t.Context(), "typed", "exec", "-d", "--interactive=false", "tool", "x")
	r.wait(t)
	if r.code != 0 || !got.Detach || gotStdin != "" {
		t.Errorf("exec -d: exit %d, detach %v, stdin %q", r.code, got.Detach, gotStdin)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "--index", "2", "tool", "x"}, `service "tool" is not running container #2`},
		{[]string{"exec", "nosuch", "x"}, "no such service: nosuch"},
	} {
		if r := c.result(tt.args...); r.code != 1 || !strings.Contains(r.err.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, r.code, r.err, tt.want)
		}
	}
	c.b = bare{c.f}
	if r := c.result("exec", "tool", "x"); r.code != 1 || !strings.Contains(r.err.String(), "this backend cannot exec") {
		t.Errorf("exec on a backend without exec: exit %d, %s", r.code, r.err)
	}
}

// TestAttachCmd attaches to a running container on the fake.
func TestAttachCmd(t *testing.T) {
	c := newFakeCLI(t, runProject)
	if r := c.result("up", "-d"); r.code != 0 {
		t.Fatal(r.err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := c.start(ctx, "", "attach", "tool")
	waitUntil(t, "attached", func() bool {
		_ = c.f.Log("cr-tool-1", "stdout", "hello")
		return strings.Contains(r.out.String(), "hello")
	})
	_ = c.f.Exit("cr-tool-1", 4)
	r.wait(t)
	if r.code != 4 {
		t.Errorf("attach: exit %d, want the container's 4\n%s", r.code, r.err)
	}
	// Ctrl+C is passed on (SIGINT: the fake's container exits 130)
	r = c.start(ctx, "", "attach", "--no-stdin", "db")
	waitUntil(t, "attached", func() bool {
		_ = c.f.Log("cr-db-1", "stdout", "hello")
		return strings.Contains(r.out.String(), "hello")
	})
	c.f.ResetCalls()
	cancel()
	r.wait(t)
	if r.code != 130 || !slices.Equal(c.ops("KillContainer"), []string{"KillContainer cr-db-1"}) {
		t.Errorf("attach, Ctrl+C: exit %d, kills %v", r.code, c.ops("KillContainer"))
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"attach", "--index", "3", "tool"}, `service "tool" is not running container #3`},
		{[]string{"attach", "tool"}, `service "tool" is not running`},
	} {
		c.f.ResetCalls()
		if r := c.result(tt.args...); r.code != 1 || !strings.Contains(r.err.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, r.code, r.err, tt.want)
		}
	}
	c.b = bare{c.f}
	if r := c.result("attach", "tool"); r.code != 1 || !strings.Contains(r.err.String(), "this backend cannot attach") {
		t.Errorf("attach on a backend without attach: exit %d, %s", r.code, r.err)
	}
}

// bare is a backend with the contract's methods only.
type bare struct{ service.Backend }
