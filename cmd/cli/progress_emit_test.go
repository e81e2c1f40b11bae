package cli

import (
	"bytes"
	"testing"

	"github.com/berthdev/berth/reconcile"
)

// TestProgressOneEmitter: the same records (an event, a warning, a notice)
// through each mode's encoder.
func TestProgressOneEmitter(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"plain", " Volume p_data Created \nWARN careful\nwaiting for another berth\n"},
		{"json", `{"id":"Volume p_data","status":"Done","text":"Created","version":2,"time":"2026-01-02T03:04:05Z","kind":"Volume","name":"p_data"}
{"level":"warning","msg":"careful","version":2,"time":"2026-01-02T03:04:05Z","kind":"warning"}
{"level":"info","msg":"waiting for another berth","version":2,"time":"2026-01-02T03:04:05Z","kind":"notice"}
`},
		{"quiet", ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var out bytes.Buffer
			p, _ := testProgress(tc.mode, &out)
			p.event(reconcile.Event{Step: step(reconcile.OpCreateVolume, "p_data"), Status: reconcile.StatusDone})
			p.warn("careful")
			p.notice("waiting for another berth")
			if got := out.String(); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestWords: each operation's kind and words, and the steps hidden.
func TestWords(t *testing.T) {
	create, stop, rename := recreateSteps()
	plainRename := step(reconcile.OpRenameContainer, "x")
	plainRename.NewName = "p-web-1"
	provider := func(cmd string) *reconcile.Step {
		s := step(reconcile.OpRunProvider, "db")
		s.Provider = &reconcile.ProviderCall{Command: cmd}
		return s
	}
	wait := func(c string) *reconcile.Step {
		s := step(reconcile.OpWait, "p-db-1")
		s.Condition = c
		return s
	}
	for _, tc := range []struct {
		s                         *reconcile.Step
		kind, name, working, done string
		hidden                    bool
	}{
		{step(reconcile.OpCreateNetwork, "p_default"), "Network", "p_default", "Creating", "Created", false},
		{step(reconcile.OpRemoveVolume, "p_data"), "Volume", "p_data", "Removing", "Removed", false},
		{step(reconcile.OpConnectNetwork, "p-web-1"), "Container", "p-web-1", "Connecting", "Connected", true},
		{step(reconcile.OpCreateContainer, "p-web-1"), "Container", "p-web-1", "Creating", "Created", false},
		{create, "Container", "p-web-1", "Recreate", "", false},
		{stop, "Container", "p-web-1", "Stopping", "Stopped", true},
		{step(reconcile.OpStopContainer, "p-web-1"), "Container", "p-web-1", "Stopping", "Stopped", false},
		{rename, "Container", "p-web-1", "", "Recreated", false},
		{plainRename, "Container", "p-web-1", "Renaming", "Renamed", true},
		{step(reconcile.OpKillContainer, "p-web-1"), "Container", "p-web-1", "Killing", "Killed", false},
		{step(reconcile.OpRemoveImage, "busybox"), "Image", "busybox", "Removing", "Removed", false},
		{provider("up"), "Provider", "db", "Creating", "Created", false},
		{provider("down"), "Provider", "db", "Removing", "Removed", false},
		{provider("stop"), "Provider", "db", "Stopping", "Stopped", false},
		{wait(reconcile.CondHealthy), "Container", "p-db-1", "Waiting", "Healthy", false},
		{wait(reconcile.CondCompleted), "Container", "p-db-1", "Waiting", "Exited", false},
		{wait(reconcile.CondRunningOrHealthy), "Container", "p-db-1", "Waiting", "Running", false},
		{step(reconcile.OpUpdateSwarmService, "web"), "Service", "web", "Updating", "Updated", false},
		{step(reconcile.OpCreateSwarmNetwork, "n"), swarmKind(reconcile.OpCreateSwarmNetwork), "n", "Creating", "Created", false},
	} {
		kind, name, working, done, hidden := words(tc.s)
		if kind != tc.kind || name != tc.name || working != tc.working || done != tc.done || hidden != tc.hidden {
			t.Errorf("%s %s: got %q %q %q %q %v, want %q %q %q %q %v", tc.s.Op, tc.s.Object, kind, name, working, done, hidden,
				tc.kind, tc.name, tc.working, tc.done, tc.hidden)
		}
	}
}
