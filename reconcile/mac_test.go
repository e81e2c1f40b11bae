package reconcile

import (
	"strings"
	"testing"
)

// TestServiceMacAddress: the service's mac_address is its primary
// network's, as docker compose sends it; another on that network is an
// error that names both.
func TestServiceMacAddress(t *testing.T) {
	const base = `
name: shop
services:
  web:
    image: busybox
    mac_address: 02:42:ac:11:00:99
`
	cases := []struct {
		name, networks string
		want           map[string]string // network → MAC
		err            string
	}{
		{"default network", "", map[string]string{"shop_default": "02:42:ac:11:00:99"}, ""},
		{"the primary of two", `
    networks:
      back: {}
      front: {priority: 10}
networks: {back: {}, front: {}}`, map[string]string{"shop_front": "02:42:ac:11:00:99", "shop_back": ""}, ""},
		{"the same on the network", `
    networks:
      default: {mac_address: 02:42:ac:11:00:99}`, map[string]string{"shop_default": "02:42:ac:11:00:99"}, ""},
		{"another on the network", `
    networks:
      default: {mac_address: 02:42:ac:11:00:98}`, nil, "service web: mac_address 02:42:ac:11:00:99: the service-level mac_address should have the same value as network default (02:42:ac:11:00:98)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, base+strings.TrimPrefix(tc.networks, "\n"))
			spec, _, err := ContainerSpec(p, p.Service("web"), 1)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if _, err := Diff(p, &Observed{Project: p.Name}, Options{}); err == nil {
					t.Errorf("Diff plans despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, ep := range spec.Networks {
				got[ep.Network] = ep.MacAddress
			}
			if len(got) != len(tc.want) {
				t.Fatalf("networks %v, want %v", got, tc.want)
			}
			for n, mac := range tc.want {
				if got[n] != mac {
					t.Errorf("network %s: MAC %q, want %q", n, got[n], mac)
				}
			}
		})
	}
}
