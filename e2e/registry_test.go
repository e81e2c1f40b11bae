package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// registryPath is Debian's docker-registry (the CNCF distribution
// registry), installed by .ci/deps.sh. Its packaged configuration listens
// on every address with authentication, so the tests start it with their
// own.
const registryPath = "/usr/bin/docker-registry"

// startRegistry starts a registry on 127.0.0.1, on a port the system
// picks (read from the registry's log, so no other process can take it in
// between), storing in a temporary directory, with no authentication, and
// returns its address ("127.0.0.1:port"). The engine pushes to and pulls
// from it over plain HTTP: it trusts registries on loopback addresses
// without configuration. The registry is stopped when the test ends.
// Without the binary the test skips, or fails under CI=true.
func startRegistry(t *testing.T) string {
	t.Helper()
	return startRegistryIn(t, "")
}

// startRegistryIn is startRegistry in the network namespace netns ("" for
// the host's): there, the registry is ready once it says it listens (the
// test process cannot reach that loopback to ask it).
func startRegistryIn(t *testing.T, netns string) string {
	t.Helper()
	if _, err := os.Stat(registryPath); err != nil {
		if inCI {
			t.Fatalf("CI=true and no registry: %v (.ci/deps.sh installs docker-registry)", err)
		}
		t.Skipf("no registry: %v (make deps installs docker-registry)", err)
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog: {disabled: true}
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
`, filepath.Join(dir, "data"))
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(registryPath, "serve", configPath)
	if netns != "" {
		// nsenter enters the namespace and execs the registry: one process
		cmd = exec.Command("nsenter", "--net=/var/run/netns/"+netns, registryPath, "serve", configPath)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one pipe for both
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", registryPath, err)
	}
	// The log: kept for error messages, and scanned for the address.
	var mu sync.Mutex
	var logs strings.Builder
	listening := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`msg="listening on (\S+)"`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned // Wait closes the pipe: read it all first
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	log := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var addr string
	select {
	case addr = <-listening:
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("the registry exited: %v\n%s", err, log())
	case <-ctx.Done():
		t.Fatalf("the registry did not say where it listens\n%s", log())
	}
	if netns != "" {
		return addr
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the registry exited: %v\n%s", err, log())
		case <-ctx.Done():
			t.Fatalf("the registry does not answer on %s: %v\n%s", addr, err, log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRegistry checks the helper: the registry answers, and the engine
// pushes the test image to it and pulls it back.
func TestRegistry(t *testing.T) {
	requireEngine(t)
	addr := startRegistry(t)
	ref := addr + "/berthe2e/registry-check:1"
	docker(t, "tag", busyboxImage(), ref)
	t.Cleanup(func() { removeImages(ref) })
	docker(t, "push", ref)
	docker(t, "rmi", ref)
	docker(t, "pull", ref)
	if got, want := docker(t, "image", "inspect", "--format", "{{.Id}}", ref), docker(t, "image", "inspect", "--format", "{{.Id}}", busyboxImage()); got != want {
		t.Errorf("pulled back %s, want %s", got, want)
	}
}

// removeImages removes images by reference, ignoring those already gone:
// for cleanups.
func removeImages(refs ...string) {
	if engineErr != nil || len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for _, ref := range refs {
		_, _ = runDocker(ctx, nil, "rmi", "-f", ref)
	}
}
