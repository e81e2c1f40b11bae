//go:build linux

package seccomp

import (
	"fmt"
	"strings"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Default returns docker's default profile for a container whose bounding
// set holds caps (names with or without the CAP_ prefix): the rules that
// depend on a capability (mount with CAP_SYS_ADMIN, clock_settime with
// CAP_SYS_TIME, ...) are in or out as dockerd decides.
func Default(caps []string) (*specs.LinuxSeccomp, error) {
	s, err := moby.GetDefaultProfile(specFor(caps))
	if err != nil {
		return nil, fmt.Errorf("docker's default seccomp profile: %w", err)
	}
	return s, nil
}

// Load reads a profile in docker's JSON format (as `docker run
// --security-opt seccomp=profile.json` takes) for a container whose
// bounding set holds caps. A profile with no default action and no rules
// is no filter: nil.
func Load(body []byte, caps []string) (*specs.LinuxSeccomp, error) {
	s, err := moby.LoadProfile(string(body), specFor(caps))
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	return s, nil
}

func specFor(caps []string) *specs.Spec {
	names := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(c)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		names = append(names, c)
	}
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: names, Effective: names, Permitted: names,
	}}}
}
