package e2e

import (
	"maps"
	"strings"
	"testing"
)

// TestMacAddress: a service's mac_address, and a mac_address on its
// network, are the container's interface's, on an API 1.41 engine too
// (Config.MacAddress, which docker compose v2 sends those engines; v5.5.0
// sends only the endpoint's, which they ignore); the config hash is not
// touched, so a second up recreates nothing. A service-level mac_address
// other than its network's is an error that changes nothing.
func TestMacAddress(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{
			"compose.yaml": `services:
  web:
` + sleepingService + `    mac_address: 02:42:AC:11:00:99
  api:
` + sleepingService + `    networks:
      default: {mac_address: "02:42:ac:11:00:98"}
`,
			"bad.yaml": `services:
  web:
` + sleepingService + `    mac_address: 02:42:ac:11:00:99
    networks:
      default: {mac_address: "02:42:ac:11:00:98"}
`,
		})
		r := p.run("-f", "bad.yaml", "up", "-d")
		if r.code == 0 || !strings.Contains(r.stderr, "service web: mac_address 02:42:ac:11:00:99: the service-level mac_address should have the same value as network default (02:42:ac:11:00:98)") {
			t.Errorf("up with two MAC addresses: exit %d\n%s", r.code, r.stderr)
		}
		if left := p.leftovers(t); len(left) > 0 {
			t.Errorf("the failed up left %q", left)
		}

		p.mustRun(t, "up", "-d")
		for svc, want := range map[string]string{"web": "02:42:ac:11:00:99", "api": "02:42:ac:11:00:98"} {
			got := p.mustRun(t, "exec", "-T", svc, "cat", "/sys/class/net/eth0/address").stdout
			if strings.TrimSpace(got) != want {
				t.Errorf("%s's eth0 has MAC %q, want %s", svc, strings.TrimSpace(got), want)
			}
		}
		ids := p.containerIDs(t)
		p.mustRun(t, "up", "-d")
		if again := p.containerIDs(t); !maps.Equal(ids, again) {
			t.Errorf("the second up recreated containers: %v, then %v", ids, again)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
