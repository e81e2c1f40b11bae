package servicetest

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/berthdev/berth/service"
)

func cloneEndpoint(ep service.Endpoint) service.Endpoint {
	ep.Aliases = slices.Clone(ep.Aliases)
	return ep
}

// cloneContainerSpec copies spec deeply, so that neither the caller nor the
// Fake sees the other's later changes. slices.Clone keeps nil and empty
// apart, as a ContainerSpec needs (nil keeps the image's command, empty
// clears it).
func cloneContainerSpec(s service.ContainerSpec) service.ContainerSpec {
	c := s
	c.Labels = maps.Clone(s.Labels)
	c.Entrypoint = slices.Clone(s.Entrypoint)
	c.Command = slices.Clone(s.Command)
	c.Env = slices.Clone(s.Env)
	c.GroupAdd = slices.Clone(s.GroupAdd)
	if s.Init != nil {
		v := *s.Init
		c.Init = &v
	}
	if s.StopTimeout != nil {
		v := *s.StopTimeout
		c.StopTimeout = &v
	}
	if s.Healthcheck != nil {
		h := *s.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	c.Ports = slices.Clone(s.Ports)
	c.Expose = slices.Clone(s.Expose)
	c.Mounts = slices.Clone(s.Mounts)
	if s.Networks != nil {
		c.Networks = make([]service.Endpoint, len(s.Networks))
		for i, ep := range s.Networks {
			c.Networks[i] = cloneEndpoint(ep)
		}
	}
	c.ExtraHosts = slices.Clone(s.ExtraHosts)
	c.DNS = slices.Clone(s.DNS)
	c.DNSSearch = slices.Clone(s.DNSSearch)
	c.DNSOptions = slices.Clone(s.DNSOptions)
	c.CapAdd = slices.Clone(s.CapAdd)
	c.CapDrop = slices.Clone(s.CapDrop)
	c.SecurityOpt = slices.Clone(s.SecurityOpt)
	c.Sysctls = maps.Clone(s.Sysctls)
	c.Ulimits = slices.Clone(s.Ulimits)
	c.LogOptions = maps.Clone(s.LogOptions)
	c.VolumesFrom = slices.Clone(s.VolumesFrom)
	c.Devices = slices.Clone(s.Devices)
	return c
}

func cloneNetworkSpec(s service.NetworkSpec) service.NetworkSpec {
	c := s
	c.DriverOpts = maps.Clone(s.DriverOpts)
	c.Labels = maps.Clone(s.Labels)
	c.IPAM = slices.Clone(s.IPAM)
	return c
}

func cloneVolume(v service.Volume) service.Volume {
	v.Labels = maps.Clone(v.Labels)
	return v
}

// validName reports whether s is a valid container or volume name for the
// engine: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
func validName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '_' || r == '.' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// signalNumber returns the Linux number of a signal given as a name ("TERM"
// or "SIGTERM", any case) or a number (1 to 64).
func signalNumber(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 1 && n <= 64
	}
	switch strings.TrimPrefix(strings.ToUpper(s), "SIG") {
	case "HUP":
		return 1, true
	case "INT":
		return 2, true
	case "QUIT":
		return 3, true
	case "ILL":
		return 4, true
	case "TRAP":
		return 5, true
	case "ABRT", "IOT":
		return 6, true
	case "BUS":
		return 7, true
	case "FPE":
		return 8, true
	case "KILL":
		return 9, true
	case "USR1":
		return 10, true
	case "SEGV":
		return 11, true
	case "USR2":
		return 12, true
	case "PIPE":
		return 13, true
	case "ALRM":
		return 14, true
	case "TERM":
		return 15, true
	case "STKFLT":
		return 16, true
	case "CHLD":
		return 17, true
	case "CONT":
		return 18, true
	case "STOP":
		return 19, true
	case "TSTP":
		return 20, true
	case "TTIN":
		return 21, true
	case "TTOU":
		return 22, true
	case "URG":
		return 23, true
	case "XCPU":
		return 24, true
	case "XFSZ":
		return 25, true
	case "VTALRM":
		return 26, true
	case "PROF":
		return 27, true
	case "WINCH":
		return 28, true
	case "IO", "POLL":
		return 29, true
	case "PWR":
		return 30, true
	case "SYS":
		return 31, true
	}
	return 0, false
}

// signalTerminates reports whether a process without a handler for signal
// sig ends (its default action is not to ignore it or to stop the process).
func signalTerminates(sig int) bool {
	switch sig {
	case 17, 18, 23, 28: // CHLD, CONT, URG, WINCH: ignored
		return false
	case 19, 20, 21, 22: // STOP, TSTP, TTIN, TTOU: stopped
		return false
	}
	return true
}
