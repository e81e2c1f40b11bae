package builtin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/cgroup"
	"github.com/berthdev/berth/service/builtin/image"
	"github.com/berthdev/berth/service/builtin/records"
)

// DefaultRoot is where the runtime keeps its state unless BERTH_ROOT or
// Options.Root says otherwise.
const DefaultRoot = "/var/lib/berth"

// Options configure a Backend.
type Options struct {
	// Root is the state directory (DefaultRoot when empty).
	Root string
	// Exe is the binary that serves the hidden subcommands (the shim, the
	// container init): the running executable when empty. Tests that run
	// the backend in-process point it at a built berth binary.
	Exe string
	// Cgroup locates the cgroup filesystem (the real one when zero).
	Cgroup cgroup.Options
}

// Backend is the built-in runtime. It holds no state in memory beyond
// paths: every method reads and writes the files under its root, so any
// number of Backends (in any number of processes) may share a root.
type Backend struct {
	root   string
	exe    string
	images *image.Store
	cg     cgroup.Options
	// devices: the cgroup filesystem enforces device rules (v1).
	devices bool
}

var (
	_ service.Backend       = (*Backend)(nil)
	_ service.Signaller     = (*Backend)(nil)
	_ service.Waiter        = (*Backend)(nil)
	_ service.EventSource   = (*Backend)(nil)
	_ service.Logger        = (*Backend)(nil)
	_ service.Attacher      = (*Backend)(nil)
	_ service.Execer        = (*Backend)(nil)
	_ service.Toper         = (*Backend)(nil)
	_ service.ImageTransfer = (*Backend)(nil)
	_ service.ImageRemover  = (*Backend)(nil)
)

// Open opens (creating when needed) the runtime rooted at o.Root. It needs
// root privileges and Linux; elsewhere it returns service.ErrUnsupported.
func Open(o Options) (*Backend, error) {
	if err := supported(); err != nil {
		return nil, fmt.Errorf("built-in runtime: %w", err)
	}
	root := o.Root
	if root == "" {
		root = DefaultRoot
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("built-in runtime: %w", err)
	}
	exe := o.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("built-in runtime: find own executable: %w", err)
		}
	}
	for _, d := range []string{"containers", "layers", "networks", "volumes", "s", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o711); err != nil {
			return nil, fmt.Errorf("built-in runtime: %w", err)
		}
	}
	st, err := image.Open(filepath.Join(root, "images"))
	if err != nil {
		return nil, fmt.Errorf("built-in runtime: %w", err)
	}
	return &Backend{root: root, exe: exe, images: st, cg: o.Cgroup, devices: cgroup.EnforcesDevices(o.Cgroup)}, nil
}

// Root returns the state directory.
func (b *Backend) Root() string { return b.root }

// Images returns the image store.
func (b *Backend) Images() *image.Store { return b.images }

// Close releases nothing: a Backend holds no open resources. It exists so
// that callers treat both backends alike.
func (b *Backend) Close() error { return nil }

func (b *Backend) containerDir(id string) string { return records.Dir(b.root, id) }
func (b *Backend) recordPath(id string) string   { return records.Path(b.root, id) }
func (b *Backend) logPath(id string) string      { return filepath.Join(b.containerDir(id), id+"-json.log") }
func (b *Backend) sockPath(id string) string     { return filepath.Join(b.root, "s", id[:12]+".sock") }

func supported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("it must run as root (no rootless mode yet): %w", service.ErrUnsupported)
	}
	return supportedOS()
}
