package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service/builtin"
)

// TestLockProject: the project lock on the built-in runtime (opened on a
// temporary root; nothing runs): a second berth waits for it, says so, and
// gives up after BERTH_LOCK_TIMEOUT; a lock held is not taken twice; the
// release is idempotent; --dry-run takes none. Root only, as the runtime.
func TestLockProject(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the built-in runtime opens as root only")
	}
	root := t.TempDir()
	b, err := builtin.Open(builtin.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	newG := func(env ...string) (*globals, *bytes.Buffer) {
		var errOut bytes.Buffer
		return &globals{command: "up", progress: "plain", env: env, wd: t.TempDir(), stdio: Stdio{Out: &bytes.Buffer{}, Err: &errOut}}, &errOut
	}
	g1, _ := newG()
	unlock, err := g1.lockProject(ctx, b, "p")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "locks", "*")); len(m) == 0 {
		t.Errorf("no lock file under %s/locks", root)
	}
	again, err := g1.lockProject(ctx, b, "p")
	if err != nil {
		t.Fatalf("the lock this run holds, taken again: %v", err)
	}
	again()
	done := g1.journal(&reconcile.Step{Op: reconcile.OpStartContainer, Target: "p-web-1"})
	done(false)

	g2, errOut := newG("BERTH_LOCK_TIMEOUT=200ms")
	if _, err := g2.lockProject(ctx, b, "p"); err == nil {
		t.Fatal("a second berth took the lock the first holds")
	}
	if !strings.Contains(errOut.String(), "waiting for another berth") {
		t.Errorf("the second berth did not say it waits: %q", errOut.String())
	}
	unlock()
	unlock()
	unlock2, err := g2.lockProject(ctx, b, "p")
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	unlock2()

	g3, _ := newG("BERTH_LOCK_TIMEOUT=soon")
	if _, err := g3.lockProject(ctx, b, "p"); err == nil || !strings.Contains(err.Error(), "BERTH_LOCK_TIMEOUT") {
		t.Errorf("a bad BERTH_LOCK_TIMEOUT: %v", err)
	}
	g3.dryRun = true
	if _, err := g3.lockProject(ctx, b, "p"); err != nil {
		t.Errorf("--dry-run locks nothing, and reads no timeout: %v", err)
	}
}
