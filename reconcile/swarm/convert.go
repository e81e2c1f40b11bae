// Package swarm turns a compose project, as berth loads it, into the
// objects `berth deploy` puts on a Docker Swarm (#15): services, overlay
// networks, secrets and configs, described by the backend-neutral types of
// the service contract (service.SwarmStack). It is pure: no engine call, and
// the only input besides the project is how to read secret and config
// files. What a swarm cannot do is reported per service and key: a Warning
// when ignoring it keeps the service working, an error when it would not.
package swarm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/service"
)

// Options are the inputs of Convert besides the project.
type Options struct {
	// ReadFile reads a secret's or config's file; nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
	// Locate, if set, gives the compose file and line of a dotted key path
	// ("services.web.privileged"), for the warnings and errors (see
	// project.Project.Locate).
	Locate func(path string) (file string, line int)
	// Built says the images of services with a build section were built
	// and pushed to their registry (deploy --build): build: is no warning.
	Built bool
}

// Warning is a key of a service (or of a top-level object) that a swarm
// cannot honour and that Convert left out.
type Warning struct {
	// Object is "service web", "network back", "secret key"...
	Object string
	// Key is the compose key, e.g. "privileged" or "deploy.resources.devices".
	Key string
	// Message says what berth does instead.
	Message string
	// File and Line locate the key, when Options.Locate knows them.
	File string
	Line int
}

func (w Warning) String() string {
	return fmt.Sprintf("%s%s: %s: %s", location(w.File, w.Line), w.Object, w.Key, w.Message)
}

// KeyError is a key a swarm cannot honour and that cannot be left out.
type KeyError struct {
	Object, Key, Message string
	// File and Line locate the key, when Options.Locate knows them.
	File string
	Line int
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%s%s: %s: %s", location(e.File, e.Line), e.Object, e.Key, e.Message)
}

// location is "file:line: " (or "file: "), "" when file is unknown.
func location(file string, line int) string {
	switch {
	case file == "":
		return ""
	case line > 0:
		return fmt.Sprintf("%s:%d: ", file, line)
	}
	return file + ": "
}

// keyPath is the dotted compose path of key of object ("service web",
// "network back", ...): services.web.<key>, networks.back.<key>...
func keyPath(object, key string) string {
	kind, name, _ := strings.Cut(object, " ")
	return kind + "s." + name + "." + key
}

// Convert returns the swarm objects of project p, in a stable order, with
// the warnings of the keys left out. Its error joins a *KeyError per key
// that a swarm cannot run; nothing else is returned with it.
func Convert(p *types.Project, opts Options) (*service.SwarmStack, []Warning, error) {
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	c := &converter{p: p, opts: opts}
	stack := &service.SwarmStack{Namespace: p.Name}
	stack.Networks = c.networks()
	secrets := map[string]types.FileObjectConfig{}
	for k, v := range p.Secrets {
		secrets[k] = types.FileObjectConfig(v)
	}
	configs := map[string]types.FileObjectConfig{}
	for k, v := range p.Configs {
		configs[k] = types.FileObjectConfig(v)
	}
	stack.Secrets = c.objects("secret", secrets)
	stack.Configs = c.objects("config", configs)
	c.index(stack)
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		stack.Services = append(stack.Services, c.service(p.Services[name]))
	}
	if len(c.errs) > 0 {
		return nil, nil, errors.Join(c.errs...)
	}
	return stack, c.warnings, nil
}

// converter carries a conversion's inputs and what it found wrong.
type converter struct {
	p        *types.Project
	opts     Options
	warnings []Warning
	errs     []error
	// names of the swarm objects, by compose key
	networkNames, secretNames, configNames map[string]string
}

func (c *converter) warn(object, key, format string, args ...any) {
	w := Warning{Object: object, Key: key, Message: fmt.Sprintf(format, args...)}
	w.File, w.Line = c.locate(object, key)
	c.warnings = append(c.warnings, w)
}

