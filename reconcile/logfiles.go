package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/berthdev/berth/service"
)

// LogFilesOptions say what WriteLogFiles writes.
type LogFilesOptions struct {
	// Services are the services whose logs are written (all when empty).
	Services []string
	// Log selects the lines (Tail, Since, Until, Timestamps); Follow is
	// ignored.
	Log service.LogOptions
	// Health appends, for each container with a healthcheck, its health
	// status and the output of its last probe.
	Health bool
	// Parallel bounds how many containers are read at once (0: the
	// default bound).
	Parallel int
}

// WriteLogFiles writes the output of the project's service containers
// (one-offs left out) into dir, one file per service, <service>.log, as
// plain text: no colour, no prefix. A service with several replicas gets
// them one after the other, each under a "==> <container> <==" line; with
// Health, a "==> <container> health: <status> <==" section follows with
// the last probe's output. dir is created if missing. It returns the
// files written, sorted.
func WriteLogFiles(ctx context.Context, b service.Backend, project, dir string, o LogFilesOptions) ([]string, error) {
	logger, ok := b.(service.Logger)
	if !ok {
		return nil, fmt.Errorf("write logs of project %s: this backend cannot read logs: %w", project, service.ErrUnsupported)
	}
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: project}, All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", project, err)
	}
	bySvc := map[string][]service.Container{}
	for _, c := range cs {
		svc := c.Labels[service.LabelService]
		if c.Labels[service.LabelOneoff] == service.OneoffTrue || (len(o.Services) > 0 && !slices.Contains(o.Services, svc)) {
			continue
		}
		bySvc[svc] = append(bySvc[svc], c)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logs directory: %w", err)
	}
	lo := o.Log
	lo.Follow = false
	if lo.Tail == "" {
		lo.Tail = "all"
	}
	limit := o.Parallel
	if limit <= 0 {
		limit = DefaultParallel
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	var files []string
	for svc, list := range bySvc {
		slices.SortFunc(list, func(a, b service.Container) int {
			na, _ := strconv.Atoi(a.Labels[service.LabelContainerNumber])
			nb, _ := strconv.Atoi(b.Labels[service.LabelContainerNumber])
			if na != nb {
				return na - nb
			}
			return strings.Compare(a.Name, b.Name)
		})
		path := filepath.Join(dir, svc+".log")
		files = append(files, path)
		g.Go(func() error {
			var buf bytes.Buffer
			for _, c := range list {
				if err := writeContainerLog(gctx, b, logger, &buf, c, lo, len(list) > 1, o.Health); err != nil {
					return err
				}
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("logs of service %s: %w", svc, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

// writeContainerLog writes one container's output (and health) to w.
func writeContainerLog(ctx context.Context, b service.Backend, l service.Logger, w *bytes.Buffer, c service.Container, lo service.LogOptions, header, health bool) error {
	if header {
		fmt.Fprintf(w, "==> %s <==\n", c.Name)
	}
	sw := &syncWriter{w: w}
	if err := l.Logs(ctx, c.ID, lo, sw, sw); err != nil {
		return fmt.Errorf("logs of container %s: %w", c.Name, err)
	}
	if w.Len() > 0 && w.Bytes()[w.Len()-1] != '\n' {
		w.WriteByte('\n')
	}
	if !health {
		return nil
	}
	cur, err := b.InspectContainer(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", c.Name, err)
	}
	if cur.Health == "" {
		return nil
	}
	fmt.Fprintf(w, "==> %s health: %s <==\n", c.Name, cur.Health)
	if out := strings.TrimRight(cur.HealthOutput, "\n"); out != "" {
		fmt.Fprintln(w, out)
	}
	return nil
}

// syncWriter serialises writes of the two streams of one container.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
