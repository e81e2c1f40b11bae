package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// Options steer Diff the way up's flags steer docker compose.
type Options struct {
	// Services are the services named on the command line; empty means all.
	Services []string
	// NoDeps leaves the named services' dependencies alone.
	NoDeps bool
	// ForceRecreate recreates the named services' containers even if
	// unchanged; AlwaysRecreateDeps does so for their dependencies.
	ForceRecreate, AlwaysRecreateDeps bool
	// NoRecreate keeps existing containers even if they changed.
	NoRecreate bool
	// RenewAnonVolumes gives recreated containers new anonymous volumes
	// (docker compose -V); by default they are carried over.
	RenewAnonVolumes bool
	// RemoveOrphans removes containers of services no longer in the files.
	RemoveOrphans bool
	// IgnoreOrphans keeps quiet about them.
	IgnoreOrphans bool
	// NoStart only creates.
	NoStart bool
	// StartReplacements, with NoStart, still starts the containers the
	// plan puts in place of running ones (a recreate of a running
	// container; a replacement an interrupted recreate left under a
	// temporary name) and the replicas it creates because they are
	// missing: Converge's later passes, which must not leave created what
	// was meant to run, nor start again what exited on its own.
	StartReplacements bool
	// RecreateVolumes allows recreating a volume whose configuration
	// changed (its data is lost): up -y.
	RecreateVolumes bool
	// Scale overrides the replica count of services.
	Scale map[string]int
	// ImageIDs are the IDs of the images services run, as resolved for this
	// run: recorded in LabelImage, and a change recreates the containers.
	ImageIDs map[string]string
	// Exclude leaves these services out entirely (run's target service,
	// while its dependencies are brought up).
	Exclude []string
	// StartOnly starts existing containers and does nothing else: no
	// creation, recreation, scaling or removal (the start command).
	StartOnly bool
}

// Diff computes the plan that takes obs to the desired state p. It does no
// I/O. It fails, changing nothing, when convergence needs a decision the
// options do not give (a volume whose configuration changed) or when an
// external resource is missing.
func Diff(p *project.Project, obs *Observed, opts Options) (*Plan, error) {
	d := &differ{
		p: p, obs: obs, opts: opts, plan: &Plan{},
		netReady:  map[string]*Step{},
		netClean:  map[string][]*Step{},
		volReady:  map[string]*Step{},
		ready:     map[string]*Step{},
		started:   map[string][]*Step{},
		waits:     map[string]*Step{},
		recreated: map[string]bool{},
		stopped:   map[string]*Step{},
		targeted:  map[string]bool{},
		gone:      map[string]string{},
	}
	for _, s := range opts.Services {
		d.targeted[s] = true
	}
	d.excluded = map[string]bool{}
	for _, s := range opts.Exclude {
		d.excluded[s] = true
	}
	if opts.StartOnly {
		d.opts.NoRecreate, d.opts.NoStart, d.opts.RemoveOrphans = true, false, false
		for _, name := range Order(p) {
			d.existing(p.Service(name))
		}
		for _, name := range Order(p) {
			d.start(p.Service(name))
		}
		return d.plan, nil
	}
	if err := d.preStartSupported(); err != nil {
		return nil, err
	}
	if err := d.parentsExist(); err != nil {
		return nil, err
	}
	if err := d.networks(); err != nil {
		return nil, err
	}
	if err := d.volumes(); err != nil {
		return nil, err
	}
	order := Order(p)
	for _, name := range order {
		if err := d.service(p.Service(name)); err != nil {
			return nil, err
		}
	}
	if !opts.NoStart || opts.StartReplacements {
		for _, name := range order {
			d.start(p.Service(name))
		}
	}
	d.orphans()
	return d.plan, nil
}

type differ struct {
	p    *project.Project
	obs  *Observed
	opts Options
	plan *Plan

	netReady  map[string]*Step            // network name → step after which it exists
	netClean  map[string][]*Step          // network name → removals of its duplicates
	volReady  map[string]*Step            // volume name → step after which it exists
	ready     map[string]*Step            // container name → step after which it exists with that name
	started   map[string][]*Step          // service → its start steps
	waits     map[string]*Step            // container+condition → wait step
	recreated map[string]bool             // services with a recreated or new container
	stopped   map[string]*Step            // container name → step that stopped it
	targeted  map[string]bool             // services named on the command line
	gone      map[string]string           // container name → why the plan already removes it
	excluded  map[string]bool             // services left out
	replicas  map[string][]replicaOutcome // service → its replicas after the plan
}

