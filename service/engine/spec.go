package engine

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthdev/berth/service"
)

// API versions that changed what a create request can say.
const (
	// apiMultiNetworkCreate: several networks in NetworkingConfig at create,
	// the per-endpoint MAC address and the healthcheck start interval.
	apiMultiNetworkCreate = "1.44"
	// apiVolumeSubpath: VolumeOptions.Subpath.
	apiVolumeSubpath = "1.45"
)

// createRequest is what creating a container from a spec takes: the create
// call, then the networks to connect before the container starts (engines
// before API 1.44 take a single network at create).
type createRequest struct {
	options client.ContainerCreateOptions
	connect []endpoint
	// macAddress is the primary network's MAC address for engines before
	// API 1.44, which read it from the container's Config.MacAddress only
	// (a field the moby client's types no longer have).
	macAddress string
}

// endpoint is a network to connect a container to, with its settings.
type endpoint struct {
	network  string
	settings *network.EndpointSettings
}

// below reports whether API version cur is known and older than v.
func below(cur, v string) bool {
	return cur != "" && versions.LessThan(cur, v)
}

// unsupported returns an ErrUnsupported error for a spec field the engine
// cannot honour.
func unsupported(what, apiVersion, needed string) error {
	return fmt.Errorf("%s needs Engine API %s, the engine speaks %s: %w", what, needed, apiVersion, service.ErrUnsupported)
}

