package builtin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestStripMountPoints(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // path in upper → content ("/" suffix: a directory)
		created []string          // the init's list
		want    []string          // what stays in upper
	}{
		{
			name:    "runtime files and dirs go",
			files:   map[string]string{"etc/": "", "etc/hosts": "", "etc/resolv.conf": "", "proc/": "", "dev/": "", "sys/": ""},
			created: []string{"/proc", "/dev", "/sys", "/etc", "/etc/hosts", "/etc/resolv.conf"},
			want:    nil,
		},
		{
			name:    "what the step wrote stays",
			files:   map[string]string{"etc/": "", "etc/hosts": "127.0.0.1 x\n", "etc/motd": "hi", "proc/": ""},
			created: []string{"/proc", "/etc", "/etc/hosts"},
			want:    []string{"etc", "etc/hosts", "etc/motd"},
		},
		{
			name:    "directories the runtime did not make stay",
			files:   map[string]string{"etc/": "", "etc/hostname": "", "app/": ""},
			created: []string{"/etc/hostname"},
			want:    []string{"app", "etc"},
		},
		{
			name:    "a path that tries to leave upper is cleaned inside it",
			files:   map[string]string{"x": ""},
			created: []string{"../../x"},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			upper := filepath.Join(dir, "upper")
			if err := os.Mkdir(upper, 0o755); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(dir, "x")
			if err := os.WriteFile(outside, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for p, content := range tt.files {
				full := filepath.Join(upper, p)
				var err error
				if p[len(p)-1] == '/' {
					err = os.MkdirAll(full, 0o755)
				} else if err = os.MkdirAll(filepath.Dir(full), 0o755); err == nil {
					err = os.WriteFile(full, []byte(content), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			list := filepath.Join(dir, "mountpoints.json")
			data, _ := json.Marshal(tt.created)
			if err := os.WriteFile(list, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := stripMountPoints(upper, list); err != nil {
				t.Fatal(err)
			}
			var got []string
			_ = filepath.WalkDir(upper, func(p string, _ os.DirEntry, err error) error {
				if err == nil && p != upper {
					rel, _ := filepath.Rel(upper, p)
					got = append(got, rel)
				}
				return nil
			})
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("upper holds %q, want %q", got, tt.want)
			}
			if _, err := os.Stat(outside); err != nil {
				t.Errorf("a file outside upper went: %v", err)
			}
		})
	}
	if err := stripMountPoints(t.TempDir(), filepath.Join(t.TempDir(), "absent")); err != nil {
		t.Errorf("no list: %v, want nothing stripped and no error", err)
	}
}
