package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

// TestPsEntryJSON: ps --format json has docker compose's keys, order and
// value formats (taken from docker compose v5.5.0's output).
func TestPsEntryJSON(t *testing.T) {
	created := time.Date(2026, 12, 6, 7, 43, 30, 0, time.UTC)
	c := service.Container{
		ID: "85f6da060a71abdcd62f0d34b9eb46f4a763c734aab1a31466fed76d95bc79c0", Name: "irx-web-1", Image: "busybox",
		Labels: map[string]string{service.LabelProject: "irx", service.LabelService: "web", "b": "2", "a": "1"},
		State:  service.StateRunning, Status: "Up About a minute", Command: "sh -c 'echo hello from web; exec sleep 3600'",
		Created: created, Networks: map[string]string{"irx_z": "1", "irx_default": "2"},
		Mounts: []service.MountPoint{{Type: "volume", Name: "irx_a_very_long_volume"}, {Type: "bind", Source: "/tmp/ir/site"}},
		Ports:  []service.Port{{HostIP: "0.0.0.0", HostPort: 32780, ContainerPort: 80, Protocol: "tcp"}, {HostIP: "::", HostPort: 32780, ContainerPort: 80, Protocol: "tcp"}},
	}
	b, err := json.Marshal(toPsEntry(c, true, created.Add(90*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	// docker prints the creation time in the local time zone.
	local := time.Unix(created.Unix(), 0).String()
	want := `{"Command":"\"sh -c 'echo hello f…\"","CreatedAt":"` + local + `","Engine":"","ExitCode":0,"Health":"",` +
		`"ID":"85f6da060a71","Image":"busybox","Labels":"a=1,b=2,com.docker.compose.project=irx,com.docker.compose.service=web",` +
		`"LocalVolumes":"1","Mounts":"irx_a_very_lon…,/tmp/ir/site","Name":"irx-web-1","Names":"irx-web-1","Networks":"irx_default,irx_z",` +
		`"Ports":"0.0.0.0:32780-\u003e80/tcp, [::]:32780-\u003e80/tcp","Project":"irx","Publishers":[{"URL":"0.0.0.0","TargetPort":80,"PublishedPort":32780,"Protocol":"tcp"},` +
		`{"URL":"::","TargetPort":80,"PublishedPort":32780,"Protocol":"tcp"}],"RunningFor":"About a minute ago","Service":"web","Size":"0B",` +
		`"State":"running","Status":"Up About a minute"}`
	if string(b) != want {
		t.Errorf("ps --format json:\n%s\nwant:\n%s", b, want)
	}
	e := toPsEntry(c, false, created)
	if e.ID != c.ID || e.Command != `"sh -c 'echo hello from web; exec sleep 3600'"` || e.Mounts != "irx_a_very_long_volume,/tmp/ir/site" {
		t.Errorf("--no-trunc: %+v", e)
	}
}
