package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// lines splits output into its non-empty lines, sorted.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// engineObjects lists the project's networks and volumes on the engine.
func engineObjects(t *testing.T, p *testProject) (networks, volumes []string) {
	t.Helper()
	filter := "label=com.docker.compose.project=" + p.name
	return lines(docker(t, "network", "ls", "--filter", filter, "--format", "{{.Name}}")),
		lines(docker(t, "volume", "ls", "--filter", filter, "--format", "{{.Name}}"))
}

// TestRunEnvFromFileQuiet: run --env-from-file sets the file's variables
// (-e wins, the file's ${VAR} sees -e), as docker compose v5.5.0; run -q
// prints the command's output and no progress; a file that cannot be read
// is an error naming it, before anything is created.
func TestRunEnvFromFileQuiet(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	p := newProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: " + busyboxImage() + "\n",
		"vars.env":     "FOO=fromfile\nBAR=${BAZ}x\nONLY=file\n",
	})
	r := p.run("run", "--rm", "--env-from-file", "missing.env", "web", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "missing.env") {
		t.Errorf("a missing file: exit %d, stderr %q; want an error naming it", r.code, r.stderr)
	}
	if nets, _ := engineObjects(t, p); len(nets) > 0 {
		t.Errorf("a missing file still created %v", nets)
	}
	args := []string{"run", "--rm", "-q", "--env-from-file", "vars.env", "-e", "BAZ=z", "-e", "FOO=cli", "web", "sh", "-c", "echo FOO=$FOO BAR=$BAR ONLY=$ONLY"}
	got := p.mustRun(t, args...)
	if got.stdout != "FOO=cli BAR=zx ONLY=file\n" {
		t.Errorf("stdout %q", got.stdout)
	}
	if strings.Contains(got.stderr, "Network") || strings.Contains(got.stderr, "Container") {
		t.Errorf("-q printed progress:\n%s", got.stderr)
	}
	if nets, _ := engineObjects(t, p); len(nets) == 0 {
		t.Errorf("run created no network: it did not converge the project")
	}
	if want := refCompose(t, bin, p, args...); want.stdout != got.stdout {
		t.Errorf("berth printed %q, docker compose %q", got.stdout, want.stdout)
	}
}

// TestPsOrphans: ps includes the containers of services the files do not
// declare (docker compose's --orphans, true by default); --orphans=false
// leaves them out, as docker compose v5.5.0.
func TestPsOrphans(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	p := newProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: " + busyboxImage() + "\n    command: sleep 300\n  worker:\n    image: " + busyboxImage() + "\n    command: sleep 300\n",
		"one.yaml":     "services:\n  web:\n    image: " + busyboxImage() + "\n    command: sleep 300\n",
	})
	p.mustRun(t, "up", "-d")
	for _, flags := range [][]string{nil, {"--orphans"}, {"--orphans=false"}} {
		args := append(append([]string{"-f", "one.yaml", "ps"}, flags...), "--format", "{{.Service}}")
		got := strings.Join(lines(p.mustRun(t, args...).stdout), " ")
		want := strings.Join(lines(refCompose(t, bin, p, args...).stdout), " ")
		wantOwn := "web worker"
		if len(flags) > 0 && flags[0] == "--orphans=false" {
			wantOwn = "web"
		}
		if got != want || got != wantOwn {
			t.Errorf("ps %v: berth lists %q, docker compose %q, want %q", flags, got, want, wantOwn)
		}
	}
}

// TestCompatibilityNames: --compatibility (and COMPOSE_COMPATIBILITY)
// name containers project_service_1, as docker compose v5.5.0 does, so
// that each tool leaves the other's containers as they are.
func TestCompatibilityNames(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	p := newProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: " + busyboxImage() + "\n    command: sleep 300\n"})
	if got, want := p.mustRun(t, "--compatibility", "config").stdout, refCompose(t, bin, p, "--compatibility", "config").stdout; got != want {
		t.Errorf("--compatibility config (not normalized):\n--- berth\n%s\n--- docker compose\n%s", got, want)
	}
	p.mustRun(t, "--compatibility", "up", "-d")
	filter := "label=com.docker.compose.project=" + p.name
	before := docker(t, "ps", "-a", "--filter", filter, "--format", "{{.Names}} {{.ID}}")
	if strings.TrimSpace(before) == "" || !strings.HasPrefix(before, p.name+"_web_1 ") {
		t.Fatalf("--compatibility up made %q, want %s_web_1", before, p.name)
	}
	refCompose(t, bin, p, "--compatibility", "up", "-d")
	p.env = append(p.env, "COMPOSE_COMPATIBILITY=1")
	p.mustRun(t, "up", "-d")
	if after := docker(t, "ps", "-a", "--filter", filter, "--format", "{{.Names}} {{.ID}}"); after != before {
		t.Errorf("docker compose --compatibility up, then COMPOSE_COMPATIBILITY=1 berth up changed %q to %q", before, after)
	}
	r := p.mustRun(t, "run", "-d", "web", "sleep", "60") // prints the container's ID, as docker compose
	if name := docker(t, "inspect", "--format", "{{.Name}}", strings.TrimSpace(r.stdout)); !strings.HasPrefix(name, "/"+p.name+"_web_run_") {
		t.Errorf("run -d in compatibility mode made %q", name)
	}
}

