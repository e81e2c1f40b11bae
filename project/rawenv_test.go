package project

import (
	"maps"
	"strings"
	"testing"
)

func TestParseRawEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"FROM_HOST": "host"}[k]
		return v, ok
	}
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{in: "A=$HOME\nB=\"quoted\"\n  C=kept trailing  \n# comment\n\nFROM_HOST\nNOT_SET\n",
			want: map[string]string{"A": "$HOME", "B": `"quoted"`, "C": "kept trailing  ", "FROM_HOST": "host"}},
		{in: "\xEF\xBB\xBFBOM=1\n", want: map[string]string{"BOM": "1"}},
		{in: "=x\n", err: ":1: no variable name"},
		{in: "A=1\nMY VAR=1\n", err: `:2: variable "MY VAR" contains blanks`},
		{in: "A=\xff\n", err: ":1: invalid UTF-8"},
	} {
		got := map[string]string{}
		err := parseRawEnv(strings.NewReader(tc.in), "f.env", got, lookup)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