// replicaOutcome is one replica of a service as the plan leaves it.
type replicaOutcome struct {
	name    string
	ready   *Step // the step after which it exists under name (nil: already)
	running bool  // running when the create phase is done
	// replaces is set when the plan creates it, in place of a running
	// container or of none, or renames it into place from a temporary name
	// (see Options.StartReplacements).
	replaces bool
	files    []File
	// cleaned are, for a container kept as it is, the removals of
	// duplicates of its networks, which its start waits for: the engine
	// resolves the networks by name then
	cleaned []*Step
}

// toStart reports whether the start phase starts r.
func (d *differ) toStart(r replicaOutcome) bool {
	return !r.running && (!d.opts.NoStart || r.replaces)
}

// inScope reports whether the plan acts on svc.
func (d *differ) inScope(svc string) bool {
	if d.p.Service(svc) == nil || d.excluded[svc] {
		return false
	}
	return !d.opts.NoDeps || len(d.targeted) == 0 || d.targeted[svc]
}

func (d *differ) networks() error {
	for _, n := range d.p.Networks {
		got, exists := d.obs.Networks[n.Name]
		if dups := d.obs.NetworkDuplicates[n.Name]; len(dups) > 0 && !n.External && exists {
			// a kept network that is recreated gets the containers itself
			recreated := got.Labels[service.LabelConfigHash] != "" && got.Labels[service.LabelConfigHash] != n.Hash
			d.duplicateNetworks(n, got, dups, !recreated)
		}
		switch {
		case n.External:
			if !exists {
				return fmt.Errorf("network %s declared as external, but could not be found: create it first (docker network create %s)", n.Name, n.Name)
			}
		case !exists:
			d.netReady[n.Name] = d.plan.add(&Step{Op: OpCreateNetwork, Object: n.Name, Target: n.Name, Cause: "missing", NetworkSpec: networkSpec(n)})
		case got.Labels[service.LabelProject] == "":
			d.plan.Warnings = append(d.plan.Warnings, fmt.Sprintf("a network with name %s exists but was not created by compose: set `external: true` to use an existing network", n.Name))
		case got.Labels[service.LabelConfigHash] != "" && got.Labels[service.LabelConfigHash] != n.Hash:
			d.recreateNetwork(n, got)
		}
	}
	return nil
}

// recreateNetwork replaces a network whose configuration changed: its
// containers are stopped and disconnected, the network removed and created
// again, and the containers that are kept reconnected.
func (d *differ) recreateNetwork(n *project.Network, got service.Network) {
	cause := fmt.Sprintf("network %s configuration changed", n.Name)
	var disconnects []*Step
	var attached []service.Container
	for _, c := range d.obs.Containers {
		if _, ok := c.Networks[n.Name]; !ok {
			continue
		}
		attached = append(attached, c)
		var stop *Step
		if c.State == service.StateRunning || c.State == service.StateRestarting || c.State == service.StatePaused {
			stop = d.stop(c, cause)
		}
		disconnects = append(disconnects, d.plan.add(&Step{Op: OpDisconnectNetwork, Object: c.Name, Target: c.ID, Network: n.Name, NetworkID: got.ID, Service: c.Labels[service.LabelService], Cause: cause}, stop))
	}
	rm := d.plan.add(&Step{Op: OpRemoveNetwork, Object: n.Name, Target: got.ID, Cause: cause}, disconnects...)
	create := d.plan.add(&Step{Op: OpCreateNetwork, Object: n.Name, Target: n.Name, Cause: cause, NetworkSpec: networkSpec(n)}, append([]*Step{rm}, d.netClean[n.Name]...)...)
	d.netReady[n.Name] = create
	for _, c := range attached {
		svc := d.p.Service(c.Labels[service.LabelService])
		if svc == nil || isOneoff(c) {
			continue
		}
		// Reconnected after the new network exists; a container that is
		// recreated below gets its replacement attached at creation instead.
		deps := []*Step{create}
		if prev, ok := d.ready[c.Name]; ok {
			deps = append(deps, prev)
		}
		conn := d.plan.add(&Step{Op: OpConnectNetwork, Object: c.Name, Target: c.ID, Network: n.Name, Endpoint: endpointFor(c, svc, n), Service: svc.Name, Cause: cause}, deps...)
		d.ready[c.Name] = conn
	}
}