// TestAllResources: --all-resources creates (and down removes) the
// networks and volumes no service uses, as docker compose v5.5.0; without
// it they are left out.
func TestAllResources(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	p := newProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: " + busyboxImage() + "\n    command: sleep 300\nnetworks:\n  extra: {}\nvolumes:\n  unused: {}\n"})
	for _, flags := range [][]string{nil, {"--all-resources"}} {
		got := p.mustRun(t, append(flags, "config", "--networks", "--volumes")...).stdout
		want := refCompose(t, bin, p, append(flags, "config", "--networks", "--volumes")...).stdout
		if got != want {
			t.Errorf("config %v: berth %q, docker compose %q", flags, got, want)
		}
	}
	p.mustRun(t, "up", "-d")
	nets, vols := engineObjects(t, p)
	if strings.Join(nets, " ") != p.name+"_default" || len(vols) != 0 {
		t.Errorf("up made networks %v volumes %v, want only %s_default", nets, vols, p.name)
	}
	p.mustRun(t, "--all-resources", "up", "-d")
	nets, vols = engineObjects(t, p)
	if strings.Join(nets, " ") != p.name+"_default "+p.name+"_extra" || strings.Join(vols, " ") != p.name+"_unused" {
		t.Errorf("--all-resources up made networks %v volumes %v", nets, vols)
	}
	p.mustRun(t, "--all-resources", "down", "-v")
	if nets, vols = engineObjects(t, p); len(nets)+len(vols) > 0 {
		t.Errorf("--all-resources down -v left %v %v", nets, vols)
	}
}

// TestUpMenuVerbose: up accepts --menu and --menu=false (berth has no
// menu); --verbose says which container runtime berth uses and why.
func TestUpMenuVerbose(t *testing.T) {
	requireEngine(t)
	p := newProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: " + busyboxImage() + "\n    command: sleep 300\n"})
	p.mustRun(t, "up", "-d", "--menu=false")
	p.mustRun(t, "up", "-d", "--menu")
	r := p.mustRun(t, "--verbose", "ps")
	if !strings.Contains(r.stderr, "container runtime engine (") {
		t.Errorf("--verbose ps: stderr %q", r.stderr)
	}
	if r := p.mustRun(t, "ps"); strings.Contains(r.stderr, "container runtime") {
		t.Errorf("ps without --verbose: stderr %q", r.stderr)
	}
}

// TestBuildFlags: build --push pushes what it built to the registry; -m
// limits the memory of RUN steps (a step that fills a 100 MB buffer is
// killed under -m 32m, and passes under -m 256m); --ssh, --check, attestations and other builders are refused
// before anything is built, --provenance=false and --builder default are
// accepted.
func TestBuildFlags(t *testing.T) {
	requireEngine(t)
	addr := startRegistry(t)
	p := newProject(t, map[string]string{
		"compose.yaml": fmt.Sprintf("services:\n  app:\n    image: %s/berthe2e/%s:1\n    build: .\n", addr, "buildflags"),
		"Dockerfile":   "FROM " + busyboxImage() + "\nARG BIG=0\nRUN if [ \"$BIG\" = 1 ]; then dd if=/dev/zero of=/dev/null bs=100M count=1; fi && echo done\n",
	})
	image := addr + "/berthe2e/buildflags:1"
	t.Cleanup(func() { removeImages(image) })
	for _, flags := range [][]string{{"--ssh", "default"}, {"--check"}, {"--provenance", "mode=max"}, {"--sbom", "true"}, {"--builder", "mybuilder"}} {
		r := p.run(append([]string{"build"}, flags...)...)
		if r.code == 0 || !strings.Contains(r.stderr, flags[0]) || !strings.Contains(r.stderr, "unsupported") {
			t.Errorf("build %v: exit %d, stderr %q; want a refusal naming %s", flags, r.code, r.stderr, flags[0])
		}
	}
	if _, err := runDocker(t.Context(), nil, "image", "inspect", image); err == nil {
		t.Fatal("a refused build built the image")
	}
	if r := p.run("build", "-m", "32m", "--build-arg", "BIG=1"); r.code == 0 || !strings.Contains(r.stderr, "137") {
		t.Errorf("build -m 32m of a step that needs 100 MB: exit %d, stderr %q; want it killed (137)", r.code, r.stderr)
	}
	p.mustRun(t, "build", "-m", "256m", "--push", "--provenance=false", "--builder", "default", "--build-arg", "BIG=1")
	req, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/v2/berthe2e/buildflags/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("build --push: the registry answers %s for the image", resp.Status)
	}
}

// TestBuiltinBuildMemory: build -m limits the RUN steps of the built-in
// runtime's builder too.
func TestBuiltinBuildMemory(t *testing.T) {
	p := newBuiltinProject(t, map[string]string{
		"compose.yaml": "services:\n  app:\n    build: .\n",
		"Dockerfile":   "FROM " + busyboxImage() + "\nARG BIG=0\nRUN if [ \"$BIG\" = 1 ]; then dd if=/dev/zero of=/dev/null bs=100M count=1; fi && echo done\n",
	})
	if r := p.run("build", "-m", "32m", "--build-arg", "BIG=1"); r.code == 0 {
		t.Errorf("build -m 32m of a step that fills a 100 MB buffer passed:\n%s", r.stderr)
	}
	p.mustRun(t, "build", "-m", "256m", "--build-arg", "BIG=1")
	p.mustRun(t, "down", "--rmi", "all")
}