func (c *converter) fail(object, key, format string, args ...any) {
	e := &KeyError{Object: object, Key: key, Message: fmt.Sprintf(format, args...)}
	e.File, e.Line = c.locate(object, key)
	c.errs = append(c.errs, e)
}

// locate gives the file and line of key of object, where known.
func (c *converter) locate(object, key string) (string, int) {
	if c.opts.Locate == nil {
		return "", 0
	}
	return c.opts.Locate(keyPath(object, key))
}

// scope is docker stack's name of a stack object: <namespace>_<name>.
func (c *converter) scope(name string) string { return c.p.Name + "_" + name }

// labels returns l (nil when empty) with the stack namespace label added.
func (c *converter) labels(l map[string]string) map[string]string {
	out := map[string]string{service.StackNamespaceLabel: c.p.Name}
	maps.Copy(out, l)
	out[service.StackNamespaceLabel] = c.p.Name
	return out
}

func (c *converter) index(stack *service.SwarmStack) {
	c.networkNames, c.secretNames, c.configNames = map[string]string{}, map[string]string{}, map[string]string{}
	for _, n := range stack.Networks {
		c.networkNames[n.Key] = n.Name
	}
	for _, o := range stack.Secrets {
		c.secretNames[o.Key] = o.Name
	}
	for _, o := range stack.Configs {
		c.configNames[o.Key] = o.Name
	}
}

// networks returns the stack's networks: overlay and attachable unless the
// file says otherwise; a node-local driver is an error.
func (c *converter) networks() []service.SwarmNetwork {
	var out []service.SwarmNetwork
	for _, key := range slices.Sorted(maps.Keys(c.p.Networks)) {
		n := c.p.Networks[key]
		object := "network " + key
		if bool(n.External) {
			name := n.Name
			if name == "" {
				name = key
			}
			out = append(out, service.SwarmNetwork{Name: name, Key: key, External: true})
			continue
		}
		driver := n.Driver
		if driver == "" {
			driver = "overlay"
		}
		if driver == "bridge" || driver == "host" || driver == "none" {
			c.fail(object, "driver", "driver %q is local to one node; a swarm network needs a multi-host driver (overlay)", driver)
		}
		name := n.Name
		if name == "" || name == c.p.Name+"_"+key { // compose's default name is <project>_<key>
			name = c.scope(key)
		}
		sn := service.SwarmNetwork{Name: name, Key: key, Driver: driver, DriverOpts: n.DriverOpts, Internal: n.Internal,
			// A stack's overlay networks are attachable, so that one-off
			// containers (debugging, migrations) can join them. compose-go
			// does not tell an absent attachable from false, so it is
			// always so.
			Attachable: n.Attachable || driver == "overlay",
			Labels:     c.labels(n.Labels)}
		for _, pool := range n.Ipam.Config {
			if pool != nil && pool.Subnet != "" {
				sn.Subnets = append(sn.Subnets, pool.Subnet)
			}
		}
		if n.EnableIPv6 != nil && *n.EnableIPv6 {
			c.warn(object, "enable_ipv6", "not set on a swarm network by berth yet; ignored")
		}
		out = append(out, sn)
	}
	return out
}

