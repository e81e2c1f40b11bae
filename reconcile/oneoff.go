package reconcile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
)

// OneOffOptions are what run's flags change in the one-off container of a
// service.
type OneOffOptions struct {
	// Name replaces the generated name (--name).
	Name string
	// Slug makes the generated name unique: <project>-<svc>-run-<slug>.
	Slug string
	// Command replaces the service's (when not empty).
	Command []string
	// EntrypointSet replaces the entrypoint with Entrypoint's words (none
	// when empty; the command is then emptied too unless Command is set).
	EntrypointSet bool
	Entrypoint    string
	// Env, Labels (KEY=VALUE) are added; User, WorkingDir replace.
	Env, Labels      []string
	User, WorkingDir string
	CapAdd, CapDrop  []string
	// ServicePorts keeps the service's published ports; Publish adds
	// (docker's -p syntax).
	ServicePorts bool
	Publish      []string
	// Volumes are -v mounts; HostDir resolves their relative host paths.
	Volumes []string
	HostDir string
	// UseAliases keeps the service's network aliases (else the container
	// answers to its name only).
	UseAliases bool
	// Tty, OpenStdin and Attach set the container's streams.
	Tty, OpenStdin, Attach bool
	// ImageID, when known, is recorded in com.docker.compose.image.
	ImageID string
}

// OneOffSpec is the spec of a one-off container of svc, as docker compose's
// run makes it: the service's configuration, one-off labels, no restart
// policy, links to the live containers, ports only when asked, and what
// the options change. It returns the files to inject at start.
func OneOffSpec(ctx context.Context, b service.Backend, p *project.Project, svc *project.Service, o OneOffOptions) (service.ContainerSpec, []File, error) {
	spec, files, err := ContainerSpec(p, svc, 1)
	if err != nil {
		return spec, nil, err
	}
	if spec.Links, err = LiveLinks(ctx, b, p, svc, -1); err != nil {
		return spec, nil, err
	}
	sep := p.Separator()
	spec.Name = p.Name + sep + svc.Name + sep + "run" + sep + o.Slug
	if o.Name != "" {
		spec.Name = o.Name
	}
	delete(spec.Labels, service.LabelContainerNumber)
	spec.Labels[service.LabelOneoff] = service.OneoffTrue
	spec.Labels[service.LabelSlug] = o.Slug
	if o.ImageID != "" {
		spec.Labels[service.LabelImage] = o.ImageID
	}
	for _, l := range o.Labels {
		k, v, _ := strings.Cut(l, "=")
		spec.Labels[k] = v
	}
	if len(o.Command) > 0 {
		spec.Command = o.Command
	}
	if o.EntrypointSet {
		spec.Entrypoint = []string{}
		if o.Entrypoint != "" {
			spec.Entrypoint = strings.Fields(o.Entrypoint)
		}
		if len(o.Command) == 0 {
			spec.Command = []string{}
		}
	}
	spec.Env = append(spec.Env, o.Env...)
	if o.User != "" {
		spec.User = o.User
	}
	if o.WorkingDir != "" {
		spec.WorkingDir = o.WorkingDir
	}
	spec.CapAdd = append(spec.CapAdd, o.CapAdd...)
	spec.CapDrop = append(spec.CapDrop, o.CapDrop...)
	spec.Restart = service.RestartPolicy{Name: "no"}
	if !o.ServicePorts {
		spec.Ports = nil
	}
	for _, pub := range o.Publish {
		ports, err := types.ParsePortConfig(pub)
		if err != nil {
			return spec, nil, fmt.Errorf("invalid -p %q: %w", pub, err)
		}
		for _, port := range ports {
			spec.Ports = append(spec.Ports, service.PortBinding{HostIP: port.HostIP, HostPort: port.Published, ContainerPort: uint16(port.Target), Protocol: port.Protocol})
		}
	}
	for _, v := range o.Volumes {
		vol, err := format.ParseVolume(v)
		if err != nil {
			return spec, nil, fmt.Errorf("invalid -v %q: %w", v, err)
		}
		m := service.Mount{Type: service.MountVolume, Source: vol.Source, Target: vol.Target, ReadOnly: vol.ReadOnly}
		if vol.Type == types.VolumeTypeBind {
			src := vol.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(o.HostDir, src)
			}
			m = service.Mount{Type: service.MountBind, Source: src, Target: vol.Target, ReadOnly: vol.ReadOnly, CreateHostPath: true}
		} else if pv, ok := p.Model.Volumes[vol.Source]; ok {
			m.Source = pv.Name
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	if !o.UseAliases {
		for i := range spec.Networks {
			spec.Networks[i].Aliases = []string{spec.Name}
		}
	}
	spec.Tty = o.Tty
	spec.OpenStdin = o.OpenStdin
	spec.AttachStdin = o.OpenStdin
	spec.AttachStdout, spec.AttachStderr = o.Attach, o.Attach
	return spec, files, nil
}

// OneOff plans run's one-off container: its creation and, when start (run
// -d), its start with the files to inject. An attached run starts it
// itself once attached (StartOneOff), and removes it with RemoveOneOff.
func OneOff(spec service.ContainerSpec, files []File, start bool) *Plan {
	plan := &Plan{}
	svc := spec.Labels[service.LabelService]
	create := plan.add(&Step{Op: OpCreateContainer, Object: spec.Name, Target: spec.Name, Service: svc, Cause: "one-off run of " + svc, Container: &spec})
	if start {
		plan.add(&Step{Op: OpStartContainer, Object: spec.Name, Target: spec.Name, Service: svc, Files: files}, create)
	}
	return plan
}

// StartOneOff plans the start of a created one-off container (files
// injected first).
func StartOneOff(name, svc string, files []File) *Plan {
	plan := &Plan{}
	plan.add(&Step{Op: OpStartContainer, Object: name, Target: name, Service: svc, Files: files})
	return plan
}

// RemoveOneOff plans the removal of a one-off container and its anonymous
// volumes (run --rm).
func RemoveOneOff(name, svc string) *Plan {
	plan := &Plan{}
	plan.add(&Step{Op: OpRemoveContainer, Object: name, Target: name, Service: svc, RemoveVolumes: true})
	return plan
}
