package builtin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/network"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
)

// TestDNSSource checks what the DNS server is shown of a root's records
// (network.TestDNSAnswer checks what it answers from that).
func TestDNSSource(t *testing.T) {
	b := &Backend{root: t.TempDir()}
	src := dnsSource{b}
	if _, err := src.Networks(); err == nil {
		t.Fatal("Networks of a root with no networks directory: no error")
	}
	for _, d := range []string{"containers", "networks"} {
		if err := os.MkdirAll(filepath.Join(b.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	netA := networkRecord{Network: service.Network{ID: strings.Repeat("a", 64), Name: "p_front"}, Gateway: "10.89.1.1", Subnet: "10.89.1.0/24"}
	if err := state.WriteJSON(b.networkPath(netA.ID), netA); err != nil {
		t.Fatal(err)
	}
	r := &records.Container{ID: strings.Repeat("1", 64), Name: "p-app-1", Spec: service.ContainerSpec{Hostname: "h1", Links: []string{"p-web-1:db"}},
		Networks: map[string]records.Attachment{"p_front": {ID: netA.ID, IP: "10.89.1.2", Aliases: []string{"app"}}}, State: records.RunState{Status: "running"}}
	if err := os.MkdirAll(b.containerDir(r.ID), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteJSON(b.recordPath(r.ID), r); err != nil {
		t.Fatal(err)
	}
	nets, err := src.Networks()
	if want := []network.Net{{ID: netA.ID, Gateway: "10.89.1.1"}}; err != nil || !reflect.DeepEqual(nets, want) {
		t.Errorf("Networks() = %v, %v; want %v", nets, err, want)
	}
	cs, err := src.Containers()
	want := []network.Container{{ID: r.ID, Name: "p-app-1", Hostname: "h1", Running: true, Links: []string{"p-web-1:db"},
		Addresses: []network.Address{{Network: netA.ID, IP: "10.89.1.2", Aliases: []string{"app"}}}}}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Errorf("Containers() = %+v, %v; want %+v", cs, err, want)
	}
}