// newCreateRequest maps spec onto the Engine API for an engine speaking
// apiVersion. Every field of service.ContainerSpec is used.
func newCreateRequest(spec service.ContainerSpec, apiVersion string) (createRequest, error) {
	cfg, err := containerConfig(spec, apiVersion)
	if err != nil {
		return createRequest{}, err
	}
	hc, err := hostConfig(spec, apiVersion)
	if err != nil {
		return createRequest{}, err
	}
	for _, p := range spec.Ports {
		port, err := containerPort(p.ContainerPort, p.Protocol)
		if err != nil {
			return createRequest{}, err
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	if len(cfg.ExposedPorts) == 0 {
		cfg.ExposedPorts = nil
	}

	req := createRequest{options: client.ContainerCreateOptions{
		Name:       spec.Name,
		Config:     cfg,
		HostConfig: hc,
	}}
	if spec.Platform != "" {
		p, err := parsePlatform(spec.Platform)
		if err != nil {
			return createRequest{}, err
		}
		req.options.Platform = &p
	}

	if spec.NetworkMode != "" || len(spec.Networks) == 0 {
		hc.NetworkMode = container.NetworkMode(spec.NetworkMode)
		return req, nil
	}
	eps := sortEndpoints(spec.Networks)
	hc.NetworkMode = container.NetworkMode(eps[0].Network)
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	for i, ep := range eps {
		if i == 0 && ep.MacAddress != "" && below(apiVersion, apiMultiNetworkCreate) {
			mac, err := net.ParseMAC(ep.MacAddress)
			if err != nil {
				return createRequest{}, fmt.Errorf("network %q: mac address: %w", ep.Network, err)
			}
			req.macAddress = mac.String()
			ep.MacAddress = ""
		}
		es, err := endpointSettings(ep, spec.Links, apiVersion)
		if err != nil {
			return createRequest{}, err
		}
		if i == 0 || !below(apiVersion, apiMultiNetworkCreate) {
			nc.EndpointsConfig[ep.Network] = es
		} else {
			req.connect = append(req.connect, endpoint{network: cmp.Or(ep.NetworkID, ep.Network), settings: es})
		}
	}
	req.options.NetworkingConfig = nc
	return req, nil
}

// sortEndpoints returns the endpoints by decreasing priority, in spec order
// among equal priorities: the first is the container's primary network.
func sortEndpoints(eps []service.Endpoint) []service.Endpoint {
	out := slices.Clone(eps)
	slices.SortStableFunc(out, func(a, b service.Endpoint) int { return cmp.Compare(b.Priority, a.Priority) })
	return out
}

// endpointSettings maps an endpoint to the engine's settings for it, with
// the container's links, which docker compose gives every endpoint: on a
// user-defined network the engine resolves them per endpoint.
func endpointSettings(ep service.Endpoint, links []string, apiVersion string) (*network.EndpointSettings, error) {
	// The ID, when known, is what the engine resolves the network by at
	// start, so that a name several networks share blocks nothing.
	es := &network.EndpointSettings{Aliases: slices.Clone(ep.Aliases), NetworkID: ep.NetworkID, Links: slices.Clone(links)}
	if ep.IPv4Address != "" || ep.IPv6Address != "" {
		es.IPAMConfig = &network.EndpointIPAMConfig{}
		var err error
		if es.IPAMConfig.IPv4Address, err = parseAddr(ep.IPv4Address); err != nil {
			return nil, fmt.Errorf("network %q: ipv4 address: %w", ep.Network, err)
		}
		if es.IPAMConfig.IPv6Address, err = parseAddr(ep.IPv6Address); err != nil {
			return nil, fmt.Errorf("network %q: ipv6 address: %w", ep.Network, err)
		}
	}
	if ep.MacAddress != "" {
		if below(apiVersion, apiMultiNetworkCreate) {
			return nil, unsupported(fmt.Sprintf("network %q: a MAC address other than on the primary network at the container's creation", ep.Network), apiVersion, apiMultiNetworkCreate)
		}
		mac, err := net.ParseMAC(ep.MacAddress)
		if err != nil {
			return nil, fmt.Errorf("network %q: mac address: %w", ep.Network, err)
		}
		es.MacAddress = network.HardwareAddr(mac)
	}
	return es, nil
}

// parseAddr parses an IP address; the empty string is the zero address.
func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

// parsePrefix parses a CIDR prefix; the empty string is the zero prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	return netip.ParsePrefix(s)
}

// containerConfig maps the container-wide part of spec.
func containerConfig(spec service.ContainerSpec, apiVersion string) (*container.Config, error) {
	cfg := &container.Config{
		Hostname:     spec.Hostname,
		Domainname:   spec.Domainname,
		User:         spec.User,
		AttachStdin:  spec.AttachStdin,
		AttachStdout: spec.AttachStdout,
		AttachStderr: spec.AttachStderr,
		Tty:          spec.Tty,
		OpenStdin:    spec.OpenStdin,
		// As docker run -i does: the container's stdin closes when the
		// attached client's does, so that piped input ends.
		StdinOnce:    spec.OpenStdin && spec.AttachStdin,
		Env:          slices.Clone(spec.Env),
		Cmd:          slices.Clone(spec.Command),
		Image:        spec.Image,
		WorkingDir:   spec.WorkingDir,
		Entrypoint:   slices.Clone(spec.Entrypoint),
		Labels:       spec.Labels,
		StopSignal:   spec.StopSignal,
		ExposedPorts: network.PortSet{},
	}
	if spec.StopTimeout != nil {
		s := seconds(*spec.StopTimeout)
		cfg.StopTimeout = &s
	}
	if h := spec.Healthcheck; h != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test:          slices.Clone(h.Test),
			Interval:      h.Interval,
			Timeout:       h.Timeout,
			StartPeriod:   h.StartPeriod,
			StartInterval: h.StartInterval,
			Retries:       h.Retries,
		}
		if below(apiVersion, apiMultiNetworkCreate) {
			// engines before API 1.44 do not know it and probe at the
			// interval during the start period too: docker compose sends it
			// and they ignore it, so berth leaves it out rather than refuse
			// a file docker compose runs
			cfg.Healthcheck.StartInterval = 0
		}
	}
	for _, e := range spec.Expose {
		pr, err := network.ParsePortRange(e)
		if err != nil {
			return nil, fmt.Errorf("expose %q: %w", e, err)
		}
		for p := range pr.All() {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	return cfg, nil
}

// seconds converts d to whole seconds, rounding up, as the engine takes
// stop timeouts.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// containerPort returns the engine's key for a container port.
func containerPort(num uint16, proto string) (network.Port, error) {
	if proto == "" {
		proto = string(network.TCP)
	}
	p, ok := network.PortFrom(num, network.IPProtocol(strings.ToLower(proto)))
	if !ok {
		return network.Port{}, fmt.Errorf("port %d/%s: invalid", num, proto)
	}
	return p, nil
}

// hostConfig maps the host-side part of spec (all but the networks).
func hostConfig(spec service.ContainerSpec, apiVersion string) (*container.HostConfig, error) {
	r := spec.Resources
	hc := &container.HostConfig{
		LogConfig:      container.LogConfig{Type: spec.LogDriver, Config: spec.LogOptions},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyMode(spec.Restart.Name), MaximumRetryCount: spec.Restart.MaxRetries},
		AutoRemove:     spec.AutoRemove,
		VolumesFrom:    slices.Clone(spec.VolumesFrom),
		Links:          slices.Clone(spec.Links),
		CapAdd:         slices.Clone(spec.CapAdd),
		CapDrop:        slices.Clone(spec.CapDrop),
		DNSOptions:     slices.Clone(spec.DNSOptions),
		DNSSearch:      slices.Clone(spec.DNSSearch),
		ExtraHosts:     slices.Clone(spec.ExtraHosts),
		GroupAdd:       slices.Clone(spec.GroupAdd),
		IpcMode:        container.IpcMode(spec.Ipc),
		OomScoreAdj:    r.OomScoreAdj,
		PidMode:        container.PidMode(spec.Pid),
		Privileged:     spec.Privileged,
		ReadonlyRootfs: spec.ReadOnly,
		SecurityOpt:    slices.Clone(spec.SecurityOpt),
		UTSMode:        container.UTSMode(spec.Uts),
		ShmSize:        r.ShmSize,
		Sysctls:        spec.Sysctls,
		Runtime:        spec.Runtime,
		Init:           spec.Init,
		Resources: container.Resources{
			CPUShares:         r.CPUShares,
			Memory:            r.Memory,
			NanoCPUs:          r.NanoCPUs,
			CgroupParent:      spec.CgroupParent,
			CpusetCpus:        r.CpusetCpus,
			MemoryReservation: r.MemoryReservation,
			MemorySwap:        r.MemorySwap,
		},
	}
	if r.PidsLimit != 0 {
		hc.PidsLimit = &r.PidsLimit
	}
	if r.OomKillDisable {
		t := true
		hc.OomKillDisable = &t
	}
	for _, u := range spec.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, s := range spec.DNS {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("dns %q: %w", s, err)
		}
		hc.DNS = append(hc.DNS, a)
	}
	for _, d := range spec.Devices {
		dm, err := parseDevice(d)
		if err != nil {
			return nil, err
		}
		hc.Devices = append(hc.Devices, dm)
	}

	pb, err := portBindings(spec.Ports)
	if err != nil {
		return nil, err
	}
	hc.PortBindings = pb

	for _, m := range spec.Mounts {
		if m.Type == service.MountBind && m.CreateHostPath {
			// Only the legacy form creates a missing host directory.
			hc.Binds = append(hc.Binds, bindString(m))
			continue
		}
		mm, err := engineMount(m, apiVersion)
		if err != nil {
			return nil, err
		}
		hc.Mounts = append(hc.Mounts, mm)
	}
	return hc, nil
}

