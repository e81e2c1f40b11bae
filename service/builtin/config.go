package builtin

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/confine"
	"github.com/berthdev/berth/service/builtin/proc"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// confine.Confinement computes how the processes of a container are confined:
// docker's default capabilities adjusted by cap_add, cap_drop and
// privileged; no_new_privs from security_opt; docker's default seccomp
// profile for those capabilities, or security_opt seccomp=unconfined, or
// seccomp=<profile> (a file in docker's JSON format, or its content, which
// is what docker compose sends); none when privileged, as docker.
func (b *Backend) confinement(s service.ContainerSpec) (confine.Confinement, error) {
	caps, err := confine.CapSet(s.CapAdd, s.CapDrop, s.Privileged)
	if err != nil {
		return confine.Confinement{}, err
	}
	if len(s.Devices) > 0 {
		return confine.Confinement{}, fmt.Errorf("devices %v: host devices are not supported by the built-in runtime: %w", s.Devices, service.ErrUnsupported)
	}
	if !s.Privileged && !b.devices && !slices.ContainsFunc(s.CapAdd, func(c string) bool {
		c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		return c == "MKNOD" || c == "ALL"
	}) {
		// No device cgroup (cgroup v2): nothing would stop a node made
		// for the host's disk from being opened, so no node is made.
		caps = slices.DeleteFunc(caps, func(c int) bool { return confine.CapNames[c] == "MKNOD" })
	}
	c := confine.Confinement{Caps: caps}
	profile := ""
	for _, o := range s.SecurityOpt {
		k, v, _ := strings.Cut(o, "=")
		if !strings.HasPrefix(strings.TrimSpace(v), "{") {
			k, v, _ = strings.Cut(strings.ReplaceAll(o, "=", ":"), ":")
		}
		switch k {
		case "no-new-privileges":
			c.NoNewPrivs = v == "" || v == "true"
		case "seccomp":
			profile = v
		case "apparmor", "label", "systempaths":
			// The built-in runtime applies no LSM profile.
		default:
			return c, fmt.Errorf("security_opt %q is not supported by the built-in runtime: %w", o, service.ErrUnsupported)
		}
	}
	if s.Privileged || profile == "unconfined" {
		return c, nil
	}
	names := make([]string, len(caps))
	for i, cp := range caps {
		names[i] = confine.CapNames[cp]
	}
	var prof *specs.LinuxSeccomp
	if profile == "" {
		prof, err = seccomp.Default(names)
	} else {
		body := []byte(profile)
		if !strings.HasPrefix(strings.TrimSpace(profile), "{") {
			if body, err = os.ReadFile(profile); err != nil {
				return c, fmt.Errorf("security_opt seccomp: %w", err)
			}
		}
		prof, err = seccomp.Load(body, names)
	}
	if err == nil {
		c.Seccomp, err = seccomp.Compile(prof)
	}
	if err != nil {
		return c, fmt.Errorf("security_opt seccomp: %w", err)
	}
	return c, nil
}

// initConfig builds a container's init configuration and writes the files
// it bind-mounts (/etc/hostname, /etc/hosts, /etc/resolv.conf).
func (b *Backend) initConfig(r *records.Container) (*proc.InitConfig, error) {
	s := r.Spec
	confine, err := b.confinement(s)
	if err != nil {
		return nil, err
	}
	c := &proc.InitConfig{
		LayersDir: filepath.Join(b.root, "layers"), Layers: r.Layers,
		Upper:    filepath.Join(b.containerDir(r.ID), "upper"),
		Work:     filepath.Join(b.containerDir(r.ID), "work"),
		Merged:   filepath.Join(b.containerDir(r.ID), "merged"),
		Hostname: s.Hostname, Domainname: s.Domainname,
		EtcFiles: map[string]string{},
		Args:     r.Process.Args, Env: r.Process.Env, Cwd: r.Process.Cwd, User: r.Process.User,
		GroupAdd: s.GroupAdd, Confine: confine, Privileged: s.Privileged, ReadOnly: s.ReadOnly,
		Init: s.Init != nil && *s.Init, InitBinary: b.exe,
		Rlimits: s.Ulimits, Sysctls: s.Sysctls, ShmSize: s.Resources.ShmSize,
	}
	if _, ok := s.Labels[labelBuildStep]; ok {
		c.MountPoints = filepath.Join(b.containerDir(r.ID), mountPointsFile)
	}
	if s.Tty && !slices.ContainsFunc(c.Env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") }) {
		c.Env = append(slices.Clone(c.Env), "TERM=xterm") // as docker
	}
	if err := b.writeEtc(r, c); err != nil {
		return nil, err
	}
	if other, ok := strings.CutPrefix(s.NetworkMode, "container:"); ok {
		// The network's files are the other container's, as docker shares
		// them.
		for _, f := range []string{"hosts", "resolv.conf"} {
			c.EtcFiles[f] = b.containerFile(other, f)
		}
	}
	for _, m := range s.Mounts {
		im, err := b.mount(m)
		if err != nil {
			return nil, err
		}
		c.Mounts = append(c.Mounts, im)
	}
	return c, nil
}

