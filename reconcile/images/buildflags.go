package images

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/berthdev/berth/service"
)

// BuildFlags are the builder flags of docker compose's build command.
// berth's builders are the engine's classic builder and the built-in one:
// what they can do is done, what they cannot is refused with an error
// wrapping service.ErrUnsupported (never ignored), before anything is
// built.
type BuildFlags struct {
	// Memory limits the memory of RUN steps, in bytes (build -m); both
	// builders honour it.
	Memory int64
	// Builder names the builder (build --builder): only "default", the
	// runtime's own, is available.
	Builder string
	// SSH are SSH agent sockets or keys to forward (build --ssh): that
	// needs BuildKit.
	SSH string
	// Provenance and SBOM ask for attestations (build --provenance,
	// --sbom): BuildKit's; "false" (none) is what berth's builders make.
	Provenance, SBOM string
	// Check runs the Dockerfile checks instead of building (build
	// --check): BuildKit's linter.
	Check bool
}

// Validate refuses the flags berth's builders cannot honour, one error
// naming them all.
func (f BuildFlags) Validate() error {
	var refused []string
	if f.Builder != "" && f.Builder != "default" {
		refused = append(refused, fmt.Sprintf("--builder %s (berth builds with the container runtime's own builder, \"default\"; it does not drive buildx builders)", f.Builder))
	}
	if f.SSH != "" {
		refused = append(refused, "--ssh (forwarding SSH agents or keys to RUN --mount=type=ssh needs BuildKit)")
	}
	for _, a := range []struct{ flag, v string }{{"--provenance", f.Provenance}, {"--sbom", f.SBOM}} {
		if a.v == "" {
			continue
		}
		if off, err := strconv.ParseBool(a.v); err == nil && !off {
			continue // none: what the classic builder makes anyway
		}
		refused = append(refused, fmt.Sprintf("%s %s (attestations are made by BuildKit; berth's builders make none: %s=false)", a.flag, a.v, a.flag))
	}
	if f.Check {
		refused = append(refused, "--check (the Dockerfile checks are BuildKit's linter; berth has no build checks)")
	}
	if f.Memory < 0 {
		return fmt.Errorf("build -m %d: the memory limit must be positive", f.Memory)
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("build %s: %w", strings.Join(refused, "; "), service.ErrUnsupported)
}
