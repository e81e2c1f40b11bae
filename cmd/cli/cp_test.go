package cli

import (
	"strings"
	"testing"
)

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
