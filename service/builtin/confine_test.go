package builtin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/confine"
)

func TestConfinement(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile.json")
	const body = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
	if err := os.WriteFile(profile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	hasMknod := func(c confine.Confinement) bool {
		return slices.Contains(c.Caps, slices.Index(confine.CapNames, "MKNOD"))
	}
	for _, tc := range []struct {
		name    string
		spec    service.ContainerSpec
		devices bool // the cgroup filesystem enforces device rules
		seccomp bool
		nnp     bool
		mknod   bool
		err     string
	}{
		{name: "default", devices: true, seccomp: true, mknod: true},
		{name: "no device rules: no mknod", seccomp: true},
		{name: "no device rules, mknod asked for", spec: service.ContainerSpec{CapAdd: []string{"mknod"}}, seccomp: true, mknod: true},
		{name: "privileged: no filter", spec: service.ContainerSpec{Privileged: true}, mknod: true},
		{name: "unconfined", spec: service.ContainerSpec{SecurityOpt: []string{"seccomp=unconfined"}}, devices: true, mknod: true},
		{name: "unconfined, colon form", spec: service.ContainerSpec{SecurityOpt: []string{"seccomp:unconfined"}}, devices: true, mknod: true},
		{name: "profile file", spec: service.ContainerSpec{SecurityOpt: []string{"seccomp=" + profile}}, devices: true, seccomp: true, mknod: true},
		{name: "profile content", spec: service.ContainerSpec{SecurityOpt: []string{"seccomp=" + body}}, devices: true, seccomp: true, mknod: true},
		{name: "no-new-privileges", spec: service.ContainerSpec{SecurityOpt: []string{"no-new-privileges:true"}}, devices: true, seccomp: true, nnp: true, mknod: true},
		{name: "missing profile", spec: service.ContainerSpec{SecurityOpt: []string{"seccomp=" + filepath.Join(dir, "nope.json")}}, err: "no such file"},
		{name: "broken profile", spec: service.ContainerSpec{SecurityOpt: []string{`seccomp={"defaultAction":`}}, err: "seccomp"},
		{name: "unknown option", spec: service.ContainerSpec{SecurityOpt: []string{"selinux=x"}}, err: "not supported"},
		{name: "host devices", spec: service.ContainerSpec{Devices: []string{"/dev/loop0:/dev/loop0:rwm"}}, err: "not supported"},
		{name: "unknown capability", spec: service.ContainerSpec{CapAdd: []string{"FLY"}}, err: "unknown capability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Backend{devices: tc.devices}
			c, err := b.confinement(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Seccomp != nil; got != tc.seccomp {
				t.Errorf("seccomp filter: %v, want %v", got, tc.seccomp)
			}
			if c.NoNewPrivs != tc.nnp {
				t.Errorf("no_new_privs: %v, want %v", c.NoNewPrivs, tc.nnp)
			}
			if got := hasMknod(c); got != tc.mknod {
				t.Errorf("MKNOD kept: %v, want %v", got, tc.mknod)
			}
		})
	}
}
