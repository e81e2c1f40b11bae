package servicetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
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

// What the backends' own conformance tests need from the machine, made the
// same way for both and for the e2e harness: the test image's root file
// system from Debian's busybox-static, and a registry on 127.0.0.1.

const (
	// BusyboxPath is Debian's busybox-static binary, the whole of the test
	// image (.ci/deps.sh installs it).
	BusyboxPath = "/bin/busybox"
	// RegistryPath is Debian's docker-registry (the CNCF distribution
	// registry), installed by .ci/deps.sh.
	RegistryPath = "/usr/bin/docker-registry"
	// ImageEnv is the test image's environment (with ImageCmd, its
	// configuration, as `docker import --change` sets it).
	ImageEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// ImageCmd is the test image's CMD.
var ImageCmd = []string{"sh"}

// Unavailable skips t saying why, or fails it when CI=true: in CI a test
// whose backend or tool is missing must not pass by skipping.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and this test cannot run: %s", why)
	}
	t.Skip(why)
}

// BusyboxRootfs returns a tar stream of the test image's root file system:
// Debian's static busybox with all its applets in /bin (sbin, usr/bin and
// usr/sbin link to it), /etc/passwd and /etc/group with root and nobody
// (65534), a 0700 /root and a 1777 /tmp, every entry owned by root whoever
// runs the tests. It fails, saying what to install, when BusyboxPath is
// missing or not statically linked.
func BusyboxRootfs() ([]byte, error) {
	busybox, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("the test image: %w (install Debian's busybox-static: make deps)", err)
	}
	if err := checkStatic(BusyboxPath); err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("the test image: %s --list: %w", BusyboxPath, err)
	}
	return busyboxRootfs(busybox, strings.Fields(string(out)))
}

// checkStatic returns an error unless the ELF file at path is statically
// linked (has no program interpreter), as an image with no libc needs.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("the test image: checking %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the test image: %s is dynamically linked: install Debian's busybox-static, not busybox", path)
		}
	}
	return nil
}

func busyboxRootfs(busybox []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var err error // the first error; add does nothing once it is set
	add := func(typ byte, name string, mode int64, link string, body []byte) {
		if err != nil {
			return
		}
		h := &tar.Header{Typeflag: typ, Name: name, Linkname: link, Mode: mode, Size: int64(len(body)), ModTime: time.Unix(0, 0)}
		if err = tw.WriteHeader(h); err == nil {
			_, err = tw.Write(body)
		}
		if err != nil {
			err = fmt.Errorf("the test image: writing rootfs entry %s: %w", name, err)
		}
	}
	add(tar.TypeDir, "bin/", 0o755, "", nil)
	add(tar.TypeReg, "bin/busybox", 0o755, "", busybox)
	for _, a := range applets {
		if a != "busybox" && a != "." && a != ".." && !strings.Contains(a, "/") {
			add(tar.TypeSymlink, "bin/"+a, 0o777, "busybox", nil)
		}
	}
	add(tar.TypeSymlink, "sbin", 0o777, "bin", nil)
	add(tar.TypeDir, "usr/", 0o755, "", nil)
	add(tar.TypeSymlink, "usr/bin", 0o777, "../bin", nil)
	add(tar.TypeSymlink, "usr/sbin", 0o777, "../bin", nil)
	add(tar.TypeDir, "etc/", 0o755, "", nil)
	add(tar.TypeReg, "etc/passwd", 0o644, "", []byte("root:x:0:0:root:/root:/bin/sh\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	add(tar.TypeReg, "etc/group", 0o644, "", []byte("root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n"))
	add(tar.TypeDir, "root/", 0o700, "", nil)
	add(tar.TypeDir, "tmp/", 0o1777, "", nil)
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("the test image: writing rootfs: %w", err)
	}
	return buf.Bytes(), nil
}

// StartRegistry starts a registry on 127.0.0.1, on a port the system picks
// (read from the registry's log, so no other process can take it in
// between), storing in a temporary directory, with no authentication, and
// returns its address ("127.0.0.1:port"). Registries on loopback addresses
// are trusted over plain HTTP by the engine and the built-in runtime alike.
// The registry is stopped when the test ends. Without RegistryPath the test
// is Unavailable.
func StartRegistry(t testing.TB) string {
	t.Helper()
	return StartRegistryIn(t, "")
}

// StartRegistryIn is StartRegistry in the network namespace netns (a name
// under /var/run/netns; "" for the test process's own): there, the
// registry is ready once it says where it listens, since the test process
// cannot reach that namespace's loopback to ask it.
func StartRegistryIn(t testing.TB, netns string) string {
	t.Helper()
	if _, err := os.Stat(RegistryPath); err != nil {
		Unavailable(t, fmt.Sprintf("no registry: %v (make deps installs docker-registry)", err))
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
	cmd := exec.Command(RegistryPath, "serve", configPath)
	if netns != "" {
		// nsenter enters the namespace and execs the registry: one process
		cmd = exec.Command("nsenter", "--net=/var/run/netns/"+netns, RegistryPath, "serve", configPath)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one pipe for both
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", RegistryPath, err)
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
