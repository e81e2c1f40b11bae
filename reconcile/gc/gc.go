// Package gc is berth's reaper without a privileged sidecar: up --ttl (and
// berth test) label every object they make with an expiry and an owner
// process, and gc removes the projects whose expiry passed or whose owner
// process is gone — containers, networks, volumes and the images built for
// them — through the same down plan as berth down.
package gc

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/images"
	"github.com/berthdev/berth/service"
)

// The labels of a project with a lifetime.
const (
	// LabelExpires is when the project may be removed (RFC 3339, UTC).
	LabelExpires = "io.berth.expires"
	// LabelOwner is the process the project lives for:
	// "host:pid:start", start being the process's start time in clock
	// ticks since boot (/proc/PID/stat), so that a reused PID is not taken
	// for it.
	LabelOwner = "io.berth.owner"
)

// Owner names process pid of this host as LabelOwner does; "" when it
// cannot be read.
func Owner(pid int) string {
	host, err := os.Hostname()
	if err != nil {
		return ""
	}
	start, err := startTime(pid)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", host, pid, start)
}

// OwnerAlive reports whether the owner process still runs. An owner on
// another host, or one that cannot be parsed, counts as alive: only its
// expiry can end the project then.
func OwnerAlive(owner string) bool {
	parts := strings.Split(owner, ":")
	if len(parts) != 3 {
		return true
	}
	host, err := os.Hostname()
	if err != nil || host != parts[0] {
		return true
	}
	pid, err1 := strconv.Atoi(parts[1])
	start, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return true
	}
	got, err := startTime(pid)
	return err == nil && got == start
}

// startTime is field 22 of /proc/PID/stat.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and ')'
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// SetLifetime gives p's containers, networks and volumes the lifetime
// labels: they expire at expires; owner, if not empty, is the process they
// live for. The labels are not part of any config hash: an up that
// recreates nothing does not move an existing container's expiry.
func SetLifetime(p *project.Project, expires time.Time, owner string) {
	labels := map[string]string{LabelExpires: expires.UTC().Format(time.RFC3339)}
	if owner != "" {
		labels[LabelOwner] = owner
	}
	for _, s := range p.Services {
		for k, v := range labels {
			s.Labels[k] = v
		}
	}
	for _, n := range p.Networks {
		for k, v := range labels {
			n.Labels[k] = v
		}
	}
	for _, v := range p.Volumes {
		for k, val := range labels {
			v.Labels[k] = val
		}
	}
}

// Project is a project with a lifetime, as gc found it.
type Project struct {
	// Name is the project name.
	Name string
	// Expires is the latest expiry of its objects.
	Expires time.Time
	// Owners are the owner processes its objects name.
	Owners []string
	// Reason says why it is to be removed ("" when it is not).
	Reason string
}

// Find lists the projects that have lifetime labels, with why each is to
// be removed at now: its expiry passed, or every owner process it names is
// gone.
func Find(ctx context.Context, b service.Backend, now time.Time) ([]Project, error) {
	f := service.Filter{Labels: map[string]string{LabelExpires: ""}, All: true}
	byName := map[string]*Project{}
	note := func(labels map[string]string) {
		name := labels[service.LabelProject]
		if name == "" {
			return
		}
		p := byName[name]
		if p == nil {
			p = &Project{Name: name}
			byName[name] = p
		}
		if t, err := time.Parse(time.RFC3339, labels[LabelExpires]); err == nil && t.After(p.Expires) {
			p.Expires = t
		}
		if o := labels[LabelOwner]; o != "" && !contains(p.Owners, o) {
			p.Owners = append(p.Owners, o)
		}
	}
	cs, err := b.ListContainers(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("gc: list containers: %w", err)
	}
	for _, c := range cs {
		note(c.Labels)
	}
	nets, err := b.ListNetworks(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("gc: list networks: %w", err)
	}
	for _, n := range nets {
		note(n.Labels)
	}
	vols, err := b.ListVolumes(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("gc: list volumes: %w", err)
	}
	for _, v := range vols {
		note(v.Labels)
	}
	var out []Project
	for _, p := range byName {
		switch {
		case !p.Expires.IsZero() && now.After(p.Expires):
			p.Reason = "expired at " + p.Expires.Format(time.RFC3339)
		case len(p.Owners) > 0 && !anyAlive(p.Owners):
			p.Reason = "the process that made it is gone (" + strings.Join(p.Owners, ", ") + ")"
		}
		sort.Strings(p.Owners)
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func anyAlive(owners []string) bool {
	for _, o := range owners {
		if OwnerAlive(o) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Plan is the removal of project name: berth down -v --remove-orphans
// --rmi local, from its labels (no compose file needed).
func Plan(ctx context.Context, b service.Backend, name string) (*reconcile.Plan, error) {
	obs, err := reconcile.Observe(ctx, b, name, nil)
	if err != nil {
		return nil, err
	}
	var rmi []string
	if _, ok := b.(service.ImageRemover); ok {
		if rmi, err = images.DownImages(ctx, b, nil, obs, images.RemoveImagesLocal, nil); err != nil {
			return nil, err
		}
	}
	return reconcile.Down(nil, obs, reconcile.DownOptions{RemoveOrphans: true, Volumes: true, Images: rmi}), nil
}
