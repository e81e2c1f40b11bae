package project

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Provider is a service that a provider plugin runs (the compose spec's
// provider: key): no container, but a binary berth calls with compose's
// provider protocol at up, down and stop (reconcile/provider).
type Provider struct {
	// Name is the service key.
	Name string
	// Config is the compose-go model of the service.
	Config types.ServiceConfig
}

// ProviderVars are what a provider's up returned for its dependents:
// Prefixed variables (setenv) are injected as <SERVICE>_<KEY>, Raw ones
// (rawsetenv) as they are.
type ProviderVars struct {
	Prefixed map[string]string
	Raw      map[string]string
}

// Provider returns the active provider service called name, or nil.
func (p *Project) Provider(name string) *Provider {
	for _, s := range p.Providers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// InjectProviderEnv adds what provider name returned to the environment of
// every service that depends on it, as docker compose does (the service name
// upper-cased as the prefix of setenv keys; a rawsetenv key overrides the
// service's own, with a warning returned), and derives those services'
// hashes and labels again: a container is created with the provider's
// variables and hashed with them, so an up whose provider returns the same
// values recreates nothing.
func (p *Project) InjectProviderEnv(name string, vars ProviderVars) (warnings []string, err error) {
	prefix := strings.ToUpper(name) + "_"
	for i, s := range p.Services {
		if _, ok := s.Config.DependsOn[name]; !ok {
			continue
		}
		cfg := s.Config
		env := types.MappingWithEquals{}
		for k, v := range cfg.Environment {
			env[k] = v
		}
		for _, k := range sortedKeys(vars.Prefixed) {
			v := vars.Prefixed[k]
			env[prefix+k] = &v
		}
		for _, k := range sortedKeys(vars.Raw) {
			v := vars.Raw[k]
			if old, ok := env[k]; ok && (old == nil || *old != v) {
				warnings = append(warnings, fmt.Sprintf("provider %q overrides environment variable %q in service %q", name, k, s.Name))
			}
			env[k] = &v
		}
		cfg.Environment = env
		ns, err := p.newService(s.Name, cfg)
		if err != nil {
			return nil, err
		}
		ns.Scale = s.Scale
		p.Services[i] = ns
		if p.Model != nil && p.Model.Services != nil {
			p.Model.Services[s.Name] = cfg
		}
	}
	sort.Strings(warnings)
	return warnings, nil
}
