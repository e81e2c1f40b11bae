package project

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// recheck loads the files again without compose-go's consistency checks,
// which stop at the first problem, and runs checkConsistency, which lists
// them all. It returns nil when that load fails too or finds nothing, so that
// the caller keeps compose-go's own error.
func recheck(ctx context.Context, files []string, fns []cli.ProjectOptionsFn) error {
	po, err := cli.NewProjectOptions(files, append(fns, cli.WithConsistency(false))...)
	if err != nil {
		return nil
	}
	model, err := po.LoadProject(ctx)
	if err != nil {
		return nil
	}
	return checkConsistency(model)
}

// checkConsistency lists every reference the model makes to something it
// does not define: services with neither image nor build, undefined networks,
// volumes, secrets and configs, depends_on targets that do not exist.
func checkConsistency(p *types.Project) error {
	var errs []error
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		base := "services." + name
		if s.Build == nil && s.Image == "" && s.Provider == nil {
			errs = append(errs, problem(base, "service %q has neither an image nor a build context specified", name))
		}
		if s.NetworkMode != "" && len(s.Networks) > 0 {
			errs = append(errs, problem(base+".network_mode", "service %q declares mutually exclusive network_mode and networks", name))
		}
		for _, n := range sortedKeys(s.Networks) {
			if _, ok := p.Networks[n]; !ok {
				errs = append(errs, problem(base+".networks."+n, "service %q refers to undefined network %q", name, n))
			}
		}
		for i, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				if _, ok := p.Volumes[v.Source]; !ok {
					errs = append(errs, problem(fmt.Sprintf("%s.volumes.%d", base, i), "service %q refers to undefined volume %q", name, v.Source))
				}
			}
		}
		for i, sec := range s.Secrets {
			if _, ok := p.Secrets[sec.Source]; !ok {
				errs = append(errs, problem(fmt.Sprintf("%s.secrets.%d", base, i), "service %q refers to undefined secret %q", name, sec.Source))
			}
		}
		for i, c := range s.Configs {
			if _, ok := p.Configs[c.Source]; !ok {
				errs = append(errs, problem(fmt.Sprintf("%s.configs.%d", base, i), "service %q refers to undefined config %q", name, c.Source))
			}
		}
		for _, dep := range sortedKeys(s.DependsOn) {
			if _, ok := p.Services[dep]; ok {
				continue
			}
			if _, disabled := p.DisabledServices[dep]; disabled {
				if !s.DependsOn[dep].Required {
					continue
				}
				errs = append(errs, problem(base+".depends_on."+dep, "service %q depends on service %q, which is disabled (enable its profile)", name, dep))
				continue
			}
			errs = append(errs, problem(base+".depends_on."+dep, "service %q depends on undefined service %q", name, dep))
		}
		if target, ok := strings.CutPrefix(s.NetworkMode, types.ServicePrefix); ok {
			if _, ok := p.Services[target]; !ok {
				errs = append(errs, problem(base+".network_mode", "service %q uses network_mode of undefined service %q", name, target))
			}
		}
		if s.HealthCheck != nil && len(s.HealthCheck.Test) > 0 {
			switch s.HealthCheck.Test[0] {
			case "CMD", "CMD-SHELL", "NONE":
			default:
				errs = append(errs, problem(base+".healthcheck.test", "service %q: healthcheck.test must start with CMD, CMD-SHELL or NONE", name))
			}
		}
		if s.ContainerName != "" && s.GetScale() > 1 {
			errs = append(errs, problem(base+".container_name", "service %q sets container_name and a scale of %d: container names must be unique", name, s.GetScale()))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
