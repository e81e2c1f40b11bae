package records

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/state"
)

func TestDescribe(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		s    RunState
		want string
	}{
		{RunState{Status: service.StateCreated}, "Created"},
		{RunState{Status: service.StateRunning, StartedAt: now.Add(-3 * time.Second)}, "Up 3 seconds"},
		{RunState{Status: service.StateRunning, StartedAt: now.Add(-90 * time.Second), Health: "starting"}, "Up About a minute (health: starting)"},
		{RunState{Status: service.StateRunning, StartedAt: now.Add(-5 * time.Minute), Health: "healthy"}, "Up 5 minutes (healthy)"},
		{RunState{Status: service.StatePaused, StartedAt: now.Add(-2 * time.Hour)}, "Up 2 hours (Paused)"},
		{RunState{Status: service.StateExited, ExitCode: 137, FinishedAt: now.Add(-72 * time.Hour)}, "Exited (137) 3 days ago"},
		{RunState{Status: service.StateRestarting, ExitCode: 1, FinishedAt: now}, "Restarting (1) Less than a second ago"},
	}
	for _, tc := range cases {
		if got := tc.s.Describe(now); got != tc.want {
			t.Errorf("describe(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestEndpointAttachment(t *testing.T) {
	cases := []struct {
		ep      service.Endpoint
		wantMAC string
		err     string
	}{
		{service.Endpoint{Network: "n"}, "", ""},
		{service.Endpoint{Network: "n", MacAddress: "02:42:AC:11:00:99"}, "02:42:ac:11:00:99", ""},
		{service.Endpoint{Network: "n", MacAddress: "02-42-ac-11-00-98"}, "02:42:ac:11:00:98", ""},
		{service.Endpoint{Network: "n", MacAddress: "nope"}, "", `network n: mac address "nope": not an Ethernet`},
		{service.Endpoint{Network: "n", MacAddress: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"}, "", "not an Ethernet"},
		{service.Endpoint{Network: "n", MacAddress: "01:00:5e:00:00:01"}, "", "multicast"},
	}
	for _, tc := range cases {
		a, err := EndpointAttachment("id", tc.ep, 2)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.ep.MacAddress, err, tc.err)
			}
			continue
		}
		if err != nil || a.FixedMAC != tc.wantMAC || a.ID != "id" || a.Order != 2 {
			t.Errorf("%q: %+v, %v; want FixedMAC %q", tc.ep.MacAddress, a, err, tc.wantMAC)
		}
	}
}

// TestStore: a record written by Update is what Load and IDs find; an
// error from fn leaves the file as it was; a missing container is
// service.ErrNotFound for Load and Update alike.
func TestStore(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("a", 64)
	if err := os.MkdirAll(Dir(root, id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "containers", "not-an-id"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteJSON(Path(root, id), &Container{ID: id, Name: "web", State: RunState{Status: service.StateCreated}}); err != nil {
		t.Fatal(err)
	}
	if ids, err := IDs(root); err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("IDs = %v, %v; want [%s]", ids, err, id)
	}
	if _, err := Update(root, id, func(r *Container) error { r.Name = "changed"; return errors.New("no") }); err == nil {
		t.Error("Update: fn's error not returned")
	}
	if r, err := Load(root, id); err != nil || r.Name != "web" {
		t.Errorf("after a failed Update, Load = %+v, %v; want name web", r, err)
	}
	if _, err := Update(root, id, func(r *Container) error { r.State.Status = service.StateRunning; return nil }); err != nil {
		t.Fatal(err)
	}
	if r, err := Load(root, id); err != nil || !r.State.Active() {
		t.Errorf("after Update, Load = %+v, %v; want running", r, err)
	}
	missing := strings.Repeat("b", 64)
	if _, err := Load(root, missing); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Load(missing) = %v, want ErrNotFound", err)
	}
	if _, err := Update(root, missing, func(*Container) error { return nil }); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Update(missing) = %v, want ErrNotFound", err)
	}
}
