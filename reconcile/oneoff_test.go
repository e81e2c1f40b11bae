package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

func TestOneOffSpec(t *testing.T) {
	f := newFake(t)
	p := load(t, `
name: oo
services:
  web:
    image: busybox
    restart: always
    ports: ["8080:80"]
    command: ["serve"]
    entrypoint: ["/init"]
    volumes: [data:/var/data]
volumes:
  data: {}
`)
	svc := p.Service("web")
	spec, _, err := OneOffSpec(context.Background(), f, p, svc, OneOffOptions{Slug: "abc", Command: []string{"sh"}, Env: []string{"X=1"},
		Labels: []string{"k=v"}, Publish: []string{"9000:90"}, Volumes: []string{"data:/data", "./src:/src:ro"}, HostDir: "/host", Attach: true})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "oo-web-run-abc" || spec.Labels[service.LabelOneoff] != service.OneoffTrue || spec.Labels[service.LabelSlug] != "abc" ||
		spec.Labels["k"] != "v" || spec.Labels[service.LabelContainerNumber] != "" {
		t.Errorf("name and labels: %s %v", spec.Name, spec.Labels)
	}
	if spec.Restart.Name != "no" || strings.Join(spec.Command, " ") != "sh" || strings.Join(spec.Entrypoint, " ") != "/init" {
		t.Errorf("restart %v, command %v, entrypoint %v", spec.Restart, spec.Command, spec.Entrypoint)
	}
	if len(spec.Ports) != 1 || spec.Ports[0].ContainerPort != 90 {
		t.Errorf("ports %+v: the service's are left out, -p's added", spec.Ports)
	}
	if len(spec.Mounts) != 3 || spec.Mounts[1].Source != "oo_data" || spec.Mounts[2].Source != "/host/src" || !spec.Mounts[2].ReadOnly {
		t.Errorf("mounts %+v", spec.Mounts)
	}
	for _, ep := range spec.Networks {
		if strings.Join(ep.Aliases, ",") != spec.Name {
			t.Errorf("aliases %v, want the container's name only", ep.Aliases)
		}
	}
	spec, _, err = OneOffSpec(context.Background(), f, p, svc, OneOffOptions{Slug: "x", Name: "mine", EntrypointSet: true})
	if err != nil || spec.Name != "mine" || len(spec.Entrypoint) != 0 || len(spec.Command) != 0 {
		t.Errorf("--name and --entrypoint '': %s %v %v %v", spec.Name, spec.Entrypoint, spec.Command, err)
	}
	if _, _, err := OneOffSpec(context.Background(), f, p, svc, OneOffOptions{Publish: []string{"x:y:z:w"}}); err == nil {
		t.Error("a bad -p is accepted")
	}
	plan := OneOff(spec, nil, true).String()
	if plan != "#1 create container mine: one-off run of web\n#2 start container mine (after #1)\n" {
		t.Errorf("plan:\n%s", plan)
	}
}
