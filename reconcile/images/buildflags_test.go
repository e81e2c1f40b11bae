package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

func TestBuildFlagsValidate(t *testing.T) {
	tests := []struct {
		name  string
		flags BuildFlags
		want  []string // substrings of the error; none: accepted
	}{
		{"none", BuildFlags{}, nil},
		{"memory", BuildFlags{Memory: 64 << 20}, nil},
		{"default builder", BuildFlags{Builder: "default"}, nil},
		{"no attestations", BuildFlags{Provenance: "false", SBOM: "0"}, nil},
		{"buildx builder", BuildFlags{Builder: "mybuilder"}, []string{"--builder mybuilder"}},
		{"ssh", BuildFlags{SSH: "default"}, []string{"--ssh", "BuildKit"}},
		{"provenance", BuildFlags{Provenance: "mode=max"}, []string{"--provenance mode=max", "--provenance=false"}},
		{"sbom", BuildFlags{SBOM: "true"}, []string{"--sbom true"}},
		{"check", BuildFlags{Check: true}, []string{"--check", "no build checks"}},
		{"all at once", BuildFlags{SSH: "default", Check: true, Builder: "x"}, []string{"--ssh", "--check", "--builder x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.flags.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, service.ErrUnsupported) {
				t.Fatalf("err %v, want ErrUnsupported", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
	if err := (BuildFlags{Memory: -1}).Validate(); err == nil {
		t.Error("a negative memory limit: no error")
	}
}
