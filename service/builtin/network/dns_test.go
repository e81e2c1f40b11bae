package network

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// source is a Source in memory.
type source struct {
	nets       []Net
	containers []Container
}

func (s source) Networks() ([]Net, error)         { return s.nets, nil }
func (s source) Containers() ([]Container, error) { return s.containers, nil }

// TestDNSAnswer checks the names the DNS server answers for and where the
// addresses come from: the networks the asker shares with the target.
func TestDNSAnswer(t *testing.T) {
	netA := Net{ID: strings.Repeat("a", 64), Gateway: "10.89.1.1"}
	netB := Net{ID: strings.Repeat("b", 64), Gateway: "10.89.2.1"}
	src := source{nets: []Net{netA, netB}}
	add := func(id, name string, running bool, addrs []Address, links ...string) {
		src.containers = append(src.containers, Container{ID: strings.Repeat(id, 64), Name: name, Hostname: "host-" + id, Running: running, Links: links, Addresses: addrs})
	}
	add("1", "p-web-1", true, []Address{{Network: netA.ID, IP: "10.89.1.2", Aliases: []string{"web", "www"}}})
	add("2", "p-web-2", true, []Address{{Network: netA.ID, IP: "10.89.1.3", Aliases: []string{"web"}}})
	add("3", "p-web-3", false, []Address{{Network: netA.ID, IP: "10.89.1.4", Aliases: []string{"web"}}})
	add("4", "p-db-1", true, []Address{{Network: netB.ID, IP: "10.89.2.2", Aliases: []string{"db"}}})
	add("5", "p-api-1", true, []Address{
		{Network: netA.ID, IP: "10.89.1.5", Aliases: []string{"api"}},
		{Network: netB.ID, IP: "10.89.2.5", Aliases: []string{"api"}},
	})
	// app links to web-1 as "database" and "first", and to db, on no
	// network it shares, as "backend"
	add("6", "p-app-1", true, []Address{{Network: netA.ID, IP: "10.89.1.6"}},
		"p-web-1:database", "p-web-1:first", "p-db-1:backend", "p-web-3:stopped", "2:short", "222222222222:byid")
	add("7", "p-app-run-1", false, []Address{{Network: netA.ID, IP: "10.89.1.7"}}, "p-web-1:database")
	s := &DNSServer{src: src}
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
	s := &DNSServer{src: source{}} // no upstream: nothing is forwarded
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
