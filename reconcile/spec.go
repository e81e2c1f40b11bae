package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// File is a file written into a container before each start: secrets and
// configs whose source is an environment variable or inline content, as
// docker compose injects them.
type File struct {
	// Path is the absolute path in the container.
	Path string
	// Content is the file's content.
	Content []byte
	// Mode is the file mode (0444 when unset).
	Mode int64
	// UID and GID own the file.
	UID, GID int
}

// ContainerSpec builds the runtime-neutral spec of replica number n of svc,
// as docker compose's create does. References to other services
// (network_mode/ipc/pid "service:x", volumes_from "x") are left as
// "service:x" for Apply to resolve against the live containers.
func ContainerSpec(p *project.Project, svc *project.Service, n int) (service.ContainerSpec, []File, error) {
	s := svc.Config
	r := svc.Replica(p.Name, n)
	secOpts, err := securityOpts(p.WorkingDir, s.SecurityOpt)
	if err != nil {
		return service.ContainerSpec{}, nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	spec := service.ContainerSpec{
		Name:         r.Name,
		Image:        svc.Image,
		Platform:     s.Platform,
		Labels:       r.Labels,
		WorkingDir:   s.WorkingDir,
		User:         s.User,
		GroupAdd:     s.GroupAdd,
		Hostname:     s.Hostname,
		Domainname:   s.DomainName,
		Tty:          s.Tty,
		OpenStdin:    s.StdinOpen,
		Init:         s.Init,
		Privileged:   s.Privileged,
		ReadOnly:     s.ReadOnly,
		StopSignal:   s.StopSignal,
		Expose:       exposed(s),
		ExtraHosts:   s.ExtraHosts.AsList(":"),
		DNS:          s.DNS,
		DNSSearch:    s.DNSSearch,
		DNSOptions:   s.DNSOpts,
		CapAdd:       s.CapAdd,
		CapDrop:      s.CapDrop,
		SecurityOpt:  secOpts,
		Sysctls:      s.Sysctls,
		Ipc:          s.Ipc,
		Pid:          s.Pid,
		Uts:          s.Uts,
		CgroupParent: s.CgroupParent,
		Runtime:      s.Runtime,
		NetworkMode:  s.NetworkMode,
		VolumesFrom:  volumesFrom(s.VolumesFrom),
	}
	if s.Entrypoint != nil {
		spec.Entrypoint = []string(s.Entrypoint)
	}
	if s.Command != nil {
		spec.Command = []string(s.Command)
	}
	for _, k := range sortedKeys(s.Environment) {
		if v := s.Environment[k]; v != nil {
			spec.Env = append(spec.Env, k+"="+*v)
		} else {
			spec.Env = append(spec.Env, k)
		}
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		spec.StopTimeout = &d
	}
	spec.Restart = restartPolicy(s)
	if hc := s.HealthCheck; hc != nil {
		spec.Healthcheck = healthcheck(hc)
	}
	for _, port := range s.Ports {
		spec.Ports = append(spec.Ports, service.PortBinding{
			HostIP:        port.HostIP,
			HostPort:      port.Published,
			ContainerPort: uint16(port.Target),
			Protocol:      port.Protocol,
		})
	}
	for _, d := range s.Devices {
		spec.Devices = append(spec.Devices, d.Source+":"+d.Target+":"+d.Permissions)
	}
	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		spec.Ulimits = append(spec.Ulimits, service.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	spec.Resources = resources(s)
	if s.Logging != nil {
		spec.LogDriver = s.Logging.Driver
		spec.LogOptions = s.Logging.Options
	}

	// mounts
	for _, v := range s.Volumes {
		m, err := mount(p, v)
		if err != nil {
			return spec, nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	for _, t := range s.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		spec.Mounts = append(spec.Mounts, service.Mount{Type: service.MountTmpfs, Target: target})
	}
	files, mounts, err := secretsAndConfigs(p, s)
	if err != nil {
		return spec, nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	spec.Mounts = append(spec.Mounts, mounts...)

	// networks: the container name, the service name and declared aliases
	if spec.NetworkMode == "" {
		for i, key := range s.NetworksByPriority() {
			cfg := s.Networks[key]
			netw := p.Model.Networks[key]
			ep := service.Endpoint{Network: netw.Name}
			ep.Aliases = append(ep.Aliases, r.Name)
			if cfg.ServiceNameAliasEnabled() {
				ep.Aliases = append(ep.Aliases, svc.Name)
			}
			if cfg != nil {
				ep.Aliases = append(ep.Aliases, cfg.Aliases...)
				ep.IPv4Address, ep.IPv6Address = cfg.Ipv4Address, cfg.Ipv6Address
				ep.MacAddress, ep.Priority = cfg.MacAddress, cfg.Priority
			}
			if i == 0 && s.MacAddress != "" {
				// As docker compose: the service's mac_address is the
				// primary network's, which may not say another.
				if ep.MacAddress != "" && !strings.EqualFold(ep.MacAddress, s.MacAddress) {
					return spec, nil, fmt.Errorf("service %s: mac_address %s: the service-level mac_address should have the same value as network %s (%s)", svc.Name, s.MacAddress, key, ep.MacAddress)
				}
				ep.MacAddress = s.MacAddress
			}
			spec.Networks = append(spec.Networks, ep)
		}
		if len(spec.Networks) == 0 {
			spec.NetworkMode = "none"
		}
	}
	return spec, files, nil
}

func exposed(s types.ServiceConfig) []string {
	var out []string
	for _, e := range s.Expose {
		if !strings.Contains(e, "/") {
			e += "/tcp"
		}
		out = append(out, e)
	}
	return out
}

func volumesFrom(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		if c, ok := strings.CutPrefix(v, "container:"); ok {
			out = append(out, c)
			continue
		}
		out = append(out, types.ServicePrefix+v)
	}
	return out
}

func restartPolicy(s types.ServiceConfig) service.RestartPolicy {
	if s.Restart != "" {
		name, max, _ := strings.Cut(s.Restart, ":")
		n, _ := strconv.Atoi(max)
		return service.RestartPolicy{Name: name, MaxRetries: n}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		p := service.RestartPolicy{Name: rp.Condition}
		switch rp.Condition {
		case "none":
			p.Name = "no"
		case "any":
			p.Name = "always"
		}
		if rp.MaxAttempts != nil {
			p.MaxRetries = int(*rp.MaxAttempts)
		}
		return p
	}
	return service.RestartPolicy{Name: "no"}
}

func healthcheck(hc *types.HealthCheckConfig) *service.Healthcheck {
	if hc.Disable {
		return &service.Healthcheck{Test: []string{"NONE"}}
	}
	h := &service.Healthcheck{Test: hc.Test}
	dur := func(d *types.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	h.Interval, h.Timeout = dur(hc.Interval), dur(hc.Timeout)
	h.StartPeriod, h.StartInterval = dur(hc.StartPeriod), dur(hc.StartInterval)
	if hc.Retries != nil {
		h.Retries = int(*hc.Retries)
	}
	return h
}

func resources(s types.ServiceConfig) service.Resources {
	r := service.Resources{
		Memory:            int64(s.MemLimit),
		MemoryReservation: int64(s.MemReservation),
		MemorySwap:        int64(s.MemSwapLimit),
		NanoCPUs:          int64(s.CPUS * 1e9),
		CPUShares:         s.CPUShares,
		CpusetCpus:        s.CPUSet,
		PidsLimit:         s.PidsLimit,
		ShmSize:           int64(s.ShmSize),
		OomKillDisable:    s.OomKillDisable,
		OomScoreAdj:       int(s.OomScoreAdj),
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 {
				r.NanoCPUs = int64(l.NanoCPUs.Value() * 1e9)
			}
			if l.Pids != 0 {
				r.PidsLimit = l.Pids
			}
		}
		if rs := s.Deploy.Resources.Reservations; rs != nil && rs.MemoryBytes != 0 {
			r.MemoryReservation = int64(rs.MemoryBytes)
		}
	}
	return r
}

func mount(p *project.Project, v types.ServiceVolumeConfig) (service.Mount, error) {
	m := service.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
	switch v.Type {
	case types.VolumeTypeBind:
		m.Type = service.MountBind
		// As docker compose v5: a missing source directory is created
		// unless create_host_path is false, or the bind asks for what only
		// the engine's mount API offers (propagation, recursive), which
		// does not create it. A long-syntax bind without a bind: key
		// creates it too (compose-go's create_host_path defaults to true).
		m.CreateHostPath = v.Bind == nil ||
			(bool(v.Bind.CreateHostPath) && v.Bind.Propagation == "" && v.Bind.Recursive == "")
		if v.Bind != nil {
			m.Propagation = v.Bind.Propagation
		}
	case types.VolumeTypeVolume:
		m.Type = service.MountVolume
		if v.Source != "" {
			vol, ok := p.Model.Volumes[v.Source]
			if !ok {
				return m, fmt.Errorf("undefined volume %q", v.Source)
			}
			m.Source = vol.Name
		}
		if v.Volume != nil {
			m.NoCopy, m.Subpath = v.Volume.NoCopy, v.Volume.Subpath
		}
	case types.VolumeTypeTmpfs:
		m.Type = service.MountTmpfs
		if v.Tmpfs != nil {
			m.TmpfsSize, m.TmpfsMode = int64(v.Tmpfs.Size), v.Tmpfs.Mode
		}
	default:
		return m, fmt.Errorf("volume %s: type %q is not supported", v.Target, v.Type)
	}
	return m, nil
}

// secretsAndConfigs mounts file-based secrets and configs read-only and
// returns the others as files to inject before each start.
func secretsAndConfigs(p *project.Project, s types.ServiceConfig) ([]File, []service.Mount, error) {
	var files []File
	var mounts []service.Mount
	add := func(kind string, ref types.FileReferenceConfig, obj types.FileObjectConfig, defaultDir string) error {
		target := ref.Target
		if target == "" {
			target = path.Join(defaultDir, ref.Source)
		} else if !path.IsAbs(target) {
			target = path.Join(defaultDir, target)
		}
		switch {
		case bool(obj.External):
			return fmt.Errorf("%s %q: external %ss are not supported outside swarm", kind, ref.Source, kind)
		case obj.File != "":
			mounts = append(mounts, service.Mount{Type: service.MountBind, Source: obj.File, Target: target, ReadOnly: true})
		case obj.Content != "":
			// inline content, or an environment source compose-go resolved
			// from the environment of the file that declares it (an include's
			// env_file), as docker compose reads it
			files = append(files, fileFor(ref, target, obj.Content))
		case obj.Environment != "":
			v, ok := p.Model.Environment[obj.Environment]
			if !ok {
				return fmt.Errorf("%s %q: environment variable %s is not set", kind, ref.Source, obj.Environment)
			}
			files = append(files, fileFor(ref, target, v))
		default:
			files = append(files, fileFor(ref, target, obj.Content))
		}
		return nil
	}
	for _, sec := range s.Secrets {
		if err := add("secret", types.FileReferenceConfig(sec), types.FileObjectConfig(p.Model.Secrets[sec.Source]), "/run/secrets"); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range s.Configs {
		if err := add("config", types.FileReferenceConfig(c), types.FileObjectConfig(p.Model.Configs[c.Source]), "/"); err != nil {
			return nil, nil, err
		}
	}
	return files, mounts, nil
}

func fileFor(ref types.FileReferenceConfig, target, content string) File {
	f := File{Path: target, Content: []byte(content), Mode: 0o444}
	if ref.Mode != nil {
		f.Mode = int64(*ref.Mode)
	}
	f.UID, _ = strconv.Atoi(ref.UID)
	f.GID, _ = strconv.Atoi(ref.GID)
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Hooks turns compose lifecycle hooks into exec specs.
func Hooks(hooks []types.ServiceHook) []service.ExecSpec {
	var out []service.ExecSpec
	for _, h := range hooks {
		spec := service.ExecSpec{Cmd: []string(h.Command), User: h.User, Privileged: h.Privileged, WorkingDir: h.WorkingDir}
		for _, k := range sortedKeys(h.Environment) {
			if v := h.Environment[k]; v != nil {
				spec.Env = append(spec.Env, k+"="+*v)
			}
		}
		out = append(out, spec)
	}
	return out
}

// securityOpts are the service's security_opt as docker compose sends them:
// a seccomp profile named by a path (relative to the project directory)
// is read and sent as its compacted JSON content, which is what the engine
// (and the built-in runtime) take; "unconfined" and "builtin" stay names.
func securityOpts(dir string, opts []string) ([]string, error) {
	var out []string
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			k, v, ok = strings.Cut(o, ":")
		}
		if !ok || k != "seccomp" || v == "unconfined" || v == "builtin" || strings.HasPrefix(strings.TrimSpace(v), "{") {
			out = append(out, o)
			continue
		}
		if !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, fmt.Errorf("security_opt: opening seccomp profile failed: %w", err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return nil, fmt.Errorf("security_opt: seccomp profile %s is not JSON: %w", v, err)
		}
		out = append(out, "seccomp="+buf.String())
	}
	return out, nil
}
