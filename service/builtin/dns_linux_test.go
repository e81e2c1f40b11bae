package builtin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"golang.org/x/net/dns/dnsmessage"
)

// TestDNSAnswer checks the names the DNS server answers for and where the
// addresses come from: the networks the asker shares with the target.
func TestDNSAnswer(t *testing.T) {
	b := &Backend{root: t.TempDir()}
	for _, d := range []string{"containers", "networks"} {
		if err := os.MkdirAll(filepath.Join(b.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	netA := networkRecord{Network: service.Network{ID: strings.Repeat("a", 64), Name: "p_front"}, Gateway: "10.89.1.1", Subnet: "10.89.1.0/24"}
	netB := networkRecord{Network: service.Network{ID: strings.Repeat("b", 64), Name: "p_back"}, Gateway: "10.89.2.1", Subnet: "10.89.2.0/24"}
	for _, n := range []networkRecord{netA, netB} {
		if err := writeJSON(b.networkPath(n.ID), n); err != nil {
			t.Fatal(err)
		}
	}
	add := func(id, name, status string, nets map[string]attachment, links ...string) {
		r := &record{ID: strings.Repeat(id, 64), Name: name, Spec: service.ContainerSpec{Hostname: "host-" + id, Links: links}, Networks: nets, State: runState{Status: status}}
		if err := os.MkdirAll(b.containerDir(r.ID), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeJSON(b.recordPath(r.ID), r); err != nil {
			t.Fatal(err)
		}
	}
	add("1", "p-web-1", "running", map[string]attachment{"p_front": {ID: netA.ID, IP: "10.89.1.2", Aliases: []string{"web", "www"}}})
	add("2", "p-web-2", "running", map[string]attachment{"p_front": {ID: netA.ID, IP: "10.89.1.3", Aliases: []string{"web"}}})
	add("3", "p-web-3", "exited", map[string]attachment{"p_front": {ID: netA.ID, IP: "10.89.1.4", Aliases: []string{"web"}}})
	add("4", "p-db-1", "running", map[string]attachment{"p_back": {ID: netB.ID, IP: "10.89.2.2", Aliases: []string{"db"}}})
	add("5", "p-api-1", "running", map[string]attachment{
		"p_front": {ID: netA.ID, IP: "10.89.1.5", Aliases: []string{"api"}},
		"p_back":  {ID: netB.ID, IP: "10.89.2.5", Aliases: []string{"api"}},
	})
	// app links to web-1 as "database" and "first", and to db, on no
	// network it shares, as "backend"
	add("6", "p-app-1", "running", map[string]attachment{"p_front": {ID: netA.ID, IP: "10.89.1.6"}},
		"p-web-1:database", "p-web-1:first", "p-db-1:backend", "p-web-3:stopped", "2:short", "222222222222:byid")
	add("7", "p-app-run-1", "created", map[string]attachment{"p_front": {ID: netA.ID, IP: "10.89.1.7"}}, "p-web-1:database")
	s := &dnsServer{b: b}
	cases := []struct {
		name, client, gw string
		want             []string // nil: not ours (forwarded)
	}{
		{"web", "10.89.1.5", "10.89.1.1", []string{"10.89.1.2", "10.89.1.3"}},
		{"WWW", "10.89.1.5", "10.89.1.1", []string{"10.89.1.2"}},
		{"p-web-2", "10.89.1.2", "10.89.1.1", []string{"10.89.1.3"}},
		{"host-1", "10.89.1.5", "10.89.1.1", []string{"10.89.1.2"}},
		{"111111111111", "10.89.1.5", "10.89.1.1", []string{"10.89.1.2"}},
		{"db", "10.89.1.5", "10.89.1.1", []string{"10.89.2.2"}},  // api shares back with db
		{"db", "10.89.1.2", "10.89.1.1", nil},                    // web does not
		{"api", "10.89.2.2", "10.89.2.1", []string{"10.89.2.5"}}, // the address on the shared network
		{"web", "192.0.2.9", "10.89.1.1", []string{"10.89.1.2", "10.89.1.3"}},
		{"example.org", "10.89.1.5", "10.89.1.1", nil},
		{"database", "10.89.1.6", "10.89.1.1", []string{"10.89.1.2"}}, // app's link
		{"FIRST", "10.89.1.6", "10.89.1.1", []string{"10.89.1.2"}},
		{"database", "10.89.1.5", "10.89.1.1", nil}, // only app resolves its links
		{"database", "192.0.2.9", "10.89.1.1", nil},
		{"backend", "10.89.1.6", "10.89.1.1", nil}, // db shares no network with app
		{"stopped", "10.89.1.6", "10.89.1.1", nil}, // web-3 is not running
		{"byid", "10.89.1.6", "10.89.1.1", []string{"10.89.1.3"}},
		{"short", "10.89.1.6", "10.89.1.1", nil}, // too short a prefix for an ID
		{"web", "10.89.1.6", "10.89.1.1", []string{"10.89.1.2", "10.89.1.3"}},
		{"database", "10.89.1.7", "10.89.1.1", []string{"10.89.1.2"}}, // a one-off not marked running yet
	}
	for _, tc := range cases {
		ips, ok := s.lookup(strings.ToLower(tc.name), tc.client, tc.gw)
		var got []string
		for _, ip := range ips {
			got = append(got, ip.String())
		}
		slices.Sort(got)
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("lookup(%s) from %s = %v, %v; want %v", tc.name, tc.client, got, ok, tc.want)
		}
	}

	// A whole query: an A record answer with the question's ID.
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 42, RecursionDesired: true})
	_ = q.StartQuestions()
	_ = q.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("www."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	query, err := q.Finish()
	if err != nil {
		t.Fatal(err)
	}
	resp := s.answer(query, "10.89.1.5", "10.89.1.1")
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if m.ID != 42 || !m.Response || len(m.Answers) != 1 {
		t.Fatalf("answer = %+v", m)
	}
	if a, ok := m.Answers[0].Body.(*dnsmessage.AResource); !ok || a.A != [4]byte{10, 89, 1, 2} {
		t.Errorf("answer body = %v, want A 10.89.1.2", m.Answers[0].Body)
	}
}

// FuzzDNSAnswer feeds the DNS server arbitrary packets, as anything on a
// network may send: it must never panic, and what it answers must parse.
func FuzzDNSAnswer(f *testing.F) {
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7})
	_ = q.StartQuestions()
	_ = q.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("web."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	seed, _ := q.Finish()
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	b := &Backend{root: f.TempDir()}
	for _, d := range []string{"containers", "networks"} {
		_ = os.MkdirAll(filepath.Join(b.root, d), 0o755)
	}
	s := &dnsServer{b: b} // no upstream: nothing is forwarded
	f.Fuzz(func(t *testing.T, packet []byte) {
		resp := s.answer(packet, "10.89.1.5", "10.89.1.1")
		if resp != nil {
			var m dnsmessage.Message
			if err := m.Unpack(resp); err != nil {
				t.Fatalf("the answer does not parse: %v", err)
			}
		}
	})
}