// endpointFor is the endpoint container c of svc has on network n: the
// container's and service's names and the aliases and addresses the
// service declares there.
func endpointFor(c service.Container, svc *project.Service, n *project.Network) service.Endpoint {
	ep := service.Endpoint{Network: n.Name, Aliases: []string{c.Name, svc.Name}}
	if cfg := svc.Config.Networks[n.Key]; cfg != nil {
		ep.Aliases = append(ep.Aliases, cfg.Aliases...)
		ep.IPv4Address, ep.IPv6Address = cfg.Ipv4Address, cfg.Ipv6Address
	}
	return ep
}

// duplicateNetworks removes the other networks of the project named as n
// (creates that raced on an engine before API 1.44, or an up killed while it
// made them), keeping keep: the project's containers attached to one are
// disconnected from it first and, with reconnect, connected to keep after. A duplicate that
// a container of another project uses is left, with a warning. Containers
// are created only once the duplicates are gone, so that the name is no
// longer ambiguous to the engine.
func (d *differ) duplicateNetworks(n *project.Network, keep service.Network, dups []service.Network, reconnect bool) {
	byID := map[string]service.Container{}
	for _, c := range d.obs.Containers {
		byID[c.ID] = c
	}
	why := "the oldest"
	if len(keep.Containers) > 0 {
		why = fmt.Sprintf("%d container(s) attached", len(keep.Containers))
	}
	for _, dup := range dups {
		cause := fmt.Sprintf("duplicate %s, same name and project (keeping %s: %s)", shortID(dup.ID), shortID(keep.ID), why)
		var attached []service.Container
		var foreign []string
		seen := map[string]bool{}
		for _, id := range dup.Containers {
			c, ok := byID[id]
			if !ok {
				foreign = append(foreign, shortID(id))
				continue
			}
			seen[id] = true
			attached = append(attached, c)
		}
		for _, c := range d.obs.Containers {
			// stopped containers keep the ID of the network they were on
			if c.Networks[n.Name] == dup.ID && !seen[c.ID] {
				attached = append(attached, c)
			}
		}
		if len(foreign) > 0 {
			d.plan.Warnings = append(d.plan.Warnings, fmt.Sprintf("network %s has a duplicate (%s) that containers of another project use (%s): left in place; remove it by hand (docker network rm %s)", n.Name, shortID(dup.ID), strings.Join(foreign, ", "), dup.ID))
			continue
		}
		sort.Slice(attached, func(i, j int) bool { return attached[i].Name < attached[j].Name })
		var disconnects []*Step
		for _, c := range attached {
			disconnects = append(disconnects, d.plan.add(&Step{Op: OpDisconnectNetwork, Object: c.Name, Target: c.ID, Network: n.Name, NetworkID: dup.ID, Service: c.Labels[service.LabelService], Cause: cause}))
		}
		rm := d.plan.add(&Step{Op: OpRemoveNetwork, Object: n.Name, Target: dup.ID, Cause: cause}, disconnects...)
		d.netClean[n.Name] = append(d.netClean[n.Name], rm)
		for i, c := range attached {
			svc := d.p.Service(c.Labels[service.LabelService])
			if !reconnect || svc == nil || isOneoff(c) || slices.Contains(keep.Containers, c.ID) {
				continue
			}
			deps := []*Step{disconnects[i], rm}
			if prev, ok := d.ready[c.Name]; ok {
				deps = append(deps, prev)
			}
			d.ready[c.Name] = d.plan.add(&Step{Op: OpConnectNetwork, Object: c.Name, Target: c.ID, Network: n.Name, NetworkID: keep.ID, Endpoint: endpointFor(c, svc, n), Service: svc.Name, Cause: cause}, deps...)
		}
	}
}

