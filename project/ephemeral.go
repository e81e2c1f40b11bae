package project

import (
	"fmt"
	"slices"
)

// EphemeralPorts rewrites every port a service publishes on a fixed host
// port (or range) to be published on an ephemeral one chosen by the
// runtime, keeping its host address, target and protocol, so that several
// copies of the project run side by side (up --ephemeral-ports, berth
// test). The services changed get the configuration hash of what they now
// run: a later up without the flag recreates them once, back on their
// fixed ports, and a repeated up with it changes nothing. It returns the
// names of the services changed, sorted.
func (p *Project) EphemeralPorts() ([]string, error) {
	var changed []string
	for i, s := range p.Services {
		cfg := s.Config
		fixed := false
		for _, port := range cfg.Ports {
			if port.Published != "" {
				fixed = true
			}
		}
		if !fixed {
			continue
		}
		cfg.Ports = slices.Clone(cfg.Ports)
		for j := range cfg.Ports {
			cfg.Ports[j].Published = ""
		}
		ns, err := p.newService(s.Name, cfg)
		if err != nil {
			return nil, fmt.Errorf("service %s: ephemeral ports: %w", s.Name, err)
		}
		ns.Scale = s.Scale
		p.Services[i] = ns
		if p.Model != nil {
			if _, ok := p.Model.Services[s.Name]; ok {
				p.Model.Services[s.Name] = cfg
			}
		}
		changed = append(changed, s.Name)
	}
	slices.Sort(changed)
	return changed, nil
}
