package e2e

import (
	"regexp"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	p := newProject(t, nil)
	r := p.mustRun(t, "version", "--short")
	if strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("berth version --short printed nothing on stdout (stderr: %q)", r.stderr)
	}
}

func TestHelp(t *testing.T) {
	p := newProject(t, nil)
	r := p.mustRun(t, "--help")
	if !strings.Contains(r.stdout, "compose") && !strings.Contains(r.stdout, "Usage") {
		t.Fatalf("berth --help: stdout names neither compose nor Usage:\n%s", r.stdout)
	}
}

// TestEngineImage proves the test image works: it runs, it has the applets
// on PATH, its nobody user resolves, its /tmp is world-writable, and its
// default command is sh.
func TestEngineImage(t *testing.T) {
	requireEngine(t)
	image := busyboxImage()
	tests := []struct {
		name string
		args []string // docker's
		want string
	}{
		{"echo", []string{"run", "--rm", image, "echo", "hello"}, "hello"},
		{"nobody", []string{"run", "--rm", "--user", "nobody", image, "id"}, "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)"},
		{"tmp", []string{"run", "--rm", image, "stat", "-c", "%a", "/tmp"}, "1777"},
		{"cmd", []string{"image", "inspect", "--format", "{{json .Config.Cmd}}", image}, `["sh"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := docker(t, tt.args...); got != tt.want {
				t.Errorf("docker %s = %q, want %q", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
}

// TestProjectName checks the harness's project names against compose's
// rule for project names.
func TestProjectName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	for _, name := range []string{
		"TestUp",
		"TestUp/with_build/ÜBER Case #2",
		strings.Repeat("TestVeryLong", 10),
	} {
		got := projectName(name)
		if !valid.MatchString(got) || !strings.HasPrefix(got, "berthe2e-") || len(got) > len("berthe2e-")+30+7 {
			t.Errorf("projectName(%q) = %q: not a valid, bounded compose project name", name, got)
		}
		if again := projectName(name); again == got {
			t.Errorf("projectName(%q) gave %q twice", name, got)
		}
	}
}