func (d *differ) volumes() error {
	for _, v := range d.p.Volumes {
		got, exists := d.obs.Volumes[v.Name]
		switch {
		case v.External:
			if !exists {
				return fmt.Errorf("volume %s declared as external, but could not be found: create it first (docker volume create %s)", v.Name, v.Name)
			}
		case !exists:
			d.volReady[v.Name] = d.plan.add(&Step{Op: OpCreateVolume, Object: v.Name, Target: v.Name, Cause: "missing", VolumeSpec: volumeSpec(v)})
		case got.Labels[service.LabelProject] == "":
			d.plan.Warnings = append(d.plan.Warnings, fmt.Sprintf("volume %q already exists but was not created by compose: set `external: true` to use an existing volume", v.Name))
		case got.Labels[service.LabelConfigHash] != "" && got.Labels[service.LabelConfigHash] != v.Hash:
			what := "its configuration"
			if drv := v.Config.Driver; drv != "" && got.Driver != "" && drv != got.Driver {
				what = fmt.Sprintf("its driver (%s, declared %s)", got.Driver, drv)
			}
			if !d.opts.RecreateVolumes {
				return fmt.Errorf("volume %q exists but %s differs from the compose file: run `up -y` to recreate it (its data will be lost), or change the file back", v.Name, what)
			}
			d.recreateVolume(v)
		}
	}
	return nil
}

// recreateVolume removes the containers using a changed volume (they are
// created again by the service pass), then the volume, and creates it anew.
func (d *differ) recreateVolume(v *project.Volume) {
	cause := fmt.Sprintf("volume %s configuration changed (-y)", v.Name)
	var removed []*Step
	for _, c := range d.obs.Containers {
		for _, m := range c.Mounts {
			if m.Type == service.MountVolume && m.Name == v.Name {
				removed = append(removed, d.remove(c, cause, false))
				d.gone[c.Name] = fmt.Sprintf("volume %s recreated", v.Name)
				break
			}
		}
	}
	for _, r := range removed {
		d.ready[r.Object] = r
	}
	rm := d.plan.add(&Step{Op: OpRemoveVolume, Object: v.Name, Target: v.Name, Cause: cause}, removed...)
	d.volReady[v.Name] = d.plan.add(&Step{Op: OpCreateVolume, Object: v.Name, Target: v.Name, Cause: cause, VolumeSpec: volumeSpec(v)}, rm)
}

// stop adds (once) a stop step for c.
func (d *differ) stop(c service.Container, cause string, deps ...*Step) *Step {
	if s, ok := d.stopped[c.Name]; ok {
		return s
	}
	s := d.plan.add(&Step{Op: OpStopContainer, Object: c.Name, Target: c.ID, Service: c.Labels[service.LabelService], Cause: cause}, deps...)
	if svc := d.p.Service(s.Service); svc != nil && c.State == service.StateRunning {
		s.Hooks = Hooks(svc.Config.PreStop)
	}
	d.stopped[c.Name] = s
	return s
}

// remove adds stop (when running) and remove steps for c.
func (d *differ) remove(c service.Container, cause string, anonVolumes bool, deps ...*Step) *Step {
	var stop *Step
	if c.State != service.StateExited && c.State != service.StateCreated && c.State != service.StateDead {
		stop = d.stop(c, cause, deps...)
	} else if s, ok := d.stopped[c.Name]; ok {
		stop = s
	}
	all := append([]*Step{stop}, deps...)
	if s, ok := d.ready[c.Name]; ok {
		all = append(all, s)
	}
	return d.plan.add(&Step{Op: OpRemoveContainer, Object: c.Name, Target: c.ID, Service: c.Labels[service.LabelService], Cause: cause, RemoveVolumes: anonVolumes}, all...)
}

