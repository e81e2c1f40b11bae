package reconcile

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/reconcile/lock"
	"github.com/berthdev/berth/service"
)

// Bounds of Settle's waits, from when the killed berth started the call: a
// stop (or the removal of a running container) lasts at most the
// container's grace period, a creation or a start well under a second on
// an engine (and on the built-in runtime they die with the berth that
// made them: there the wait is in vain, so it is short).
const (
	settleStop  = time.Minute
	settleOther = 3 * time.Second
	settlePoll  = 50 * time.Millisecond
)

// Settle waits until the container calls a killed berth had under way (as
// its lock file recorded them, see lock.Lock.Begin) are over, as far as
// one can see: a container it was stopping no longer running, one it was
// removing gone, one it was creating there, one it was starting no longer
// just created, a network it was creating there, one it was removing gone. Runtimes carry such calls out after their caller died (the
// engine finishes the request of a client that went away, the built-in
// runtime's shim a stop), and an observation made meanwhile would plan
// from a state about to change: a container seen running that stops right
// after, or a network seen missing that appears right after (and two of
// one name). Each wait ends at the latest settleStop or settleOther after
// the call started; what is still under way then is left to the plan.
// Other calls (volumes, renames, connections) are not waited for.
func Settle(ctx context.Context, b service.Backend, steps []lock.Step) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultParallel)
	for _, s := range steps {
		var over func(c service.Container, err error) bool
		inspect := b.InspectContainer
		bound := settleOther
		switch s.Op {
		case OpCreateNetwork.String():
			// an up observing before the engine made it would make another
			// (engines before API 1.44 accept two networks of one name)
			inspect = func(ctx context.Context, name string) (service.Container, error) {
				_, err := b.InspectNetwork(ctx, name)
				return service.Container{}, err
			}
			over = func(_ service.Container, err error) bool { return err == nil }
		case OpRemoveNetwork.String():
			inspect = func(ctx context.Context, id string) (service.Container, error) {
				_, err := b.InspectNetwork(ctx, id)
				return service.Container{}, err
			}
			over = func(_ service.Container, err error) bool { return errors.Is(err, service.ErrNotFound) }
		case OpStopContainer.String():
			bound = settleStop
			over = func(c service.Container, err error) bool {
				return err != nil || (c.State != service.StateRunning && c.State != service.StateRestarting && c.State != service.StatePaused)
			}
		case OpRemoveContainer.String():
			bound = settleStop
			over = func(_ service.Container, err error) bool { return errors.Is(err, service.ErrNotFound) }
		case OpCreateContainer.String():
			over = func(_ service.Container, err error) bool { return err == nil }
		case OpStartContainer.String():
			over = func(c service.Container, err error) bool { return err != nil || c.State != service.StateCreated }
		default:
			continue
		}
		deadline := s.Started.Add(bound)
		g.Go(func() error {
			for time.Now().Before(deadline) {
				c, err := inspect(gctx, s.Target)
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if over(c, err) {
					return nil
				}
				t := time.NewTimer(settlePoll)
				select {
				case <-gctx.Done():
					t.Stop()
					return gctx.Err()
				case <-t.C:
				}
			}
			return nil
		})
	}
	return g.Wait()
}
