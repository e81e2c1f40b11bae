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

// TestLinksAsCompose: berth gives a container (and run's one-off) the same
// endpoint links as docker compose v5.5.0 and v2.40.3, and the same MAC
// address as v2.40.3 on this API 1.41 engine (v5.5.0 sends it only where
// engines from API 1.44 read it), each tool on its own project of the same
// files.
func TestLinksAsCompose(t *testing.T) {
	requireEngine(t)
	files := map[string]string{"compose.yaml": `services:
  db:
` + sleepingService + `  other:
` + sleepingService + `  web:
` + sleepingService + `    links: ["db:database", "other"]
    external_links: ["${COMPOSE_PROJECT_NAME}-other-1:legacy"]
    mac_address: 02:42:ac:11:00:97
`}
	// what a tool made: web-1's and the one-off's links, project name
	// written P, and web-1's MAC address
	type made struct{ links, oneoffLinks, mac string }
	observe := func(t *testing.T, p *testProject, oneoff string) made {
		t.Helper()
		links := `{{range .NetworkSettings.Networks}}{{json .Links}}{{end}}`
		norm := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), p.name, "P") }
		return made{
			links:       norm(docker(t, "inspect", "--format", links, p.name+"-web-1")),
			oneoffLinks: norm(docker(t, "inspect", "--format", links, oneoff)),
			mac:         strings.TrimSpace(docker(t, "exec", p.name+"-web-1", "cat", "/sys/class/net/eth0/address")),
		}
	}
	p := newProject(t, files)
	p.mustRun(t, "up", "-d")
	berth := observe(t, p, strings.TrimSpace(p.mustRun(t, "run", "-d", "web").stdout))
	if want := `["P-db-1:database","P-db-1:db-1","P-db-1:P-db-1","P-other-1:other","P-other-1:other-1","P-other-1:P-other-1","P-other-1:legacy"]`; berth.links != want {
		t.Errorf("berth: web-1's links %s, want %s", berth.links, want)
	}
	if want := `"P-db-1:database","P-db-1:db--1","P-db-1:P-db--1"`; !strings.Contains(berth.oneoffLinks, want) {
		t.Errorf("berth: the one-off's links %s, want %s among them (compose numbers a one-off -1)", berth.oneoffLinks, want)
	}
	if berth.mac != "02:42:ac:11:00:97" {
		t.Errorf("berth: web-1's MAC %s", berth.mac)
	}
	p.mustRun(t, "down", "-t", "0", "--remove-orphans")
	for _, version := range []string{"v5.5.0", "v2.40.3"} {
		bin := referenceCompose(t, version)
		q := newProject(t, files)
		refCompose(t, bin, q, "up", "-d")
		ref := observe(t, q, strings.TrimSpace(refCompose(t, bin, q, "run", "-d", "web").stdout))
		if ref.links != berth.links || ref.oneoffLinks != berth.oneoffLinks {
			t.Errorf("links: docker compose %s gives web-1 %s and its one-off %s; berth %s and %s", version, ref.links, ref.oneoffLinks, berth.links, berth.oneoffLinks)
		}
		if version == "v2.40.3" && ref.mac != berth.mac {
			t.Errorf("MAC: docker compose %s gives web-1 %s, berth %s", version, ref.mac, berth.mac)
		}
		refCompose(t, bin, q, "down", "-t", "0", "--remove-orphans")
	}
}
