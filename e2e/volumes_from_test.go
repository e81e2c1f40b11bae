package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVolumesFromAndBindVolume checks, on both backends, a local volume
// bound to a host directory (driver_opts type none, o bind, device) and
// volumes_from with :ro: the reader sees the data service's anonymous
// volume and its bound volume read-only, the host sees what was written,
// and down -v keeps the host directory's files.
func TestVolumesFromAndBindVolume(t *testing.T) {
	onBothBackends(t, testVolumesFromAndBindVolume)
}

func testVolumesFromAndBindVolume(t *testing.T, newP newProjectFunc) {
	p := newP(t, nil)
	host := filepath.Join(p.dir, "hostdir")
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	p.writeFile(t, "compose.yaml", fmt.Sprintf(`services:
  data:
    image: %[1]s
    command: ["sh", "-c", "echo anon > /data/f && echo bound > /host/g && sleep 600"]
    volumes: [/data, "hostvol:/host"]
    stop_signal: SIGKILL
  reader:
    image: %[1]s
    command: ["sleep", "600"]
    volumes_from: ["data:ro"]
    depends_on: [data]
    stop_signal: SIGKILL
volumes:
  hostvol:
    driver_opts: {type: none, o: bind, device: %[2]q}
`, busyboxImage(), host))
	p.mustRun(t, "up", "-d")
	if got := p.mustRun(t, "volumes", "-q", "data").stdout; got != p.name+"_hostvol\n" {
		t.Errorf("volumes -q data = %q, want the named volume data mounts", got)
	}
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = p.run("exec", "-T", "reader", "cat", "/data/f", "/host/g").stdout; got == "anon\nbound\n" {
			break
		}
	}
	if got != "anon\nbound\n" {
		t.Errorf("reader sees %q through volumes_from, want the data service's files", got)
	}
	if r := p.run("exec", "-T", "reader", "touch", "/data/x"); r.code == 0 {
		t.Errorf("reader wrote to a volumes_from :ro volume")
	}
	if b, err := os.ReadFile(filepath.Join(host, "g")); err != nil || string(b) != "bound\n" {
		t.Errorf("the host directory of the bound volume holds %q (%v), want what data wrote", b, err)
	}
	p.mustRun(t, "down", "-v", "-t", "0")
	if _, err := os.Stat(filepath.Join(host, "g")); err != nil {
		t.Errorf("down -v removed the bound volume's host files: %v", err)
	}
	if ls := p.mustRun(t, "volumes", "-q").stdout; strings.Contains(ls, "hostvol") {
		t.Errorf("down -v left the volume: %q", ls)
	}
}