// objects returns the stack's secrets or configs (kind), each named by its
// content's digest.
func (c *converter) objects(kind string, in map[string]types.FileObjectConfig) []service.SwarmObject {
	var out []service.SwarmObject
	for _, key := range slices.Sorted(maps.Keys(in)) {
		o := in[key]
		object := kind + " " + key
		if bool(o.External) {
			name := o.Name
			if name == "" {
				name = key
			}
			out = append(out, service.SwarmObject{Name: name, Key: key, External: true})
			continue
		}
		var data []byte
		switch {
		case o.File != "":
			b, err := c.opts.ReadFile(o.File)
			if err != nil {
				c.fail(object, "file", "reading %s: %v", o.File, err)
				continue
			}
			data = b
		case o.Environment != "":
			v, ok := c.p.Environment[o.Environment]
			if !ok {
				c.fail(object, "environment", "the variable %s is not set", o.Environment)
				continue
			}
			data = []byte(v)
		case o.Content != "":
			data = []byte(o.Content)
		default:
			c.fail(object, "file", "no file, environment or content: nothing to create")
			continue
		}
		if o.Driver != "" {
			c.warn(object, "driver", "secret drivers are not supported by berth deploy yet; the content is stored by the swarm")
		}
		if o.TemplateDriver != "" {
			c.warn(object, "template_driver", "not supported by berth deploy yet; the content is used as is")
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		labels := c.labels(o.Labels)
		labels["com.berth.swarm.key"] = key
		labels["com.berth.swarm.digest"] = digest
		out = append(out, service.SwarmObject{Name: c.scope(key) + "_" + digest[:10], Key: key,
			Labels: labels, Digest: digest, Data: data})
	}
	return out
}

// service converts one compose service.
func (c *converter) service(s types.ServiceConfig) service.SwarmService {
	object := "service " + s.Name
	c.unsupported(object, s)
	d := s.Deploy
	if d == nil {
		d = &types.DeployConfig{}
	}
	sv := service.SwarmService{Name: c.scope(s.Name), Service: s.Name, Labels: c.labels(d.Labels)}
	sv.Labels[service.StackImageLabel] = s.Image
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		sv.DependsOn = append(sv.DependsOn, dep)
		if cond := s.DependsOn[dep].Condition; cond == types.ServiceConditionCompletedSuccessfully {
			c.warn(object, "depends_on."+dep+".condition", "%s: a swarm service never completes; berth deploys %s after %s's tasks have run", cond, s.Name, dep)
		}
	}

	ct := &sv.Container
	ct.Image = s.Image
	if s.Image == "" {
		c.fail(object, "image", "a swarm service needs an image in a registry every node can pull from (build: is not deployed)")
	}
	ct.Command, ct.Args = s.Entrypoint, s.Command
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if v := s.Environment[k]; v != nil {
			ct.Env = append(ct.Env, k+"="+*v)
		} else {
			ct.Env = append(ct.Env, k)
		}
	}
	ct.User, ct.Dir, ct.Hostname = s.User, s.WorkingDir, s.Hostname
	ct.Labels = c.labels(s.Labels)
	ct.StopSignal = s.StopSignal
	if s.StopGracePeriod != nil {
		g := time.Duration(*s.StopGracePeriod)
		ct.StopGracePeriod = &g
	}
	ct.CapAdd, ct.CapDrop = s.CapAdd, s.CapDrop
	if len(s.Sysctls) > 0 {
		ct.Sysctls = map[string]string(s.Sysctls)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Ulimits)) {
		u := s.Ulimits[name]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		ct.Ulimits = append(ct.Ulimits, service.SwarmUlimit{Name: name, Soft: soft, Hard: hard})
	}
	ct.Init, ct.ReadOnly, ct.TTY, ct.OpenStdin = s.Init, s.ReadOnly, s.Tty, s.StdinOpen
	ct.Hosts = hosts(s.ExtraHosts)
	ct.DNS, ct.DNSSearch = s.DNS, s.DNSSearch
	ct.Healthcheck = healthcheck(s.HealthCheck)
	ct.Mounts = c.mounts(object, s)
	for _, ref := range s.Secrets {
		ct.Secrets = append(ct.Secrets, c.fileRef(object, "secrets", c.secretNames, types.FileReferenceConfig(ref), "/run/secrets/"))
	}
	for _, ref := range s.Configs {
		ct.Configs = append(ct.Configs, c.fileRef(object, "configs", c.configNames, types.FileReferenceConfig(ref), "/"))
	}
	if s.Logging != nil && s.Logging.Driver != "" {
		sv.LogDriver = &service.SwarmDriver{Name: s.Logging.Driver, Options: s.Logging.Options}
	}

	c.deploy(object, s, d, &sv)
	sv.Ports = c.ports(object, s.Ports)
	sv.Networks = c.attachments(object, s)
	return sv
}

