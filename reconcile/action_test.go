package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

// testAction is an Action that records its runs and fails with err.
type testAction struct {
	name    string
	err     error
	running *atomic.Int32
	peak    *atomic.Int32
	mu      *sync.Mutex
	ran     *[]string
}

func (a *testAction) String() string { return a.name }

func (a *testAction) Run(ctx context.Context, b service.Backend) error {
	n := a.running.Add(1)
	defer a.running.Add(-1)
	for {
		p := a.peak.Load()
		if n <= p || a.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	a.mu.Lock()
	*a.ran = append(*a.ran, a.name)
	a.mu.Unlock()
	return a.err
}

func TestApplyActions(t *testing.T) {
	var running, peak atomic.Int32
	var mu sync.Mutex
	var ran []string
	act := func(name string, err error) *testAction {
		return &testAction{name: name, err: err, running: &running, peak: &peak, mu: &mu, ran: &ran}
	}
	mk := func() *Plan {
		plan := &Plan{}
		a := plan.Add(&Step{Op: OpPullImage, Object: "a", Action: act("a", errors.New("a failed"))})
		plan.Add(&Step{Op: OpBuildImage, Object: "after-a", Action: act("after-a", nil)}, a)
		plan.Add(&Step{Op: OpPushImage, Object: "c", Action: act("c", errors.New("c failed"))})
		for _, n := range []string{"d", "e", "f"} {
			plan.Add(&Step{Op: OpCopyTo, Object: n, Action: act(n, nil)})
		}
		return plan
	}
	for _, tt := range []struct {
		keepGoing bool
		wantErr   string
		wantRan   []string // at least these ran
		wantNot   []string // these did not
	}{
		{keepGoing: true, wantErr: "a failed\nc failed", wantRan: []string{"a", "c", "d", "e", "f"}, wantNot: []string{"after-a"}},
		{keepGoing: false, wantNot: []string{"after-a"}},
	} {
		t.Run(fmt.Sprint("keepGoing=", tt.keepGoing), func(t *testing.T) {
			ran, running, peak = nil, atomic.Int32{}, atomic.Int32{}
			var events []string
			var emu sync.Mutex
			err := Apply(context.Background(), servicetest.NewFake(), mk(), ApplyOptions{Parallel: 2, KeepGoing: tt.keepGoing,
				Progress: func(e Event) {
					emu.Lock()
					defer emu.Unlock()
					if e.Status == StatusFailed {
						events = append(events, e.Step.Object+" failed")
					}
				}})
			if err == nil || (tt.wantErr != "" && err.Error() != tt.wantErr) {
				t.Errorf("error %q, want %q", err, tt.wantErr)
			}
			for _, n := range tt.wantRan {
				if !slices.Contains(ran, n) {
					t.Errorf("%s did not run: ran %q", n, ran)
				}
			}
			for _, n := range tt.wantNot {
				if slices.Contains(ran, n) {
					t.Errorf("%s ran after the step it depends on failed", n)
				}
			}
			if p := peak.Load(); p > 2 {
				t.Errorf("%d actions at once, want at most 2", p)
			}
			if tt.keepGoing && !slices.Contains(events, "c failed") {
				t.Errorf("failure events %q", events)
			}
		})
	}
}

func TestStepWithoutAction(t *testing.T) {
	plan := &Plan{}
	plan.Add(&Step{Op: OpCopyFrom, Object: "p-web-1"})
	err := Apply(context.Background(), servicetest.NewFake(), plan, ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "no action") {
		t.Errorf("error %v", err)
	}
}

func TestActionStepString(t *testing.T) {
	var ran []string
	plan := &Plan{}
	a := plan.Add(&Step{Op: OpCopyTo, Object: "p-web-1", Action: &testAction{name: "conf to /srv", ran: &ran}})
	plan.Add(&Step{Op: OpCopyFrom, Object: "p-web-2", Action: &testAction{name: "/etc to out"}}, a)
	plan.Add(&Step{Op: OpPullImage, Object: "busybox", Cause: "not present"})
	plan.Add(&Step{Op: OpRemoveImage, Object: "busybox", Force: true})
	want := "#1 copy into container p-web-1 conf to /srv\n#2 copy from container p-web-2 /etc to out (after #1)\n" +
		"#3 pull image busybox: not present\n#4 remove image busybox\n"
	if got := plan.String(); got != want {
		t.Errorf("plan\n%s\nwant\n%s", got, want)
	}
}
