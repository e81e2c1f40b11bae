package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/lock"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin"
	"github.com/berthdev/berth/service/engine"
)

// defaultLockTimeout bounds the wait for another berth working on the same
// project (BERTH_LOCK_TIMEOUT changes it; 0 waits as long as it takes). It
// is long because the other may be building images.
const defaultLockTimeout = 10 * time.Minute

// lockProject takes the lock of project name on b's runtime, for a command
// that changes the project (see package lock): the built-in runtime's under
// its state root, the engine's in lock.DefaultDir keyed by its endpoint.
// While another berth holds it, it says so on the progress stream and waits,
// at most BERTH_LOCK_TIMEOUT. The release it returns may be called more
// than once. With --dry-run nothing changes, and nothing is locked; a lock
// this process already holds is not taken again.
func (g *globals) lockProject(ctx context.Context, b service.Backend, name string) (release func(), err error) {
	noop := func() {}
	if g.dryRun {
		return noop, nil
	}
	o, journaled, ok := g.lockOptions(b, name)
	if !ok {
		return noop, nil
	}
	if o.Timeout, err = lockTimeout(g.getenv("BERTH_LOCK_TIMEOUT")); err != nil {
		return nil, err
	}
	path := lock.File(o)
	g.locksMu.Lock()
	_, held := g.locks[path]
	g.locksMu.Unlock()
	if held {
		return noop, nil
	}
	pr := newProgress(g)
	o.Waiting = func(h lock.Holder) {
		pr.notice(fmt.Sprintf("waiting for another berth (%s) working on project %s", h, name))
	}
	l, err := lock.Acquire(ctx, o)
	if err != nil {
		return nil, err
	}
	if h, ok := l.Interrupted(); ok && len(h.Steps) > 0 {
		pr.notice(fmt.Sprintf("another berth (%s) was interrupted while working on project %s: waiting for what it had under way to end", h, name))
		if err := reconcile.Settle(ctx, b, h.Steps); err != nil {
			_ = l.Release()
			return nil, err
		}
	}
	g.locksMu.Lock()
	defer g.locksMu.Unlock()
	if g.locks == nil {
		g.locks = map[string]heldLock{}
	}
	g.locks[path] = heldLock{l, journaled}
	var once sync.Once
	return func() {
		once.Do(func() {
			g.locksMu.Lock()
			delete(g.locks, path)
			g.locksMu.Unlock()
			_ = l.Release()
		})
	}, nil
}

// lockOptions are the lock options of project name on b's runtime, and
// which plan steps the lock journals; false when b's runtime has no
// project locks (the fake).
func (g *globals) lockOptions(b service.Backend, name string) (lock.Options, func(reconcile.Op) bool, bool) {
	o := lock.Options{Project: name, Command: g.command}
	// Calls journaled (see journal): on the engine all, which it finishes
	// when their client dies; on the built-in runtime those a shim carries
	// out (a creation dies with its berth, and what a network's creation
	// or removal left is swept: Settle would wait in vain).
	switch b := b.(type) {
	case *builtin.Backend:
		o.Dir, o.Runtime = filepath.Join(b.Root(), "locks"), b.Root()
		return o, func(op reconcile.Op) bool {
			return op != reconcile.OpCreateContainer && op != reconcile.OpCreateNetwork && op != reconcile.OpRemoveNetwork
		}, true
	case *engine.Backend:
		o.Dir, o.Runtime = lock.DefaultDir(g.getenv), b.Endpoint()
		return o, func(reconcile.Op) bool { return true }, true
	}
	return o, nil, false
}

// heldLock is a project lock this run holds, and which plan steps it
// journals.
type heldLock struct {
	l         *lock.Lock
	journaled func(reconcile.Op) bool
}

// lockTimeout is BERTH_LOCK_TIMEOUT's value v as a duration, else
// defaultLockTimeout.
func lockTimeout(v string) (time.Duration, error) {
	if v == "" {
		return defaultLockTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("BERTH_LOCK_TIMEOUT=%q: want a duration such as 30s or 10m (0: no limit)", v)
	}
	return d, nil
}

// journal records a plan step's backend call in the project locks this run
// holds, until it returns (see lock.Lock.Begin): should berth be killed,
// the next one waits for what the runtime still does on its behalf.
func (g *globals) journal(s *reconcile.Step) (done func(abandoned bool)) {
	g.locksMu.Lock()
	defer g.locksMu.Unlock()
	var dones []func(bool)
	for _, h := range g.locks {
		if h.journaled(s.Op) {
			dones = append(dones, h.l.Begin(lock.Step{Op: s.Op.String(), Target: s.Target}))
		}
	}
	return func(abandoned bool) {
		for _, d := range dones {
			d(abandoned)
		}
	}
}
