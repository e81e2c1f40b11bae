package e2e

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// links: and external_links (issue 12): the alias resolves in the linking
// container only, on both backends.

// resolve returns the addresses name resolves to in a container of svc
// (nslookup's answer), none when it does not resolve.
func (p *testProject) resolve(t *testing.T, svc, name string) []string {
	t.Helper()
	return nslookupAddrs(p.run("exec", "-T", svc, "nslookup", name).stdout, name)
}

// nslookupAddrs reads the addresses of busybox nslookup's answer for name.
func nslookupAddrs(out, name string) []string {
	var addrs []string
	inAnswer := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Name:":
			inAnswer = strings.EqualFold(f[1], name)
		case len(f) == 2 && f[0] == "Address:" && inAnswer:
			addrs = append(addrs, f[1])
		}
	}
	sort.Strings(addrs)
	return slices.Compact(addrs)
}

// TestLinksResolve: links: [db:database] makes database (and compose's
// other link names, db-1) resolve to db's container in web, and only
// there; external_links likewise; the one-off container of run gets the
// links too — as docker compose sends them (every endpoint's Links).
func TestLinksResolve(t *testing.T) {
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": `services:
  db:
` + sleepingService + `  other:
` + sleepingService + `  web:
` + sleepingService + `    links: ["db:database"]
    external_links: ["${COMPOSE_PROJECT_NAME}-other-1:legacy"]
    depends_on: [other]
`})
		p.mustRun(t, "up", "-d")
		db := p.resolve(t, "web", "db")
		other := p.resolve(t, "web", "other")
		if len(db) != 1 || len(other) != 1 {
			t.Fatalf("web resolves db to %q, other to %q: want one address each", db, other)
		}
		for _, tc := range []struct {
			svc, name string
			want      []string
		}{
			{"web", "database", db},
			{"web", "db-1", db}, // compose's "<service>-<number>" link name
			{"web", "legacy", other},
			{"other", "database", nil}, // a link is the linking container's own
			{"other", "legacy", nil},
			{"db", "database", nil},
		} {
			if got := p.resolve(t, tc.svc, tc.name); !slices.Equal(got, tc.want) {
				t.Errorf("in %s, %s resolves to %q, want %q", tc.svc, tc.name, got, tc.want)
			}
		}
		r := p.mustRun(t, "run", "--rm", "-T", "web", "nslookup", "database")
		if got := nslookupAddrs(r.stdout, "database"); !slices.Equal(got, db) {
			t.Errorf("in run's one-off of web, database resolves to %q, want %q\n%s%s", got, db, r.stdout, r.stderr)
		}
		p.mustRun(t, "down", "-t", "0")
	})
}