// deploy fills the deploy: part: mode, replicas, resources, policies,
// placement, endpoint mode.
func (c *converter) deploy(object string, s types.ServiceConfig, d *types.DeployConfig, sv *service.SwarmService) {
	sv.Mode = d.Mode
	if sv.Mode == "" {
		sv.Mode = "replicated"
	}
	switch sv.Mode {
	case "replicated", "replicated-job":
		n := uint64(1)
		switch {
		case d.Replicas != nil:
			n = uint64(max(*d.Replicas, 0))
		case s.Scale != nil:
			n = uint64(max(*s.Scale, 0))
		}
		sv.Replicas = &n
	case "global", "global-job":
		if d.Replicas != nil {
			c.fail(object, "deploy.replicas", "replicas cannot be set with mode %s", sv.Mode)
		}
	default:
		c.fail(object, "deploy.mode", "unknown mode %q: one of replicated, global, replicated-job, global-job", sv.Mode)
	}

	res := &service.SwarmResources{}
	if l := d.Resources.Limits; l != nil {
		res.Limits = service.SwarmResource{NanoCPUs: int64(float64(l.NanoCPUs) * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
		if len(l.Devices) > 0 || len(l.GenericResources) > 0 {
			c.fail(object, "deploy.resources.limits", "devices and generic_resources can only be reserved")
		}
	}
	if r := d.Resources.Reservations; r != nil {
		res.Reservations = service.SwarmResource{NanoCPUs: int64(float64(r.NanoCPUs) * 1e9), MemoryBytes: int64(r.MemoryBytes)}
		if r.Pids != 0 {
			c.warn(object, "deploy.resources.reservations.pids", "a swarm cannot reserve pids; ignored")
		}
		if len(r.Devices) > 0 {
			c.fail(object, "deploy.resources.reservations.devices", "device requests are not supported by a swarm service")
		}
		if len(r.GenericResources) > 0 {
			c.warn(object, "deploy.resources.reservations.generic_resources", "not passed on by berth deploy yet; ignored")
		}
	}
	if *res != (service.SwarmResources{}) {
		sv.Resources = res
	}
	if s.MemLimit != 0 || s.CPUS != 0 || s.PidsLimit != 0 {
		c.warn(object, "mem_limit/cpus/pids_limit", "a swarm takes limits from deploy.resources.limits only; ignored")
	}

	switch {
	case d.RestartPolicy != nil:
		rp := d.RestartPolicy
		sv.RestartPolicy = &service.SwarmRestartPolicy{Condition: rp.Condition, Delay: durationPtr(rp.Delay), MaxAttempts: rp.MaxAttempts, Window: durationPtr(rp.Window)}
		switch rp.Condition {
		case "", "none", "on-failure", "any":
		default:
			c.fail(object, "deploy.restart_policy.condition", "unknown condition %q: one of none, on-failure, any", rp.Condition)
		}
		if s.Restart != "" {
			c.warn(object, "restart", "deploy.restart_policy is set and wins; restart: %s ignored", s.Restart)
		}
	case s.Restart != "":
		// as docker stack: the legacy restart: key when no restart_policy
		name, count, _ := strings.Cut(s.Restart, ":")
		var attempts *uint64
		if n, err := strconv.ParseUint(count, 10, 64); err == nil && n > 0 {
			attempts = &n
		}
		switch name {
		case "no":
			sv.RestartPolicy = &service.SwarmRestartPolicy{Condition: "none"}
		case "always", "unless-stopped":
			sv.RestartPolicy = &service.SwarmRestartPolicy{Condition: "any", MaxAttempts: attempts}
		case "on-failure":
			sv.RestartPolicy = &service.SwarmRestartPolicy{Condition: "on-failure", MaxAttempts: attempts}
		default:
			c.fail(object, "restart", "unknown policy %q", s.Restart)
		}
	}
	sv.UpdateConfig = c.updateConfig(object, "deploy.update_config", d.UpdateConfig)
	sv.RollbackConfig = c.updateConfig(object, "deploy.rollback_config", d.RollbackConfig)

	pl := d.Placement
	if len(pl.Constraints) > 0 || len(pl.Preferences) > 0 || pl.MaxReplicas > 0 {
		sp := &service.SwarmPlacement{Constraints: pl.Constraints, MaxReplicas: pl.MaxReplicas}
		for _, pref := range pl.Preferences {
			sp.Spread = append(sp.Spread, pref.Spread)
		}
		sv.Placement = sp
	}
	switch d.EndpointMode {
	case "", "vip", "dnsrr":
		sv.EndpointMode = d.EndpointMode
	default:
		c.fail(object, "deploy.endpoint_mode", "unknown endpoint mode %q: vip or dnsrr", d.EndpointMode)
	}
}

func (c *converter) updateConfig(object, key string, u *types.UpdateConfig) *service.SwarmUpdateConfig {
	if u == nil {
		return nil
	}
	out := &service.SwarmUpdateConfig{Parallelism: 1, Delay: time.Duration(u.Delay), FailureAction: u.FailureAction,
		Monitor: time.Duration(u.Monitor), MaxFailureRatio: u.MaxFailureRatio, Order: u.Order}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	switch u.FailureAction {
	case "", "pause", "continue", "rollback":
	default:
		c.fail(object, key+".failure_action", "unknown action %q: pause, continue or rollback", u.FailureAction)
	}
	switch u.Order {
	case "", "stop-first", "start-first":
	default:
		c.fail(object, key+".order", "unknown order %q: stop-first or start-first", u.Order)
	}
	return out
}

// ports returns the published ports, sorted as the swarm API sorts them;
// a range or a host IP cannot be published by a swarm.
func (c *converter) ports(object string, in []types.ServicePortConfig) []service.SwarmPort {
	var out []service.SwarmPort
	for _, p := range in {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		mode := p.Mode
		if mode == "" {
			mode = "ingress"
		}
		sp := service.SwarmPort{Protocol: proto, Target: p.Target, Mode: mode}
		if p.Published != "" {
			n, err := strconv.ParseUint(p.Published, 10, 16)
			if err != nil {
				c.fail(object, "ports", "published %q: a swarm publishes one port per entry, not a range", p.Published)
				continue
			}
			sp.Published = uint32(n)
		}
		if p.HostIP != "" {
			c.warn(object, "ports.host_ip", "a swarm publishes on every address of the node; host_ip %s ignored", p.HostIP)
		}
		if mode != "ingress" && mode != "host" {
			c.fail(object, "ports.mode", "unknown mode %q: ingress or host", mode)
		}
		out = append(out, sp)
	}
	slices.SortStableFunc(out, func(a, b service.SwarmPort) int {
		if a.Target != b.Target {
			return int(a.Target) - int(b.Target)
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	return out
}

// attachments returns the networks a service joins, by swarm name, with
// the service's aliases.
func (c *converter) attachments(object string, s types.ServiceConfig) []service.SwarmAttachment {
	var out []service.SwarmAttachment
	for _, key := range slices.Sorted(maps.Keys(s.Networks)) {
		name, ok := c.networkNames[key]
		if !ok {
			c.fail(object, "networks."+key, "no top-level network %s", key)
			continue
		}
		a := service.SwarmAttachment{Network: name, Aliases: []string{s.Name}}
		if n := s.Networks[key]; n != nil {
			a.Aliases = append(a.Aliases, n.Aliases...)
			if n.Ipv4Address != "" || n.Ipv6Address != "" {
				c.warn(object, "networks."+key+".ipv4_address", "a swarm assigns task addresses itself; ignored")
			}
		}
		out = append(out, a)
	}
	return out
}

// mounts returns the volumes and tmpfs of a service.
func (c *converter) mounts(object string, s types.ServiceConfig) []service.SwarmMount {
	var out []service.SwarmMount
	for _, v := range s.Volumes {
		m := service.SwarmMount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source != "" {
				vol, ok := c.p.Volumes[v.Source]
				if !ok {
					c.fail(object, "volumes", "no top-level volume %s", v.Source)
					continue
				}
				if bool(vol.External) {
					m.Source = vol.Name
					if m.Source == "" {
						m.Source = v.Source
					}
				} else {
					// node-local: each node running a task makes its own
					m.Source = c.scope(v.Source)
					m.Driver, m.DriverOpts = vol.Driver, vol.DriverOpts
					m.Labels = c.labels(vol.Labels)
				}
			}
			if v.Volume != nil {
				m.NoCopy = v.Volume.NoCopy
				if v.Volume.Subpath != "" {
					c.warn(object, "volumes.volume.subpath", "not passed on by berth deploy yet; ignored")
				}
			}
		case types.VolumeTypeBind:
			c.warn(object, "volumes", "bind mount %s: the path must exist on every node that may run a task", v.Source)
		case types.VolumeTypeTmpfs:
			m.Source = ""
			if v.Tmpfs != nil {
				m.TmpfsSize, m.TmpfsMode = int64(v.Tmpfs.Size), v.Tmpfs.Mode
			}
		default:
			c.fail(object, "volumes", "a swarm service cannot mount a %s", v.Type)
			continue
		}
		out = append(out, m)
	}
	for _, t := range s.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		m := service.SwarmMount{Type: types.VolumeTypeTmpfs, Target: target}
		for _, o := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "", "rw":
			case "size":
				n, err := parseBytes(v)
				if err != nil {
					c.fail(object, "tmpfs", "%s: size %q: %v", target, v, err)
				}
				m.TmpfsSize = n
			case "mode":
				n, err := strconv.ParseUint(v, 8, 32)
				if err != nil {
					c.fail(object, "tmpfs", "%s: mode %q: not an octal mode", target, v)
				}
				m.TmpfsMode = uint32(n)
			default:
				c.warn(object, "tmpfs", "%s: option %s is not supported by a swarm tmpfs mount; ignored", target, k)
			}
		}
		out = append(out, m)
	}
	return out
}

// parseBytes reads a size as 64m, 1g, 512k or a number of bytes.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch strings.ToLower(s[n-1:]) {
		case "k":
			mult, s = 1<<10, s[:n-1]
		case "m":
			mult, s = 1<<20, s[:n-1]
		case "g":
			mult, s = 1<<30, s[:n-1]
		case "b":
			s = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a size")
	}
	return n * mult, nil
}

