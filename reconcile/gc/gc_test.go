package gc

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestOwner(t *testing.T) {
	me := Owner(os.Getpid())
	if me == "" || !OwnerAlive(me) {
		t.Fatalf("Owner(self) = %q, alive %v", me, OwnerAlive(me))
	}
	parts := strings.Split(me, ":")
	if OwnerAlive(parts[0] + ":" + parts[1] + ":1") {
		t.Errorf("a reused PID (another start time) counts as alive")
	}
	if OwnerAlive(parts[0] + ":999999999:1") {
		t.Errorf("a missing PID counts as alive")
	}
	for _, o := range []string{"otherhost:1:1", "garbage", ""} {
		if !OwnerAlive(o) {
			t.Errorf("OwnerAlive(%q): an owner berth cannot check must count as alive", o)
		}
	}
}

func TestFind(t *testing.T) {
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:b0")
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(project, expires, owner string) {
		labels := map[string]string{service.LabelProject: project}
		if expires != "" {
			labels[LabelExpires] = expires
		}
		if owner != "" {
			labels[LabelOwner] = owner
		}
		if _, err := f.CreateContainer(ctx, service.ContainerSpec{Name: project + "-web-1", Image: "busybox", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	host, _ := os.Hostname()
	mk("old", "2026-01-01T11:00:00Z", "")
	mk("fresh", "2026-01-01T13:00:00Z", Owner(os.Getpid()))
	mk("abandoned", "2026-01-01T13:00:00Z", host+":999999999:1")
	mk("plain", "", "")
	got, err := Find(ctx, f, now)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, p := range got {
		reasons[p.Name] = p.Reason
	}
	if len(got) != 3 || !strings.HasPrefix(reasons["old"], "expired at") || reasons["fresh"] != "" ||
		!strings.HasPrefix(reasons["abandoned"], "the process that made it is gone") {
		t.Errorf("Find = %+v", got)
	}
	plan, err := Plan(ctx, f, "old")
	if err != nil || !strings.Contains(plan.String(), "remove container old-web-1") {
		t.Errorf("Plan(old) = %v, %v", plan, err)
	}
}