// service plans the containers of one service: scale down, recreate what
// diverged, create what is missing.
func (d *differ) service(svc *project.Service) error {
	if !d.inScope(svc.Name) {
		return nil
	}
	if d.replicas == nil {
		d.replicas = map[string][]replicaOutcome{}
	}
	expected := svc.Scale
	if n, ok := d.opts.Scale[svc.Name]; ok {
		expected = n
	}
	if svc.Config.ContainerName != "" && expected > 1 {
		return fmt.Errorf("service %q: container_name %q can only be used with one replica, not %d", svc.Name, svc.Config.ContainerName, expected)
	}

	byNumber := map[int][]service.Container{}
	for _, c := range d.obs.ServiceContainers(svc.Name) {
		byNumber[number(c)] = append(byNumber[number(c)], c)
	}
	numbers := make([]int, 0, len(byNumber))
	for n := range byNumber {
		numbers = append(numbers, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(numbers)))

	// scale down (highest numbers first) and clean up duplicates left by an
	// interrupted recreate
	kept := map[int]service.Container{}
	renamed := map[int]bool{} // created containers renamed into place
	for _, n := range numbers {
		var cs []service.Container
		for _, c := range byNumber[n] {
			if _, removed := d.gone[c.Name]; !removed {
				cs = append(cs, c)
			}
		}
		if len(cs) == 0 {
			continue
		}
		if n < 1 || n > expected {
			for _, c := range cs {
				d.remove(c, fmt.Sprintf("scale %s down to %d", svc.Name, expected), false)
			}
			continue
		}
		want := svc.Replica(d.p.Name, n).Name
		keep := cs[0]
		for _, c := range cs[1:] {
			if c.Name == want || (keep.Name != want && c.Created.After(keep.Created)) {
				keep = c
			}
		}
		for _, c := range cs {
			if c.ID != keep.ID {
				// a new container may take the name once this one is gone
				d.ready[c.Name] = d.remove(c, fmt.Sprintf("duplicate of replica %d left by an interrupted run", n), false)
			}
		}
		if keep.Name != want {
			renamed[n] = keep.State == service.StateCreated
			d.ready[want] = d.plan.add(&Step{Op: OpRenameContainer, Object: keep.Name, Target: keep.ID, NewName: want, Service: svc.Name, Cause: "named other than its replica (an interrupted recreate, or another tool)"}, d.stopped[keep.Name])
			keep.Name = want
		}
		kept[n] = keep
	}

	for n := 1; n <= expected; n++ {
		spec, files, err := ContainerSpec(d.p, svc, n)
		if err != nil {
			return err
		}
		d.resolveRefs(&spec)
		d.networkIDs(&spec)
		spec.Links = Links(d.p, svc, n, d.linkedContainers)
		if id := d.opts.ImageIDs[svc.Name]; id != "" {
			spec.Labels[service.LabelImage] = id
		}
		c, exists := kept[n]
		out := replicaOutcome{name: spec.Name, files: files}
		switch {
		case !exists:
			cause := fmt.Sprintf("replica %d missing", n)
			if why, ok := d.gone[spec.Name]; ok {
				cause = why
			}
			out.ready = d.create(svc, spec, cause)
			out.replaces = true
			d.recreated[svc.Name] = true
		default:
			if cause := d.mustRecreate(svc, c, spec); cause != "" {
				out.ready = d.recreate(svc, c, spec, cause)
				out.replaces = c.State == service.StateRunning || c.State == service.StateRestarting || c.State == service.StatePaused || renamed[n]
				d.recreated[svc.Name] = true
			} else {
				out.ready = d.ready[c.Name]
				for _, ep := range spec.Networks {
					out.cleaned = append(out.cleaned, d.netClean[ep.Network]...)
				}
				_, wasStopped := d.stopped[c.Name]
				out.running = c.State == service.StateRunning && !wasStopped
				out.replaces = renamed[n] || (wasStopped && c.State == service.StateRunning)
			}
		}
		d.replicas[svc.Name] = append(d.replicas[svc.Name], out)
	}
	return nil
}

// existing records the existing replicas of svc as they are, for StartOnly.
func (d *differ) existing(svc *project.Service) {
	if !d.inScope(svc.Name) {
		return
	}
	if d.replicas == nil {
		d.replicas = map[string][]replicaOutcome{}
	}
	for _, c := range d.obs.ServiceContainers(svc.Name) {
		_, files, _ := ContainerSpec(d.p, svc, max(number(c), 1))
		d.replicas[svc.Name] = append(d.replicas[svc.Name], replicaOutcome{name: c.Name, running: c.State == service.StateRunning, files: files})
	}
}

