package project

import (
	"context"
	"slices"
	"testing"

	"github.com/berthdev/berth/service"
)

func TestEphemeralPorts(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yaml": `
services:
  web:
    image: busybox
    ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp", "81"]
  db:
    image: busybox
    ports: ["5432"]
  worker:
    image: busybox
`})
	load := func() *Project {
		t.Helper()
		p, err := Load(context.Background(), Options{WorkingDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	fixed := load()
	p := load()
	changed, err := p.EphemeralPorts()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"web"}) {
		t.Errorf("changed %v, want [web]", changed)
	}
	web := p.Service("web")
	for _, port := range web.Config.Ports {
		if port.Published != "" {
			t.Errorf("port %+v still published on a fixed host port", port)
		}
	}
	if got := web.Config.Ports[1]; got.HostIP != "127.0.0.1" || got.Protocol != "udp" || got.Target != 9000 {
		t.Errorf("host address, protocol or target lost: %+v", got)
	}
	if got := p.Model.Services["web"].Ports[0].Published; got != "" {
		t.Errorf("model still publishes %q", got)
	}
	if web.Hash == fixed.Service("web").Hash || web.UpToDate(fixed.Service("web").Hash) {
		t.Error("the fixed-port containers count as up to date: a plain up after --ephemeral-ports would not recreate them")
	}
	if web.Labels[service.LabelConfigHash] != web.Hash {
		t.Errorf("config-hash label %q, want the new hash %q", web.Labels[service.LabelConfigHash], web.Hash)
	}
	for _, name := range []string{"db", "worker"} {
		if p.Service(name).Hash != fixed.Service(name).Hash {
			t.Errorf("%s: hash changed though it publishes no fixed port", name)
		}
	}
	again := load()
	if _, err := again.EphemeralPorts(); err != nil {
		t.Fatal(err)
	}
	if again.Service("web").Hash != web.Hash {
		t.Error("two loads with ephemeral ports hash differently: up --ephemeral-ports would recreate every time")
	}
	if _, err := again.EphemeralPorts(); err != nil || again.Service("web").Hash != web.Hash {
		t.Errorf("a second rewrite changed the hash (err %v)", err)
	}
}