// portBindings maps published ports; several bindings of one container port
// (on several host addresses, say) are kept together.
func portBindings(ports []service.PortBinding) (network.PortMap, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	pm := network.PortMap{}
	for _, p := range ports {
		port, err := containerPort(p.ContainerPort, p.Protocol)
		if err != nil {
			return nil, err
		}
		ip, err := parseAddr(p.HostIP)
		if err != nil {
			return nil, fmt.Errorf("port %s: host ip: %w", port, err)
		}
		pm[port] = append(pm[port], network.PortBinding{HostIP: ip, HostPort: p.HostPort})
	}
	return pm, nil
}

// bindString returns the legacy "src:dst[:opts]" form of a bind mount.
func bindString(m service.Mount) string {
	var opts []string
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	if m.Propagation != "" {
		opts = append(opts, m.Propagation)
	}
	s := m.Source + ":" + m.Target
	if len(opts) > 0 {
		s += ":" + strings.Join(opts, ",")
	}
	return s
}

// engineMount maps a mount onto HostConfig.Mounts.
func engineMount(m service.Mount, apiVersion string) (mount.Mount, error) {
	mm := mount.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	switch m.Type {
	case service.MountBind:
		mm.Type = mount.TypeBind
		if m.Propagation != "" {
			mm.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(m.Propagation)}
		}
	case service.MountVolume:
		mm.Type = mount.TypeVolume
		if m.Subpath != "" && below(apiVersion, apiVolumeSubpath) {
			return mount.Mount{}, unsupported(fmt.Sprintf("volume mount %q: subpath", m.Target), apiVersion, apiVolumeSubpath)
		}
		if m.NoCopy || m.Subpath != "" {
			mm.VolumeOptions = &mount.VolumeOptions{NoCopy: m.NoCopy, Subpath: m.Subpath}
		}
	case service.MountTmpfs:
		mm.Type = mount.TypeTmpfs
		mm.Source = ""
		if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			mm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
		}
	default:
		return mount.Mount{}, fmt.Errorf("mount %q: type %q: %w", m.Target, m.Type, service.ErrUnsupported)
	}
	return mm, nil
}

// parseDevice parses "host[:container[:permissions]]" as docker run
// --device does; the container path defaults to the host path and the
// permissions to "rwm".
func parseDevice(s string) (container.DeviceMapping, error) {
	parts := strings.Split(s, ":")
	dm := container.DeviceMapping{PathOnHost: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if validDeviceMode(parts[1]) {
			dm.CgroupPermissions = parts[1]
		} else {
			dm.PathInContainer = parts[1]
		}
	case 3:
		if !validDeviceMode(parts[2]) {
			return container.DeviceMapping{}, fmt.Errorf("device %q: invalid permissions %q", s, parts[2])
		}
		dm.PathInContainer, dm.CgroupPermissions = parts[1], parts[2]
	default:
		return container.DeviceMapping{}, fmt.Errorf("device %q: want host[:container[:permissions]]", s)
	}
	if dm.PathOnHost == "" {
		return container.DeviceMapping{}, fmt.Errorf("device %q: no host path", s)
	}
	if dm.PathInContainer == "" {
		dm.PathInContainer = dm.PathOnHost
	}
	return dm, nil
}

// validDeviceMode reports whether s is a set of cgroup device permissions
// (r, w, m, each at most once).
func validDeviceMode(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range s {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// parsePlatform parses "os[/arch[/variant]]".
func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) > 3 || slices.Contains(parts, "") {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os[/arch[/variant]]", s)
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}
