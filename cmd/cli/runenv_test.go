package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.env", "# comment\nA=1\nB=from-a\nC=${SET}-x\nexport D='quoted value'\n")
	b := write("b.env", "B=from-b\nE=2\n")
	bad := write("bad.env", "A=\"unterminated\n")
	tests := []struct {
		name  string
		files []string
		set   []string
		want  string
		err   string
	}{
		{"none", nil, nil, "", ""},
		{"one file", []string{a}, nil, "A=1 B=from-a C=-x D=quoted value", ""},
		{"-e wins and is referenced", []string{a}, []string{"A=cli", "SET=s"}, "B=from-a C=s-x D=quoted value", ""},
		{"first file wins", []string{a, b}, nil, "A=1 B=from-a C=-x D=quoted value E=2", ""},
		{"missing file", []string{filepath.Join(dir, "none.env")}, nil, "", "none.env"},
		{"bad file", []string{bad}, nil, "", "bad.env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envFromFiles(tt.files, tt.set)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--env-from-file") {
					t.Fatalf("err %v, want one naming --env-from-file and %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}
