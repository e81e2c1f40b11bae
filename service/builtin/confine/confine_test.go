package confine

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestLookupUser(t *testing.T) {
	files := map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n# comment\nnobody:x:65534:65534::/nonexistent:/bin/false\n",
		"/etc/group":  "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nnogroup:x:65534:\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	cases := []struct {
		spec     string
		groupAdd []string
		want     Identity
		err      string
	}{
		{"", nil, Identity{UID: 0, GID: 0, Home: "/root"}, ""},
		{"app", nil, Identity{UID: 1000, GID: 1000, Groups: []int{10}, Home: "/home/app"}, ""},
		{"1000", nil, Identity{UID: 1000, GID: 1000, Groups: []int{10}, Home: "/home/app"}, ""},
		{"app:nogroup", nil, Identity{UID: 1000, GID: 65534, Home: "/home/app"}, ""},
		{"4242", nil, Identity{UID: 4242, GID: 0, Home: "/"}, ""},
		{"4242:77", []string{"wheel", "99"}, Identity{UID: 4242, GID: 77, Groups: []int{10, 99}, Home: "/"}, ""},
		{"ghost", nil, Identity{}, "unable to find user ghost"},
		{"app:ghosts", nil, Identity{}, "unable to find group ghosts"},
	}
	for _, tc := range cases {
		got, err := LookupUser(tc.spec, tc.groupAdd, read)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("LookupUser(%q) error = %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || got.UID != tc.want.UID || got.GID != tc.want.GID || got.Home != tc.want.Home || !slices.Equal(got.Groups, tc.want.Groups) {
			t.Errorf("LookupUser(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

func TestCapSet(t *testing.T) {
	names := func(caps []int) string {
		var out []string
		for _, c := range caps {
			out = append(out, CapNames[c])
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		add, drop  []string
		privileged bool
		want       string
		err        bool
	}{
		{nil, nil, false, "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_RAW,SYS_CHROOT,MKNOD,AUDIT_WRITE,SETFCAP", false},
		{[]string{"cap_net_admin"}, []string{"MKNOD", "CAP_NET_RAW"}, false, "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_ADMIN,SYS_CHROOT,AUDIT_WRITE,SETFCAP", false},
		{[]string{"KILL"}, []string{"ALL"}, false, "KILL", false},
		{nil, nil, true, strings.Join(CapNames, ","), false},
		{[]string{"ALL"}, []string{"SYS_ADMIN"}, false, strings.Replace(strings.Join(CapNames, ","), "SYS_ADMIN,", "", 1), false},
		{[]string{"FLY"}, nil, false, "", true},
	}
	for _, tc := range cases {
		got, err := CapSet(tc.add, tc.drop, tc.privileged)
		if tc.err != (err != nil) || (!tc.err && names(got) != tc.want) {
			t.Errorf("CapSet(%v, %v, %v) = %s, %v; want %s", tc.add, tc.drop, tc.privileged, names(got), err, tc.want)
		}
	}
}
