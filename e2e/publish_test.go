package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushTestImage tags the test image as addr/<repo>:1, pushes it to the
// registry at addr, and returns the reference and the digest the registry
// has for it.
func pushTestImage(t *testing.T, addr, repo string) (ref, digest string) {
	t.Helper()
	ref = addr + "/" + repo + ":1"
	docker(t, "tag", busyboxImage(), ref)
	t.Cleanup(func() { removeImages(ref) })
	docker(t, "push", "-q", ref)
	repoDigest := docker(t, "image", "inspect", "--format", `{{index .RepoDigests 0}}`, ref)
	_, digest, _ = strings.Cut(strings.TrimSpace(repoDigest), "@")
	return ref, digest
}

// TestConfigImageDigests: config --resolve-image-digests and
// --lock-image-digests print what docker compose v5.5.0 prints, byte for
// byte, with the digest the registry has (tagged references pinned, a
// digested one kept, the other keys gone with --lock-image-digests).
func TestConfigImageDigests(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	addr := startRegistry(t)
	ref, digest := pushTestImage(t, addr, "berthe2e/digests")
	p := newProject(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %s
    command: sleep 1
    environment: {A: "1"}
  pinned:
    image: %s@sha256:%064d
volumes:
  data: {}
`, ref, ref, 0)})
	for _, flags := range [][]string{{"--resolve-image-digests"}, {"--lock-image-digests"}, {"--resolve-image-digests", "--format", "json"}, {"--lock-image-digests", "--no-interpolate"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			want := refCompose(t, bin, p, append([]string{"config"}, flags...)...)
			got := p.mustRun(t, append([]string{"config"}, flags...)...)
			if got.stdout != want.stdout {
				t.Errorf("berth config %s differs from docker compose v5.5.0's:\n--- berth\n%s\n--- docker compose\n%s", strings.Join(flags, " "), got.stdout, want.stdout)
			}
			if !strings.Contains(got.stdout, ref+"@"+digest) {
				t.Errorf("the output does not pin %s to %s:\n%s", ref, digest, got.stdout)
			}
			lock := flags[0] == "--lock-image-digests"
			if strings.Contains(got.stdout, "sleep") == lock {
				t.Errorf("--lock-image-digests %v, yet the command is there %v:\n%s", lock, !lock, got.stdout)
			}
		})
	}
	// An image the registry lacks is an error naming it.
	missing := newProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: " + addr + "/berthe2e/none:1\n"})
	if r := missing.run("config", "--resolve-image-digests"); r.code == 0 || !strings.Contains(r.stderr, addr+"/berthe2e/none:1") {
		t.Errorf("a missing image: exit %d, stderr %q; want an error naming it", r.code, r.stderr)
	}
}

// getManifest reads repo:tag's OCI manifest from the registry at addr;
// ok is false when there is none.
func getManifest(t *testing.T, addr, repo, tag string) (m ocispec.Manifest, ok bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return m, false
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: %s %s", repo, tag, resp.Status, b)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest %s: %v", b, err)
	}
	return m, true
}

// layerKey is what must match between berth's and docker compose's
// artifacts, layer by layer (the version annotation aside).
func layerKey(l ocispec.Descriptor) string {
	return fmt.Sprintf("%s %s file=%s envfile=%s extends=%s", l.MediaType, l.Digest, l.Annotations["com.docker.compose.file"], l.Annotations["com.docker.compose.envfile"], l.Annotations["com.docker.compose.extends"])
}

// TestPublish publishes a project (env_file, extends file, a pinned image)
// to a local registry with berth and with docker compose v5.5.0: the
// manifests have the same artifact type, config and layers (digests,
// media types, annotations), and docker compose reads berth's artifact
// back with -f oci://.
func TestPublish(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	addr := startRegistry(t)
	ref, digest := pushTestImage(t, addr, "berthe2e/publish-img")
	p := newProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: " + ref + "\n    env_file: app.env\n    extends:\n      file: base.yaml\n      service: base\n  debug:\n    image: " + ref + "\n    profiles: [debug]\n",
		"base.yaml":    "services:\n  base:\n    command: [\"sleep\", \"60\"]\n    environment:\n      FROM_BASE: \"base\"\n",
		"app.env":      "FROM_ENV_FILE=1\n",
	})
	repo := "berthe2e/" + p.name
	args := []string{"publish", "-y", "--with-env", "--resolve-image-digests"}
	p.mustRun(t, append(args, addr+"/"+repo+":berth")...)
	refCompose(t, bin, p, append(args, "--insecure-registry", addr+"/"+repo+":compose")...)

	got, ok := getManifest(t, addr, repo, "berth")
	if !ok {
		t.Fatal("berth published nothing")
	}
	want, _ := getManifest(t, addr, repo, "compose")
	if got.ArtifactType != "application/vnd.docker.compose.project" || got.ArtifactType != want.ArtifactType ||
		got.Config.MediaType != want.Config.MediaType || got.Config.Digest != want.Config.Digest {
		t.Errorf("manifest: artifactType %q config %s %s; docker compose's: %q %s %s", got.ArtifactType, got.Config.MediaType, got.Config.Digest, want.ArtifactType, want.Config.MediaType, want.Config.Digest)
	}
	var gotKeys, wantKeys []string
	for _, l := range got.Layers {
		gotKeys = append(gotKeys, layerKey(l))
	}
	for _, l := range want.Layers {
		wantKeys = append(wantKeys, layerKey(l))
	}
	if strings.Join(gotKeys, "\n") != strings.Join(wantKeys, "\n") {
		t.Errorf("layers differ from docker compose v5.5.0's:\n--- berth\n%s\n--- docker compose\n%s", strings.Join(gotKeys, "\n"), strings.Join(wantKeys, "\n"))
	}
	// The env_file path is replaced by its hash; no local path is published.
	envHash := fmt.Sprintf("%x.env", sha256.Sum256([]byte(filepath.Join(p.dir, "app.env"))))
	if len(got.Layers) == 0 || !strings.Contains(string(got.Layers[0].Data), "env_file: "+envHash) || strings.Contains(string(got.Layers[0].Data), p.dir) {
		t.Errorf("compose.yaml layer:\n%s", got.Layers[0].Data)
	}

	// An OCI 1.0 manifest, for registries without 1.1: no artifactType,
	// docker compose's config media type.
	p.mustRun(t, append(args, "--oci-version", "1.0", addr+"/"+repo+":oci10")...)
	if m, _ := getManifest(t, addr, repo, "oci10"); m.ArtifactType != "" || m.Config.MediaType != "application/vnd.docker.compose.config.empty.v1+json" || len(m.Layers) != len(got.Layers) {
		t.Errorf("--oci-version 1.0: artifactType %q config %s, %d layers", m.ArtifactType, m.Config.MediaType, len(m.Layers))
	}

	// docker compose runs berth's artifacts: the extends, the env file and
	// the pinned image all come from the registry.
	for _, tag := range []string{"berth", "oci10"} {
		checkReadBack(t, bin, p, "oci://"+addr+"/"+repo+":"+tag, ref+"@"+digest)
	}

	// berth loads -f oci:// as docker compose does (its artifact and
	// berth's), and runs it.
	for _, tag := range []string{"berth", "compose", "oci10"} {
		url := "oci://" + addr + "/" + repo + ":" + tag
		got := p.mustRun(t, "-f", url, "config")
		want := refCompose(t, bin, p, "--insecure-registry", addr, "-f", url, "config")
		if got.stdout != want.stdout {
			t.Errorf("berth -f %s config differs from docker compose v5.5.0's:\n--- berth\n%s\n--- docker compose\n%s", url, got.stdout, want.stdout)
		}
	}
	url := "oci://" + addr + "/" + repo + ":berth"
	p.mustRun(t, "-f", url, "up", "-d")
	env := docker(t, "inspect", "--format", "{{json .Config.Env}}", p.name+"-web-1")
	if !strings.Contains(env, `"FROM_ENV_FILE=1"`) || !strings.Contains(env, `"FROM_BASE=base"`) {
		t.Errorf("berth -f %s up: web's environment %s", url, env)
	}
	p.mustRun(t, "-f", url, "down")
}

// checkReadBack has docker compose v5.5.0 load the artifact at url and
// checks web's image, command and environment.
func checkReadBack(t *testing.T, bin string, p *testProject, url, image string) {
	t.Helper()
	addr := strings.SplitN(strings.TrimPrefix(url, "oci://"), "/", 2)[0]
	out := refCompose(t, bin, p, "--insecure-registry", addr, "-f", url, "config", "--format", "json")
	var model struct {
		Services map[string]struct {
			Image       string            `json:"image"`
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &model); err != nil {
		t.Fatalf("%v\n%s", err, out.stdout)
	}
	web := model.Services["web"]
	if web.Image != image || web.Environment["FROM_ENV_FILE"] != "1" || web.Environment["FROM_BASE"] != "base" || strings.Join(web.Command, " ") != "sleep 60" {
		t.Errorf("docker compose reads back web as %+v\n%s", web, out.stdout)
	}
}

// TestPublishRefusals: what docker compose refuses or asks about is
// refused, or canceled without a yes, and nothing is pushed; --dry-run
// pushes nothing.
func TestPublishRefusals(t *testing.T) {
	requireEngine(t)
	addr := startRegistry(t)
	tests := []struct {
		name  string
		files map[string]string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"bind mount, no answer", map[string]string{"compose.yaml": "services:\n  web:\n    image: example.com/web:1\n    volumes: [./data:/data]\n"}, "", nil, 130, "bind mounts declaration"},
		{"bind mount, no", map[string]string{"compose.yaml": "services:\n  web:\n    image: example.com/web:1\n    volumes: [./data:/data]\n"}, "n\n", nil, 130, "bind mounts declaration"},
		{"env_file without --with-env", map[string]string{"compose.yaml": "services:\n  web:\n    image: example.com/web:1\n    env_file: a.env\n", "a.env": "A=1\n"}, "", nil, 130, "env-related declarations"},
		{"build only", map[string]string{"compose.yaml": "services:\n  web:\n    build: .\n", "Dockerfile": "FROM scratch\n"}, "", []string{"-y"}, 1, `only contains a build section for service(s):`},
		{"local include", map[string]string{"compose.yaml": "include: [other.yaml]\nservices:\n  web:\n    image: example.com/web:1\n", "other.yaml": "services:\n  db:\n    image: example.com/db:1\n"}, "", []string{"-y"}, 1, "cannot publish compose file with local includes"},
		{"dry run", map[string]string{"compose.yaml": "services:\n  web:\n    image: example.com/web:1\n"}, "", []string{"-y", "--dry-run"}, 0, "application/vnd.docker.compose.file+yaml compose.yaml"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProject(t, tt.files)
			tag := fmt.Sprintf("t%d", i)
			r := p.runStdin(tt.stdin, append(append([]string{"publish"}, tt.args...), addr+"/berthe2e/refusals:"+tag)...)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Errorf("exit %d, want %d saying %q\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, tt.want, r.stdout, r.stderr)
			}
			if _, ok := getManifest(t, addr, "berthe2e/refusals", tag); ok {
				t.Errorf("something was published")
			}
		})
	}
	// Answered yes, it is published.
	p := newProject(t, tests[0].files)
	r := p.runStdin("y\n", "publish", addr+"/berthe2e/refusals:yes")
	if _, ok := getManifest(t, addr, "berthe2e/refusals", "yes"); r.code != 0 || !ok {
		t.Errorf("answered yes: exit %d, published %v\n%s", r.code, ok, r.stderr)
	}
}

// TestPublishPushesBuiltImages: publish pushes the images the services
// build before the artifact, as docker compose does, so that the artifact
// can be run elsewhere.
func TestPublishPushesBuiltImages(t *testing.T) {
	requireEngine(t)
	addr := startRegistry(t)
	image := addr + "/berthe2e/pubbuilt:1"
	t.Cleanup(func() { removeImages(image) })
	p := newProject(t, map[string]string{
		"compose.yaml": "services:\n  app:\n    image: " + image + "\n    build: .\n",
		"Dockerfile":   "FROM " + busyboxImage() + "\nRUN echo built > /built\n",
	})
	p.mustRun(t, "build")
	r := p.mustRun(t, "publish", "-y", addr+"/berthe2e/pubart:1")
	if !strings.Contains(r.stderr, "Pushed") {
		t.Errorf("publish did not report the image push:\n%s", r.stderr)
	}
	req, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/v2/berthe2e/pubbuilt/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the built image is not in the registry: %s", resp.Status)
	}
	if _, ok := getManifest(t, addr, "berthe2e/pubart", "1"); !ok {
		t.Error("the artifact is not in the registry")
	}
}

// TestPublishApp: publish --app copies the services' images into the
// artifact's repository and pushes an index of them whose subject is the
// artifact, as docker compose v5.5.0 (same entries and annotations); the
// artifact is still read back by docker compose.
func TestPublishApp(t *testing.T) {
	requireEngine(t)
	bin := referenceCompose(t, "v5.5.0")
	addr := startRegistry(t)
	ref, digest := pushTestImage(t, addr, "berthe2e/app-img")
	p := newProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: " + ref + "\n"})
	repo := "berthe2e/" + p.name
	r := p.mustRun(t, "publish", "-y", "--app", addr+"/"+repo+":1")
	_, after, ok := strings.Cut(r.stderr, "Index "+addr+"/"+repo+":1 Published ")
	if !ok {
		t.Fatalf("publish --app printed no index:\n%s", r.stderr)
	}
	indexDigest := strings.Fields(after)[0]
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/"+repo+"/manifests/"+indexDigest, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	err = json.NewDecoder(resp.Body).Decode(&index)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := getManifest(t, addr, repo, "1")
	head, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/v2/"+repo+"/manifests/1", nil)
	head.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	hresp, err := http.DefaultClient.Do(head)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if len(index.Manifests) != 1 || index.Manifests[0].Digest.String() != digest ||
		index.Manifests[0].Annotations["containerd.io/distribution.source.127.0.0.1"] != "berthe2e/app-img" ||
		index.Subject == nil || index.Subject.Digest.String() != hresp.Header.Get("Docker-Content-Digest") ||
		index.Subject.ArtifactType != "application/vnd.docker.compose.project" {
		t.Errorf("index %+v; want the image %s and the artifact %s as subject", index, digest, hresp.Header.Get("Docker-Content-Digest"))
	}
	copied, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/v2/"+repo+"/manifests/"+digest, nil)
	copied.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	cresp, err := http.DefaultClient.Do(copied)
	if err != nil {
		t.Fatal(err)
	}
	cresp.Body.Close()
	if cresp.StatusCode != http.StatusOK {
		t.Errorf("the image was not copied into %s: %s", repo, cresp.Status)
	}
	// the digests override is there, as --app implies it
	if !strings.Contains(string(manifest.Layers[len(manifest.Layers)-1].Data), ref+"@"+digest) {
		t.Errorf("--app without the digests override: %s", manifest.Layers[len(manifest.Layers)-1].Data)
	}
	out := refCompose(t, bin, p, "--insecure-registry", addr, "-f", "oci://"+addr+"/"+repo+":1", "config", "--images")
	if strings.TrimSpace(out.stdout) != ref+"@"+digest {
		t.Errorf("docker compose reads the image as %q", out.stdout)
	}
}
