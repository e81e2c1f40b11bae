package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
)

// ProviderRunner runs a provider service's binary (reconcile/provider's
// Runner): command is "up", "down" or "stop"; info receives its progress
// messages. ran is false when the provider does not take the command (a
// stop it does not declare).
type ProviderRunner interface {
	Run(ctx context.Context, projectName string, svc types.ServiceConfig, command string, info func(string)) (vars project.ProviderVars, ran bool, err error)
}

// ProviderCall is what a run-provider step does, and, once applied, what
// the provider returned.
type ProviderCall struct {
	// Project is the project name passed to the provider.
	Project string
	// Config is the provider service.
	Config types.ServiceConfig
	// Command is "up", "down" or "stop".
	Command string
	// Vars are the variables the provider set (up), filled by Apply.
	Vars project.ProviderVars
}

// Providers plans the run of the provider services among services (all
// when empty) with command: one step each, a provider after the providers
// it depends on for up, before them for down and stop.
func Providers(p *project.Project, services []string, command string) *Plan {
	plan := &Plan{}
	if len(p.Providers) == 0 {
		return plan
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	steps := map[string]*Step{}
	var visit func(name string) *Step
	reverse := command != "up"
	visit = func(name string) *Step {
		if s, ok := steps[name]; ok {
			return s
		}
		pr := p.Provider(name)
		if pr == nil {
			return nil
		}
		steps[name] = nil // a cycle is cut (the loader refuses them)
		var deps []*Step
		if reverse {
			for _, other := range p.Providers {
				if _, ok := other.Config.DependsOn[name]; ok && (len(want) == 0 || want[other.Name]) {
					if d := visit(other.Name); d != nil {
						deps = append(deps, d)
					}
				}
			}
		} else {
			for _, dep := range sortedKeys(pr.Config.DependsOn) {
				if d := visit(dep); d != nil {
					deps = append(deps, d)
				}
			}
		}
		cause := "provider service"
		st := plan.add(&Step{Op: OpRunProvider, Object: name, Target: name, Service: name, Cause: cause,
			Provider: &ProviderCall{Project: p.Name, Config: pr.Config, Command: command}}, deps...)
		steps[name] = st
		return st
	}
	for _, pr := range p.Providers {
		if len(want) == 0 || want[pr.Name] {
			visit(pr.Name)
		}
	}
	return plan
}

// ProviderScope is the provider services an up of services (all when
// empty) runs: those among them and, unless noDeps, those they depend on,
// however far down.
func ProviderScope(p *project.Project, services []string, noDeps bool) []string {
	if len(p.Providers) == 0 {
		return nil
	}
	if len(services) == 0 {
		var all []string
		for _, pr := range p.Providers {
			all = append(all, pr.Name)
		}
		return all
	}
	seen := map[string]bool{}
	var out []string
	var visit func(string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		var deps types.DependsOnConfig
		if pr := p.Provider(name); pr != nil {
			out = append(out, name)
			deps = pr.Config.DependsOn
		} else if s := p.Service(name); s != nil {
			deps = s.Config.DependsOn
		}
		if noDeps {
			return
		}
		for _, d := range sortedKeys(deps) {
			visit(d)
		}
	}
	for _, s := range services {
		visit(s)
	}
	return out
}

// UpProviders runs, before the containers are planned, the provider
// services an up of opts.Services needs, and puts the variables they
// return into their dependents' environment (and so into their config
// hash). With dryRun the plan is only passed to onPlan.
func UpProviders(ctx context.Context, p *project.Project, opts Options, aopts ApplyOptions, dryRun bool, onPlan func(*Plan)) error {
	scope := ProviderScope(p, opts.Services, opts.NoDeps)
	if len(scope) == 0 {
		return nil
	}
	plan := Providers(p, scope, "up")
	if dryRun {
		for _, name := range scope {
			var deps []string
			for _, s := range p.Services {
				if _, ok := s.Config.DependsOn[name]; ok {
					deps = append(deps, s.Name)
				}
			}
			if len(deps) > 0 {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("dry run: provider service %s is not run, so the variables it gives %s are not known and their containers may be shown as changed", name, strings.Join(deps, ", ")))
			}
		}
	}
	if onPlan != nil {
		onPlan(plan)
	}
	if dryRun {
		return nil
	}
	if err := Apply(ctx, nil, plan, aopts); err != nil {
		return err
	}
	for _, s := range plan.Steps {
		warnings, err := p.InjectProviderEnv(s.Object, s.Provider.Vars)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			if aopts.Progress != nil {
				aopts.Progress(Event{Step: s, Status: StatusWarning, Err: errors.New(w)})
			}
		}
	}
	return nil
}

// runProvider applies one run-provider step.
func runProvider(ctx context.Context, s *Step, opts ApplyOptions, progress func(Event)) error {
	if opts.Providers == nil {
		return fmt.Errorf("service %s has a provider, and nothing runs providers here", s.Object)
	}
	vars, _, err := opts.Providers.Run(ctx, s.Provider.Project, s.Provider.Config, s.Provider.Command, func(msg string) {
		progress(Event{Step: s, Status: StatusWorking, Text: msg})
	})
	if err != nil {
		return err
	}
	s.Provider.Vars = vars
	return nil
}
