package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/berthdev/berth/reconcile/lock"
	"github.com/berthdev/berth/service"
)

// TestSettle: Settle waits for a stop a killed berth had under way to end,
// returns at once for what is over, and gives up on what never ends at its
// bound.
func TestSettle(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: "web", Image: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	// the runtime finishes the stop 300 ms later, the network's creation
	// 400 ms later
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = f.StopContainer(context.Background(), id, nil)
	}()
	go func() {
		time.Sleep(400 * time.Millisecond)
		_, _ = f.CreateNetwork(context.Background(), service.NetworkSpec{Name: "net"})
	}()
	now := time.Now()
	steps := []lock.Step{
		{Op: "stop container", Target: id, Started: now},
		{Op: "remove container", Target: "gone", Started: now},
		{Op: "create container", Target: "never", Started: now.Add(-settleOther + 500*time.Millisecond)},
		{Op: "create network", Target: "net", Started: now},
		{Op: "remove network", Target: "gone", Started: now},
		{Op: "create volume", Target: "vol", Started: now},
	}
	if err := Settle(ctx, f, steps); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(now); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("Settle took %v, want about 0.5 s (the stop, the bound of the create)", d)
	}
	if c, _ := f.Container("web"); c.State != service.StateExited {
		t.Errorf("web is %s when Settle returned, want exited", c.State)
	}
	if _, ok := f.Network("net"); !ok {
		t.Error("Settle returned before the network was made")
	}
}
