package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The reference docker compose binaries (../shared/peers: v2.40.3 and
// v5.5.0, built from docker/compose's sources) against berth on one engine:
// a project one tool brought up is left untouched by the other's up, which
// needs the same config hash (project/hashcompat.go), and each tool's ps,
// logs and down work on the other's project.

var (
	peersOnce sync.Once
	peersDir  string
	peersErr  error
)

// referenceCompose returns the path of docker-compose-<version>, unpacked
// by ../shared/peers/install. It fails the test under CI=true when the
// binaries cannot be had, and skips it elsewhere.
func referenceCompose(t *testing.T, version string) string {
	t.Helper()
	peersOnce.Do(func() {
		install, err := filepath.Abs("../../shared/peers/install")
		if err != nil {
			peersErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		r := command(ctx, "", nil, nil, install)
		if r.code != 0 {
			peersErr = fmt.Errorf("%s: exit %d: %s", install, r.code, r.stderr)
			return
		}
		peersDir = strings.TrimSpace(r.stdout)
	})
	if peersErr != nil {
		if inCI {
			t.Fatalf("the reference docker compose binaries: %v", peersErr)
		}
		t.Skipf("the reference docker compose binaries: %v", peersErr)
	}
	bin := filepath.Join(peersDir, "docker-compose-"+version)
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// refCompose runs a reference docker compose in p's directory.
func refCompose(t *testing.T, bin string, p *testProject, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	r := command(ctx, p.dir, p.environ(), nil, bin, append([]string{"-p", p.name}, args...)...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\n%s%s", filepath.Base(bin), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// interopRefFiles is a project whose hash depends on what differs between
// compose-go versions: a short-syntax bind and a long-syntax one, an
// env_file, a healthcheck, a published port, a named volume.
func interopRefFiles() map[string]string {
	return map[string]string{
		"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sh", "-c", "echo hello from web; exec sleep 3600"]
    stop_signal: SIGKILL
    env_file: [web.env]
    volumes:
      - ./site:/site:ro
      - type: bind
        source: ./conf
        target: /conf
      - data:/data
    ports: ["80"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  worker:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on:
      web: {condition: service_healthy}
volumes:
  data: {}
`, busyboxImage()),
		"web.env":        "GREETING=hello\n",
		"site/index.txt": "hi\n",
		"conf/app.conf":  "x=1\n",
	}
}

func containerIDs(t *testing.T, p *testProject) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, c := range engineContainers(t, p) {
		if c.State != "running" {
			t.Errorf("container %s is %s", c.Name, c.State)
		}
		ids[c.Name] = c.ID
	}
	return ids
}

func TestInteropReferenceCompose(t *testing.T) {
	for _, version := range []string{"v2.40.3", "v5.5.0"} {
		t.Run(version, func(t *testing.T) {
			requireEngine(t)
			bin := referenceCompose(t, version)
			p := newProject(t, interopRefFiles())

			// docker compose brings it up; berth finds it up to date.
			refCompose(t, bin, p, "up", "-d", "--wait")
			before := containerIDs(t, p)
			if len(before) != 2 {
				t.Fatalf("docker compose %s made %v", version, before)
			}
			up := p.mustRun(t, "up", "-d", "--wait")
			if after := containerIDs(t, p); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("berth up -d changed docker compose %s's containers:\nbefore %v\nafter  %v\n%s", version, before, after, up.stderr)
			}
			if r := p.mustRun(t, "up", "-d", "--dry-run"); strings.Contains(r.stdout+r.stderr, "recreate") {
				t.Errorf("berth plans to recreate after docker compose %s:\n%s%s", version, r.stdout, r.stderr)
			}
			if out := p.mustRun(t, "logs", "web").stdout; !strings.Contains(out, "hello from web") {
				t.Errorf("berth logs of docker compose %s's web: %q", version, out)
			}
			if version == "v5.5.0" {
				comparePs(t, refCompose(t, bin, p, "ps", "--format", "json").stdout, p.mustRun(t, "ps", "--format", "json").stdout)
				for _, args := range [][]string{{"ls", "--filter", "name=^" + p.name + "$"}, {"ls", "--format", "json", "--filter", "name=" + p.name}} {
					if want, got := refCompose(t, bin, p, args...).stdout, p.mustRun(t, args...).stdout; got != want {
						t.Errorf("berth %s:\n%s\ndocker compose v5.5.0:\n%s", strings.Join(args, " "), got, want)
					}
				}
			}

			// berth brings it up; docker compose finds it up to date (v5:
			// berth writes v5's hash; v2.40.3 computes another one for the
			// short-syntax bind, as it does after an upgrade to v5).
			p.mustRun(t, "down", "-v")
			requireNothingLeft(t, p, "berth down -v")
			p.mustRun(t, "up", "-d", "--wait")
			before = containerIDs(t, p)
			refCompose(t, bin, p, "up", "-d", "--wait")
			after := containerIDs(t, p)
			if same := fmt.Sprint(after) == fmt.Sprint(before); same != (version != "v2.40.3") {
				t.Errorf("docker compose %s up -d after berth: containers unchanged %v\nbefore %v\nafter  %v", version, same, before, after)
			}
			if ps := refCompose(t, bin, p, "ps").stdout; !strings.Contains(ps, p.name+"-web-1") {
				t.Errorf("docker compose %s ps:\n%s", version, ps)
			}
			refCompose(t, bin, p, "down", "-v")
			requireNothingLeft(t, p, "docker compose "+version+" down -v")
		})
	}
}

// comparePs checks that berth's ps --format json has docker compose's keys
// and, for those that do not depend on when or how the engine lists, its
// values.
func comparePs(t *testing.T, compose, berth string) {
	t.Helper()
	parse := func(out string) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("ps --format json line %q: %v", line, err)
			}
			m[fmt.Sprint(e["Name"])] = e
		}
		return m
	}
	c, b := parse(compose), parse(berth)
	if len(c) != len(b) {
		t.Fatalf("ps --format json: docker compose lists %d containers, berth %d", len(c), len(b))
	}
	for name, ce := range c {
		be := b[name]
		for k, cv := range ce {
			bv, ok := be[k]
			if !ok {
				t.Errorf("%s: berth's ps --format json has no %s (docker compose: %v)", name, k, cv)
				continue
			}
			switch k {
			case "Labels", "Mounts": // lists in map or engine order
				cs, bs := strings.Split(fmt.Sprint(cv), ","), strings.Split(fmt.Sprint(bv), ",")
				slices.Sort(cs)
				slices.Sort(bs)
				if !slices.Equal(cs, bs) {
					t.Errorf("%s: %s %v, docker compose %v", name, k, bv, cv)
				}
			case "RunningFor", "Status", "Health", "Publishers", "Ports":
				// time-dependent; Publishers and Ports checked by other tests
			default:
				if fmt.Sprint(bv) != fmt.Sprint(cv) {
					t.Errorf("%s: %s %v, docker compose %v", name, k, bv, cv)
				}
			}
		}
	}
}

// TestConfigMatchesComposeV5: berth config (YAML and JSON) prints what
// docker compose v5.5.0's config prints, byte for byte, for the testdata
// corpus (berth links the go.yaml.in/yaml/v4 release v5.5.0 links, rc.6:
// rc.4 quoted a string such as yes with double quotes where rc.6 uses
// single ones).
func TestConfigMatchesComposeV5(t *testing.T) {
	bin := referenceCompose(t, "v5.5.0")
	root, err := filepath.Abs("../testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		var args, env []string
		if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
			args = strings.Fields(string(b))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
			env = strings.Fields(string(b))
		}
		env = append(env, "PATH="+os.Getenv("PATH"))
		for _, flags := range [][]string{{"--format", "json"}, {"--format", "yaml"}, {"--no-env-resolution"},
			{"--no-path-resolution"}, {"--no-normalize"}} {
			t.Run(e.Name()+"/"+strings.Join(flags, " "), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
				defer cancel()
				a := append(append(slices.Clone(args), "config"), flags...)
				want := command(ctx, dir, env, nil, bin, a...)
				got := command(ctx, dir, env, nil, berthBin, a...)
				if want.code != 0 || got.code != 0 {
					t.Fatalf("docker compose: exit %d %s\nberth: exit %d %s", want.code, want.stderr, got.code, got.stderr)
				}
				if got.stdout != want.stdout {
					t.Errorf("berth config %s differs from docker compose v5.5.0's:\n--- berth\n%s\n--- docker compose\n%s", strings.Join(flags, " "), got.stdout, want.stdout)
				}
			})
		}
	}
}
