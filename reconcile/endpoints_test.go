package reconcile

import (
	"context"
	"slices"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:1")
	add := func(name, svc, n, oneoff string, ports ...service.PortBinding) {
		t.Helper()
		spec := service.ContainerSpec{Name: name, Image: "busybox", Ports: ports, Labels: map[string]string{
			service.LabelProject: "shop", service.LabelService: svc, service.LabelContainerNumber: n, service.LabelOneoff: oneoff}}
		id, err := f.CreateContainer(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	add("shop-web-1", "web", "1", "False", service.PortBinding{ContainerPort: 80, HostPort: "8080", Protocol: "tcp"},
		service.PortBinding{ContainerPort: 53, HostPort: "5353", Protocol: "udp", HostIP: "127.0.0.2"})
	add("shop-web-2", "web", "2", "False", service.PortBinding{ContainerPort: 80, HostPort: "8081", Protocol: "tcp"})
	add("shop-my-db-1", "my-db", "1", "False", service.PortBinding{ContainerPort: 5432, HostPort: "15432", Protocol: "tcp"})
	add("shop-web-run-1", "web", "1", "True", service.PortBinding{ContainerPort: 80, HostPort: "9999", Protocol: "tcp"})

	eps, err := Endpoints(ctx, f, "shop", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{
		{Service: "my-db", Replica: 1, Container: "shop-my-db-1", Target: 5432, Protocol: "tcp", Host: "127.0.0.1", Port: 15432},
		{Service: "web", Replica: 1, Container: "shop-web-1", Target: 53, Protocol: "udp", Host: "127.0.0.2", Port: 5353},
		{Service: "web", Replica: 1, Container: "shop-web-1", Target: 80, Protocol: "tcp", Host: "127.0.0.1", Port: 8080},
		{Service: "web", Replica: 2, Container: "shop-web-2", Target: 80, Protocol: "tcp", Host: "127.0.0.1", Port: 8081},
	}
	if !slices.Equal(eps, want) {
		t.Errorf("endpoints:\n%+v\nwant\n%+v", eps, want)
	}
	env := EndpointEnv(eps)
	wantEnv := []string{
		"MY_DB_5432_HOST=127.0.0.1", "MY_DB_5432_PORT=15432", "MY_DB_5432=127.0.0.1:15432",
		"WEB_53_UDP_HOST=127.0.0.2", "WEB_53_UDP_PORT=5353", "WEB_53_UDP=127.0.0.2:5353",
		"WEB_1_53_UDP_HOST=127.0.0.2", "WEB_1_53_UDP_PORT=5353", "WEB_1_53_UDP=127.0.0.2:5353",
		"WEB_80_HOST=127.0.0.1", "WEB_80_PORT=8080", "WEB_80=127.0.0.1:8080",
		"WEB_1_80_HOST=127.0.0.1", "WEB_1_80_PORT=8080", "WEB_1_80=127.0.0.1:8080",
		"WEB_2_80_HOST=127.0.0.1", "WEB_2_80_PORT=8081", "WEB_2_80=127.0.0.1:8081",
	}
	if !slices.Equal(env, wantEnv) {
		t.Errorf("env:\n%q\nwant\n%q", env, wantEnv)
	}
	only, err := Endpoints(ctx, f, "shop", []string{"my-db"})
	if err != nil || len(only) != 1 || only[0].Service != "my-db" {
		t.Errorf("endpoints of my-db: %+v, %v", only, err)
	}
	if a := (Endpoint{Host: "::1", Port: 80}).Address(); a != "[::1]:80" {
		t.Errorf("IPv6 address: %s", a)
	}
}
