package cli

import (
	"fmt"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/provider"
)

// providerRunner runs the project's provider services (nil without a
// project: a down by name knows none).
func (g *globals) providerRunner(p *project.Project) reconcile.ProviderRunner {
	if p == nil || len(p.Providers) == 0 {
		return nil
	}
	env := map[string]string{}
	if p.Model != nil {
		for k, v := range p.Model.Environment {
			env[k] = v
		}
	}
	r := &provider.Runner{Env: env}
	if truthy(g.getenv("BERTH_DEBUG")) {
		r.Debug = func(svc, msg string) { fmt.Fprintf(g.stdio.Err, "%s: %s\n", svc, msg) }
	}
	return r
}
