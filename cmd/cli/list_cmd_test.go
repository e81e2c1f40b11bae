package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPsCommand(t *testing.T) {
	c := upFakeCLI(t)
	if err := c.f.Exit("t-web-2", 3); err != nil {
		t.Fatal(err)
	}
	web1, _ := c.f.Container("t-web-1")
	for _, tc := range []struct {
		args []string
		want []string // lines, or their first words for the table
	}{
		{[]string{"ps", "--format", "{{.Name}} {{.State}}"}, []string{"t-db-1 running", "t-web-1 running"}},
		{[]string{"ps", "-a", "--format", "{{.Name}} {{.State}} {{.ExitCode}}"}, []string{"t-db-1 running 0", "t-web-1 running 0", "t-web-2 exited 3"}},
		{[]string{"ps", "--status", "exited", "--format", "{{.Name}}"}, []string{"t-web-2"}},
		{[]string{"ps", "--filter", "status=running", "--format", "{{.Name}}", "web"}, []string{"t-web-1"}},
		{[]string{"ps", "-q", "web"}, []string{web1.ID}},
		{[]string{"ps", "-a", "--services"}, []string{"db", "web"}},
		{[]string{"ps"}, []string{"NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS", "t-db-1 busybox", "t-web-1 busybox"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := lines(c.ok(tc.args...))
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if norm := strings.Join(strings.Fields(got[i]), " "); !strings.HasPrefix(norm, tc.want[i]) {
					t.Errorf("line %d: %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		var entries []map[string]any
		for _, l := range lines(c.ok("ps", "--format", "json", "db")) {
			var e map[string]any
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			entries = append(entries, e)
		}
		if len(entries) != 1 || entries[0]["Service"] != "db" || entries[0]["Project"] != "t" || entries[0]["State"] != "running" {
			t.Errorf("got %v", entries)
		}
	})
	c.fails(1, "only status=STATE", "ps", "--filter", "name=x")
	c.fails(1, "no such service: nope", "ps", "nope")
	c.fails(1, "template", "ps", "--format", "{{.Nope")
}

func TestLsCommand(t *testing.T) {
	c := upFakeCLI(t)
	if got := c.ok("ls", "-q"); got != "t\n" {
		t.Errorf("ls -q: %q", got)
	}
	out := c.ok("ls")
	if l := lines(out); len(l) != 2 || !strings.HasPrefix(l[0], "NAME") || !strings.Contains(l[1], "running(3)") || !strings.Contains(l[1], filepath.Join(c.dir, "compose.yaml")) {
		t.Errorf("ls:\n%s", out)
	}
	var list []map[string]string
	if err := json.Unmarshal([]byte(c.ok("ls", "--format", "json", "--filter", "name=^t$")), &list); err != nil || len(list) != 1 || list[0]["Name"] != "t" {
		t.Errorf("ls --format json: %v %v", list, err)
	}
	if got := c.ok("ls", "--format", "json", "--filter", "name=nothing"); strings.TrimSpace(got) != "[]" {
		t.Errorf("no project: %q, want []", got)
	}
	c.ok("stop")
	if got := c.ok("ls", "-q"); got != "" {
		t.Errorf("ls -q, all stopped: %q", got)
	}
	if got := c.ok("ls", "-a", "--format", "{{.Name}} {{.Status}}"); got != "t exited(3)\n" {
		t.Errorf("ls -a: %q", got)
	}
	c.fails(1, "only name=REGEXP", "ls", "--filter", "status=x")
	c.fails(1, "invalid --filter", "ls", "--filter", "name=(")
}

func TestVolumesCommand(t *testing.T) {
	c := upFakeCLI(t)
	if got := c.ok("volumes", "-q"); got != "t_data\n" {
		t.Errorf("volumes -q: %q", got)
	}
	if got := c.ok("volumes", "-q", "web"); got != "" {
		t.Errorf("volumes -q web (mounts none): %q", got)
	}
	if got := lines(c.ok("volumes", "db")); len(got) != 2 || !strings.HasPrefix(got[0], "DRIVER") || !strings.HasSuffix(got[1], "t_data") {
		t.Errorf("volumes db: %q", got)
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(c.ok("volumes", "--format", "json")), &e); err != nil || e["Name"] != "t_data" || e["Scope"] != "local" || !strings.Contains(e["Labels"], "com.docker.compose.project=t") {
		t.Errorf("volumes --format json: %v %v", e, err)
	}
	c.fails(1, "no such service: nope", "volumes", "nope")
}

func TestLogsCommand(t *testing.T) {
	c := upFakeCLI(t)
	for _, l := range [][2]string{{"t-web-1", "one"}, {"t-web-1", "two"}, {"t-web-2", "other"}, {"t-db-1", "db line"}} {
		if err := c.f.Log(l[0], "stdout", l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"logs", "web"}, []string{"web-1  | one", "web-1  | two", "web-2  | other"}},
		{[]string{"logs", "--tail", "1", "web"}, []string{"web-1  | two", "web-2  | other"}},
		{[]string{"logs", "--index", "2", "web"}, []string{"web-2  | other"}},
		{[]string{"logs", "--no-log-prefix", "db"}, []string{"db line"}},
		{[]string{"logs", "-n", "1"}, []string{"db-1   | db line", "web-1  | two", "web-2  | other"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := lines(c.ok(tc.args...))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("timestamps", func(t *testing.T) {
		got := lines(c.ok("logs", "-t", "--no-log-prefix", "db"))
		if len(got) != 1 || !strings.HasSuffix(got[0], " db line") || !strings.HasPrefix(got[0], "20") {
			t.Errorf("got %q, want an RFC 3339 time before the line", got)
		}
	})
	t.Run("since", func(t *testing.T) {
		if got := c.ok("logs", "--since", "2999-01-01T00:00:00Z"); got != "" {
			t.Errorf("logs since the future: %q", got)
		}
	})
	t.Run("follow", func(t *testing.T) {
		done := make(chan string)
		go func() { done <- c.ok("logs", "-f", "--no-log-prefix", "db") }()
		time.Sleep(200 * time.Millisecond)
		if err := c.f.Log("t-db-1", "stdout", "later"); err != nil {
			t.Error(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := c.f.Exit("t-db-1", 0); err != nil {
			t.Error(err)
		}
		select {
		case out := <-done:
			if out != "db line\nlater\n" {
				t.Errorf("logs -f: %q", out)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("logs -f did not end when the container stopped")
		}
	})
	t.Run("output", func(t *testing.T) {
		dir := t.TempDir()
		out := c.ok("logs", "--output", dir, "web")
		if got := lines(out); len(got) != 1 || got[0] != filepath.Join(dir, "web.log") {
			t.Fatalf("--output printed %q", out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "web.log"))
		if err != nil || !strings.Contains(string(b), "one") || !strings.Contains(string(b), "other") {
			t.Errorf("web.log: %q %v", b, err)
		}
		c.fails(1, "--output cannot be combined", "logs", "--output", dir, "-f")
	})
	c.fails(1, "no such service: nope", "logs", "nope")
}