// fileRef makes a service's reference to a secret or config.
func (c *converter) fileRef(object, key string, names map[string]string, ref types.FileReferenceConfig, dir string) service.SwarmFileRef {
	name, ok := names[ref.Source]
	_, secret := c.p.Secrets[ref.Source]
	_, config := c.p.Configs[ref.Source]
	if !ok && !(key == "secrets" && secret) && !(key == "configs" && config) {
		// (a top-level object that failed has its own error already)
		c.fail(object, key, "no top-level %s %s", strings.TrimSuffix(key, "s"), ref.Source)
	}
	out := service.SwarmFileRef{Name: name, Target: ref.Target, UID: ref.UID, GID: ref.GID, Mode: 0o444}
	if out.Target == "" {
		out.Target = ref.Source
	}
	if key == "secrets" && !strings.HasPrefix(out.Target, "/") {
		out.Target = dir + out.Target
	} else if key == "configs" && !strings.HasPrefix(out.Target, "/") {
		out.Target = dir + out.Target
	}
	if out.UID == "" {
		out.UID = "0"
	}
	if out.GID == "" {
		out.GID = "0"
	}
	if ref.Mode != nil {
		out.Mode = uint32(*ref.Mode)
	}
	return out
}

// unsupported reports the keys of s a swarm cannot run.
func (c *converter) unsupported(object string, s types.ServiceConfig) {
	fatal := []struct {
		key string
		set bool
		why string
	}{
		{"privileged", s.Privileged, "a swarm service cannot run privileged; use cap_add for the capabilities it needs"},
		{"devices", len(s.Devices) > 0, "a swarm service cannot map host devices"},
		{"network_mode", s.NetworkMode != "", "a swarm service joins networks: use networks:"},
		{"ipc", s.Ipc != "", "a swarm service cannot share an IPC namespace"},
		{"pid", s.Pid != "", "a swarm service cannot share a PID namespace"},
		{"volumes_from", len(s.VolumesFrom) > 0, "tasks run on any node; share a named volume instead"},
		{"userns_mode", s.UserNSMode != "", "not supported by a swarm service"},
		{"gpus", len(s.Gpus) > 0, "a swarm service cannot request GPUs this way; use deploy.resources.reservations.generic_resources"},
		{"provider", s.Provider != nil, "provider services run on the local host only"},
	}
	for _, f := range fatal {
		if f.set {
			c.fail(object, f.key, "%s", f.why)
		}
	}
	ignored := []struct {
		key string
		set bool
		why string
	}{
		{"build", s.Build != nil && !c.opts.Built, "the image " + s.Image + " is deployed as it is in its registry; berth deploy --build builds and pushes it first"},
		{"container_name", s.ContainerName != "", "a swarm names each task's container itself"},
		{"links", len(s.Links) > 0, "services on a shared network reach each other by service name"},
		{"external_links", len(s.ExternalLinks) > 0, "services on a shared network reach each other by service name"},
		{"expose", len(s.Expose) > 0, "services on a shared network reach every port"},
		{"security_opt", len(s.SecurityOpt) > 0, "not supported by a swarm service"},
		{"cgroup_parent", s.CgroupParent != "", "not supported by a swarm service"},
		{"shm_size", s.ShmSize != 0, "not supported by a swarm service"},
		{"mac_address", s.MacAddress != "", "a swarm assigns addresses itself"},
		{"platform", s.Platform != "", "use deploy.placement.constraints (node.platform.arch) instead"},
		{"post_start", len(s.PostStart) > 0, "lifecycle hooks are not run on a swarm"},
		{"pre_stop", len(s.PreStop) > 0, "lifecycle hooks are not run on a swarm"},
		{"pre_start", len(s.PreStart) > 0, "lifecycle hooks are not run on a swarm"},
		{"develop", s.Develop != nil, "watch is for one host"},
	}
	for _, i := range ignored {
		if i.set {
			c.warn(object, i.key, "ignored: %s", i.why)
		}
	}
}

// hosts returns extra_hosts in the swarm API's "IP host" form, sorted.
func hosts(h types.HostsList) []string {
	var out []string
	for _, host := range slices.Sorted(maps.Keys(h)) {
		for _, ip := range h[host] {
			out = append(out, ip+" "+host)
		}
	}
	return out
}

// healthcheck returns the engine's form of a compose healthcheck.
func healthcheck(h *types.HealthCheckConfig) *service.SwarmHealthcheck {
	if h == nil {
		return nil
	}
	if h.Disable {
		return &service.SwarmHealthcheck{Test: []string{"NONE"}}
	}
	out := &service.SwarmHealthcheck{Test: h.Test}
	if h.Interval != nil {
		out.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		out.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		out.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

func durationPtr(d *types.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}