// mount resolves a spec mount to what the init mounts.
func (b *Backend) mount(m service.Mount) (proc.Mount, error) {
	im := proc.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Propagation: m.Propagation}
	switch m.Type {
	case service.MountBind:
		if _, err := os.Stat(m.Source); err != nil {
			if !os.IsNotExist(err) || !m.CreateHostPath {
				return im, fmt.Errorf("bind source path does not exist: %s", m.Source)
			}
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return im, fmt.Errorf("create bind source %s: %w", m.Source, err)
			}
		}
	case service.MountVolume:
		v, err := b.volumeRecord(m.Source)
		if err != nil {
			return im, err
		}
		dir := v.Mountpoint
		device, ro, err := bindOpts(v.Spec.DriverOpts)
		if err != nil {
			return im, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if device != "" {
			// A bind-style local volume: its directory is the device's,
			// which must exist, as docker's local driver wants it.
			if st, err := os.Stat(device); err != nil || !st.IsDir() {
				return im, fmt.Errorf("error while mounting volume %s: failed to mount local volume: mount %s: no such directory", v.Name, device)
			}
			dir, im.ReadOnly = device, im.ReadOnly || ro
		}
		im.Type, im.Source, im.Populate = service.MountBind, dir, !m.NoCopy && m.Subpath == ""
		if m.Subpath != "" {
			im.Source = filepath.Join(dir, filepath.Clean("/"+m.Subpath))
		}
	case service.MountTmpfs:
		var opts []string
		if m.TmpfsSize > 0 {
			opts = append(opts, fmt.Sprintf("size=%d", m.TmpfsSize))
		}
		if m.TmpfsMode != 0 {
			opts = append(opts, fmt.Sprintf("mode=%o", m.TmpfsMode))
		}
		im.Source, im.Data = "tmpfs", strings.Join(opts, ",")
	default:
		return im, fmt.Errorf("mount type %q at %s is not supported by the built-in runtime: %w", m.Type, m.Target, service.ErrUnsupported)
	}
	return im, nil
}

// writeEtc writes the container's hostname, hosts and resolv.conf files.
func (b *Backend) writeEtc(r *records.Container, c *proc.InitConfig) error {
	s := r.Spec
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
	networked := s.NetworkMode == "" && len(r.Networks) > 0
	if ip := primaryIP(r); networked && ip != "" {
		names := s.Hostname
		if s.Domainname != "" {
			names = s.Hostname + "." + s.Domainname + " " + s.Hostname
		}
		hosts += ip + "\t" + names + "\n"
	}
	for _, h := range s.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if i := strings.IndexByte(h, '='); i > 0 {
			name, ip, ok = h[:i], h[i+1:], true
		}
		if !ok {
			return fmt.Errorf("extra_hosts %q: want host:ip", h)
		}
		hosts += strings.Trim(ip, "[]") + "\t" + name + "\n"
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil
	}
	if networked {
		// The root's DNS server answers on the primary network's gateway,
		// as docker's embedded server on 127.0.0.11.
		if n, err := b.findNetwork(orderedNetworks(r)[0].A.ID); err == nil {
			resolv = []byte("nameserver " + n.Gateway + "\noptions ndots:0\n")
		}
	}
	if len(s.DNS)+len(s.DNSSearch)+len(s.DNSOptions) > 0 {
		var sb strings.Builder
		for _, d := range s.DNS {
			sb.WriteString("nameserver " + d + "\n")
		}
		if len(s.DNSSearch) > 0 {
			sb.WriteString("search " + strings.Join(s.DNSSearch, " ") + "\n")
		}
		if len(s.DNSOptions) > 0 {
			sb.WriteString("options " + strings.Join(s.DNSOptions, " ") + "\n")
		}
		resolv = []byte(sb.String())
	}
	files := map[string][]byte{
		"hostname":    []byte(s.Hostname + "\n"),
		"hosts":       []byte(hosts),
		"resolv.conf": resolv,
	}
	for name, content := range files {
		p := b.containerFile(r.ID, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		c.EtcFiles[name] = p
	}
	return nil
}
