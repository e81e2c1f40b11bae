package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/servicetest"
)

func TestCpTargets(t *testing.T) {
	ctx := t.Context()
	f := servicetest.NewFake()
	f.AddImage("busybox", "sha256:0123")
	for _, c := range []struct{ name, svc, num, oneoff string }{
		{"p-web-10", "web", "10", ""}, {"p-web-2", "web", "2", ""}, {"p-web-1", "web", "1", ""},
		{"p-web-run-1", "web", "", "True"}, {"p-db-1", "db", "1", ""},
	} {
		labels := map[string]string{service.LabelProject: "p", service.LabelService: c.svc}
		if c.num != "" {
			labels[service.LabelContainerNumber] = c.num
		}
		if c.oneoff != "" {
			labels[service.LabelOneoff] = c.oneoff
		}
		if _, err := f.CreateContainer(ctx, service.ContainerSpec{Name: c.name, Image: "busybox", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	s := &session{name: "p", b: f}
	names := func(cs []service.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	for _, tt := range []struct {
		svc  string
		o    cpOptions
		want []string
		err  string
	}{
		{"web", cpOptions{}, []string{"p-web-1"}, ""},
		{"web", cpOptions{index: 2}, []string{"p-web-2"}, ""},
		{"web", cpOptions{all: true}, []string{"p-web-1", "p-web-2", "p-web-10"}, ""},
		{"web", cpOptions{index: 3}, nil, "service web has no container with index 3"},
		{"cache", cpOptions{}, nil, "service cache has no container"},
	} {
		cs, err := cpTargets(ctx, s, tt.svc, tt.o)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("cpTargets(%s, %+v) = %v, want %q", tt.svc, tt.o, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(names(cs), tt.want) {
			t.Errorf("cpTargets(%s, %+v) = %q, %v; want %q", tt.svc, tt.o, names(cs), err, tt.want)
		}
	}
}

func TestCpArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "a", "b"}, `one of "a" and "b" must name a service: SERVICE:PATH`},
		{[]string{"cp", "web:/a", "db:/b"}, "copying between services is not supported"},
		{[]string{"cp", "--all", "web:/a", "."}, "--all applies to copying into a service"},
		{[]string{"cp", "--index", "-1", "web:/a", "."}, "invalid --index -1"},
		{[]string{"cp", "web:", "."}, `"web:" names no path in the container`},
		{[]string{"cp", "--all", "--index", "2", ".", "web:/a"}, "none of the others can be"},
		{[]string{"cp", "a"}, "accepts 2 arg(s)"},
	} {
		_, errOut, code := runCLI(t, dir, nil, tt.args...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want 1 and %q", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
	}
}