// mustRecreate says why container c no longer matches spec, or "".
func (d *differ) mustRecreate(svc *project.Service, c service.Container, spec service.ContainerSpec) string {
	targeted := len(d.targeted) == 0 || d.targeted[svc.Name]
	switch {
	case d.opts.NoRecreate:
		return ""
	case d.opts.ForceRecreate && targeted:
		return "--force-recreate"
	case d.opts.AlwaysRecreateDeps && !targeted:
		return "--always-recreate-deps"
	}
	if !svc.UpToDate(c.Labels[service.LabelConfigHash]) {
		changed := project.ChangedKeys(c.Labels[service.LabelConfigDigest], spec.Labels[service.LabelConfigDigest])
		if c.Labels[service.LabelConfigDigest] == "" || len(changed) == 0 {
			return "config hash changed"
		}
		if len(changed) > 4 {
			changed = append(changed[:4], "...")
		}
		return "config hash changed (" + strings.Join(changed, ", ") + ")"
	}
	if old, want := c.Labels[service.LabelImage], spec.Labels[service.LabelImage]; old != "" && want != "" && old != want {
		return fmt.Sprintf("image %s changed (%s → %s)", svc.Image, shortID(old), shortID(want))
	}
	for _, parent := range refParents(svc.Config) {
		if d.recreated[parent] {
			return fmt.Sprintf("service %s it shares namespaces or volumes with was recreated", parent)
		}
	}
	if c.State == service.StateRunning {
		for _, ep := range spec.Networks {
			netID, ok := c.Networks[ep.Network]
			if _, reconnect := d.ready[c.Name]; reconnect {
				continue
			}
			if !ok {
				return fmt.Sprintf("not attached to network %s", ep.Network)
			}
			if live, ok := d.obs.Networks[ep.Network]; ok && live.ID != "" && netID != "" && live.ID != netID {
				return fmt.Sprintf("attached to an old network %s", ep.Network)
			}
		}
	}
	for _, m := range spec.Mounts {
		if m.Type != service.MountVolume || m.Source == "" {
			continue
		}
		if s := d.volReady[m.Source]; s != nil && s.Op == OpCreateVolume && strings.Contains(s.Cause, "changed") {
			return fmt.Sprintf("volume %s recreated", m.Source)
		}
		found := false
		for _, cm := range c.Mounts {
			if cm.Type == service.MountVolume && cm.Name == m.Source {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("volume %s not mounted", m.Source)
		}
	}
	return ""
}

// create adds a create step for a new container.
func (d *differ) create(svc *project.Service, spec service.ContainerSpec, cause string) *Step {
	deps := d.infraDeps(svc, spec)
	if old, ok := d.ready[spec.Name]; ok {
		deps = append(deps, old) // the removal of the container it replaces
	}
	s := d.plan.add(&Step{Op: OpCreateContainer, Object: spec.Name, Target: spec.Name, Service: svc.Name, Cause: cause, Container: &spec}, deps...)
	d.ready[spec.Name] = s
	return s
}

// recreate replaces c: the new container is created under a temporary name,
// then the old one is stopped and removed and the new one renamed, as docker
// compose does, so that a failure leaves a container the next run finds.
// Dependents that declare restart: true are stopped first (and started again
// by the start phase).
func (d *differ) recreate(svc *project.Service, c service.Container, spec service.ContainerSpec, cause string) *Step {
	var dependents []*Step
	for _, other := range d.p.Services {
		dep, ok := other.Config.DependsOn[svc.Name]
		if !ok || !dep.Restart || !d.inScope(other.Name) {
			continue
		}
		for _, oc := range d.obs.ServiceContainers(other.Name) {
			if oc.State == service.StateRunning {
				dependents = append(dependents, d.stop(oc, fmt.Sprintf("it depends on %s (restart: true), which is recreated", svc.Name)))
			}
		}
	}
	final := spec.Name
	tmp := spec
	tmp.Name = shortID(c.ID) + "_" + final
	tmp.Labels = copyLabels(spec.Labels)
	tmp.Labels[service.LabelReplace] = final
	if !d.opts.RenewAnonVolumes {
		tmp.Mounts = inheritAnonymousVolumes(tmp.Mounts, c)
	}
	deps := append(d.infraDeps(svc, spec), dependents...)
	if prev, ok := d.ready[tmp.Name]; ok {
		deps = append(deps, prev) // a leftover of that name being removed
	}
	create := d.plan.add(&Step{Op: OpCreateContainer, Object: tmp.Name, Target: tmp.Name, Service: svc.Name, Cause: "recreate " + final + ": " + cause, Container: &tmp}, deps...)
	rm := d.remove(c, "replaced by "+tmp.Name, false, create)
	rename := d.plan.add(&Step{Op: OpRenameContainer, Object: tmp.Name, Target: tmp.Name, NewName: final, Service: svc.Name, Cause: "replaces the old " + final}, rm)
	d.ready[final] = rename
	return rename
}

// parentsExist checks, before anything is planned, that a service the plan
// leaves out (up --no-deps) but whose container another one shares
// (network_mode, ipc, pid service:X, volumes_from X) has a container, as
// docker compose checks: else the up would fail half-way, at a create.
func (d *differ) parentsExist() error {
	for _, svc := range d.p.Services {
		if !d.inScope(svc.Name) {
			continue
		}
		for _, parent := range refParents(svc.Config) {
			if d.inScope(parent) || len(d.obs.ServiceContainers(parent)) > 0 {
				continue
			}
			return fmt.Errorf("service %s shares the container of service %s (network_mode, ipc, pid or volumes_from), which has none: start it first, or run up without --no-deps", svc.Name, parent)
		}
	}
	return nil
}

// infraDeps are the steps a new container of svc waits for: its networks
// and volumes, and the containers it shares namespaces or volumes with or
// links to.
func (d *differ) infraDeps(svc *project.Service, spec service.ContainerSpec) []*Step {
	var deps []*Step
	for _, ep := range spec.Networks {
		deps = append(deps, d.netReady[ep.Network])
		deps = append(deps, d.netClean[ep.Network]...)
	}
	for _, m := range spec.Mounts {
		if m.Type == service.MountVolume {
			deps = append(deps, d.volReady[m.Source])
		}
	}
	for _, parent := range refParents(svc.Config) {
		if ps := d.p.Service(parent); ps != nil {
			deps = append(deps, d.ready[ps.Replica(d.p.Name, 1).Name])
		}
	}
	// the engine looks the linked containers up as it creates the link
	for _, l := range spec.Links {
		name, _, _ := strings.Cut(l, ":")
		deps = append(deps, d.ready[name])
	}
	return deps
}

// networkIDs gives the endpoints of spec the IDs of their networks where the
// plan keeps them as they are, so that the container joins that network
// whatever other networks share its name; a network the plan creates is
// given its ID when the create step is applied.
func (d *differ) networkIDs(spec *service.ContainerSpec) {
	for i, ep := range spec.Networks {
		if d.netReady[ep.Network] != nil {
			continue
		}
		if live, ok := d.obs.Networks[ep.Network]; ok && live.ID != "" {
			spec.Networks[i].NetworkID = live.ID
		}
	}
}

// resolveRefs turns "service:x" references into container names.
func (d *differ) resolveRefs(spec *service.ContainerSpec) {
	resolve := func(v string) string {
		name, ok := strings.CutPrefix(v, types.ServicePrefix)
		if !ok {
			return v
		}
		if ps := d.p.Service(name); ps != nil {
			return "container:" + ps.Replica(d.p.Name, 1).Name
		}
		return v
	}
	spec.NetworkMode = resolve(spec.NetworkMode)
	spec.Ipc, spec.Pid = resolve(spec.Ipc), resolve(spec.Pid)
	for i, v := range spec.VolumesFrom {
		if ref, ok := strings.CutPrefix(v, types.ServicePrefix); ok {
			name, mode, _ := strings.Cut(ref, ":") // "db:ro"
			if ps := d.p.Service(name); ps != nil {
				spec.VolumesFrom[i] = ps.Replica(d.p.Name, 1).Name
				if mode != "" {
					spec.VolumesFrom[i] += ":" + mode
				}
			}
		}
	}
}

// refParents are the services whose containers svc's containers refer to.
func refParents(s types.ServiceConfig) []string {
	var out []string
	for _, v := range []string{s.NetworkMode, s.Ipc, s.Pid} {
		if name, ok := strings.CutPrefix(v, types.ServicePrefix); ok {
			out = append(out, name)
		}
	}
	for _, v := range s.VolumesFrom {
		if !strings.HasPrefix(v, "container:") {
			name, _, _ := strings.Cut(v, ":")
			out = append(out, name)
		}
	}
	return out
}

// start plans starting the replicas of svc that will not be running, after
// the conditions of its depends_on.
func (d *differ) start(svc *project.Service) {
	if !d.inScope(svc.Name) {
		return
	}
	var needs []*Step
	anyStart := false
	for _, r := range d.replicas[svc.Name] {
		if d.toStart(r) {
			anyStart = true
		}
	}
	if !anyStart {
		return
	}
	for _, dep := range sortedKeys(svc.Config.DependsOn) {
		cond := svc.Config.DependsOn[dep]
		if !d.inScope(dep) {
			continue
		}
		switch cond.Condition {
		case types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
			c := CondHealthy
			if cond.Condition == types.ServiceConditionCompletedSuccessfully {
				c = CondCompleted
			}
			for _, r := range d.replicas[dep] {
				needs = append(needs, d.wait(dep, r, c, !cond.Required, fmt.Sprintf("%s depends on %s (%s)", svc.Name, dep, cond.Condition)))
			}
		default:
			needs = append(needs, d.started[dep]...)
		}
	}
	if hooks := d.preStart(svc, needs); len(hooks) > 0 {
		needs = append(needs, hooks[len(hooks)-1])
	}
	for _, r := range d.replicas[svc.Name] {
		if !d.toStart(r) {
			continue
		}
		deps := append([]*Step{r.ready, d.stopped[r.name]}, needs...)
		deps = append(deps, r.cleaned...)
		d.started[svc.Name] = append(d.started[svc.Name], d.plan.add(&Step{Op: OpStartContainer, Object: r.name, Target: r.name, Service: svc.Name, Files: r.files, Hooks: Hooks(svc.Config.PostStart)}, deps...))
	}
}

// wait adds (once) a wait step for replica r of dep.
func (d *differ) wait(dep string, r replicaOutcome, cond string, optional bool, cause string) *Step {
	key := r.name + "|" + cond
	if s, ok := d.waits[key]; ok {
		return s
	}
	var deps []*Step
	for _, st := range d.started[dep] {
		if st.Object == r.name {
			deps = append(deps, st)
		}
	}
	s := d.plan.add(&Step{Op: OpWait, Object: r.name, Target: r.name, Service: dep, Condition: cond, Optional: optional, Cause: cause}, deps...)
	d.waits[key] = s
	return s
}

// orphans removes or reports the project's orphan containers, as docker
// compose counts them: those of services the files no longer have, and the
// stopped one-offs of run (of any service), which it removes with
// --remove-orphans only and else names in its warning.
func (d *differ) orphans() {
	known := map[string]bool{}
	for _, s := range d.p.Services {
		known[s.Name] = true
	}
	for _, s := range d.p.DisabledServices {
		known[s] = true
	}
	var names []string
	for _, c := range d.obs.Containers {
		orphan := !known[c.Labels[service.LabelService]]
		cause := "orphan: its service is not in the compose files (--remove-orphans)"
		if isOneoff(c) {
			orphan = c.State == service.StateExited || c.State == service.StateDead
			cause = "orphan: a stopped one-off container of run (--remove-orphans)"
		}
		if !orphan {
			continue
		}
		if d.opts.RemoveOrphans {
			d.remove(c, cause, false)
		} else {
			names = append(names, c.Name)
		}
	}
	if len(names) > 0 && !d.opts.IgnoreOrphans {
		d.plan.Warnings = append(d.plan.Warnings, fmt.Sprintf("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", ")))
	}
}

func networkSpec(n *project.Network) *service.NetworkSpec {
	spec := &service.NetworkSpec{
		Name:       n.Name,
		Driver:     n.Config.Driver,
		DriverOpts: n.Config.DriverOpts,
		Labels:     n.Labels,
		Internal:   n.Config.Internal,
		Attachable: n.Config.Attachable,
		IPAMDriver: n.Config.Ipam.Driver,
	}
	if n.Config.EnableIPv6 != nil {
		spec.EnableIPv6 = *n.Config.EnableIPv6
	}
	for _, pool := range n.Config.Ipam.Config {
		if pool != nil {
			spec.IPAM = append(spec.IPAM, service.IPAMPool{Subnet: pool.Subnet, Gateway: pool.Gateway, IPRange: pool.IPRange})
		}
	}
	return spec
}

func volumeSpec(v *project.Volume) *service.VolumeSpec {
	return &service.VolumeSpec{Name: v.Name, Driver: v.Config.Driver, DriverOpts: v.Config.DriverOpts, Labels: v.Labels}
}

// inheritAnonymousVolumes mounts the anonymous volumes of old at the same
// targets in the replacement, as docker compose does unless -V.
func inheritAnonymousVolumes(mounts []service.Mount, old service.Container) []service.Mount {
	out := append([]service.Mount{}, mounts...)
	for i, m := range out {
		if m.Type != service.MountVolume || m.Source != "" {
			continue
		}
		for _, om := range old.Mounts {
			if om.Type == service.MountVolume && om.Destination == m.Target && om.Name != "" {
				out[i].Source = om.Name
			}
		}
	}
	return out
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	return out
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
