package cli

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPublishRoundTrip publishes to an in-memory registry on the loopback,
// loads the artifact back with -f oci://, and pins digests with config
// --resolve-image-digests: the commands' wiring, without an engine.
func TestPublishRoundTrip(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	imgRef, _ := name.ParseReference(host+"/lib/img:1", name.Insecure)
	if err := remote.Write(imgRef, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": "services:\n  web:\n    image: " + host + "/lib/img:1\n    env_file: app.env\n",
		"app.env":      "A=1\n",
		"bind.yaml":    "services:\n  web:\n    image: " + host + "/lib/img:1\n    volumes: [./data:/data]\n",
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"BERTH_NO_CACHE=1", "HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + t.TempDir()}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())

	out, errOut, code := runCLI(t, dir, env, "-p", "pub", "config", "--lock-image-digests")
	if want := "services:\n  web:\n    image: " + host + "/lib/img:1@" + d.String() + "\n"; code != 0 || out != want {
		t.Errorf("config --lock-image-digests: exit %d %s\n%q, want %q", code, errOut, out, want)
	}
	if _, errOut, code := runCLI(t, dir, env, "-p", "pub", "-f", "bind.yaml", "publish", host+"/team/app:bind"); code != 130 || !strings.Contains(errOut, "bind mounts") {
		t.Errorf("bind mounts without -y: exit %d, stderr %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, dir, env, "-p", "pub", "publish", "-y", "--app", host+"/team/app:app"); code != 0 || !strings.Contains(errOut, "Index") {
		t.Errorf("--app: exit %d, stderr %s", code, errOut)
	}
	// the image is now in the artifact's repository too
	copied, _ := name.ParseReference(host+"/team/app@"+d.String(), name.Insecure)
	if _, err := remote.Head(copied); err != nil {
		t.Errorf("--app did not copy the image: %v", err)
	}
	if _, errOut, code := runCLI(t, dir, env, "-p", "pub", "publish", "-y", "--with-env", "--resolve-image-digests", host+"/team/app:v1"); code != 0 {
		t.Fatalf("publish: exit %d, stderr %s", code, errOut)
	}
	out, errOut, code = runCLI(t, t.TempDir(), env, "-p", "pub", "-f", "oci://"+host+"/team/app:v1", "config", "--format", "json")
	if code != 0 || !strings.Contains(out, `"A": "1"`) || !strings.Contains(out, "@"+d.String()) {
		t.Errorf("-f oci:// config: exit %d %s\n%s", code, errOut, out)
	}
}
