package provider

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func fakeService() types.ServiceConfig {
	return types.ServiceConfig{Name: "database", Provider: &types.ServiceProviderConfig{
		Type:    "fakecloud",
		Options: types.MultiOptions{"type": {"mysql"}, "size": {"256"}, "tag": {"a", "b"}},
	}}
}

// runner finds testdata/fakecloud as a docker CLI plugin directory would
// hold docker-fakecloud.
func runner(t *testing.T, env map[string]string) (*Runner, string) {
	t.Helper()
	dir := t.TempDir()
	self, err := filepath.Abs("testdata/fakecloud")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "docker-fakecloud")); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "calls")
	e := map[string]string{"FAKE_LOG": log, "PATH": os.Getenv("PATH")}
	for k, v := range env {
		e[k] = v
	}
	return &Runner{Env: e, PluginDirs: []string{dir}}, log
}

func calls(t *testing.T, log string) []string {
	b, _ := os.ReadFile(log)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestRunUp(t *testing.T) {
	r, log := runner(t, nil)
	var infos, debugs []string
	r.Debug = func(svc, msg string) { debugs = append(debugs, svc+": "+msg) }
	vars, ran, err := r.Run(context.Background(), "proj", fakeService(), Up, func(m string) { infos = append(infos, m) })
	if err != nil || !ran {
		t.Fatalf("Run: %v %v", ran, err)
	}
	if want := map[string]string{"URL": "mysql://h:1/db?a=b"}; !reflect.DeepEqual(vars.Prefixed, want) {
		t.Errorf("setenv: %v", vars.Prefixed)
	}
	if want := map[string]string{"RAW": "1"}; !reflect.DeepEqual(vars.Raw, want) {
		t.Errorf("rawsetenv: %v", vars.Raw)
	}
	if !reflect.DeepEqual(infos, []string{"working"}) || !reflect.DeepEqual(debugs, []string{"database: dbg"}) {
		t.Errorf("info %q, debug %q", infos, debugs)
	}
	want := []string{"compose metadata", "compose --project-name=proj up --size=256 --tag=a --tag=b --type=mysql database"}
	if got := calls(t, log); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%q\nwant\n%q", got, want)
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"error", "service database: provider fakecloud up: quota exceeded\nsecond line"},
		{"badjson", "invalid response from provider"},
		{"badtype", `unknown message type "shout"`},
		{"exit3", "provider fakecloud up failed: exit status 3: broken"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r, _ := runner(t, map[string]string{"FAKE_MODE": tc.mode})
			_, _, err := r.Run(context.Background(), "proj", fakeService(), Up, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestMetadata: the options a command passes are those its metadata lists;
// a required one missing is an error; stop runs only when declared.
func TestMetadata(t *testing.T) {
	md := `{"description":"d","up":{"parameters":[{"name":"type","required":true},{"name":"size"}]},"down":{"parameters":[{"name":"type"}]}}`
	r, log := runner(t, map[string]string{"FAKE_METADATA": md})
	if _, _, err := r.Run(context.Background(), "proj", fakeService(), Down, nil); err != nil {
		t.Fatal(err)
	}
	if _, ran, err := r.Run(context.Background(), "proj", fakeService(), Stop, nil); err != nil || ran {
		t.Fatalf("stop without metadata: ran %v, %v", ran, err)
	}
	want := []string{"compose metadata", "compose --project-name=proj down --type=mysql database", "compose metadata"}
	if got := calls(t, log); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%q\nwant\n%q", got, want)
	}
	svc := fakeService()
	delete(svc.Provider.Options, "type")
	if _, _, err := r.Run(context.Background(), "proj", svc, Up, nil); err == nil || !strings.Contains(err.Error(), `required parameter "type" is missing from provider "fakecloud"`) {
		t.Errorf("missing required parameter: %v", err)
	}
}

func TestBinary(t *testing.T) {
	r := &Runner{PluginDirs: []string{}}
	for _, bad := range []string{"compose", "", "../x", "a/b", ".hidden"} {
		if _, err := r.Binary(bad); err == nil {
			t.Errorf("Binary(%q) accepted", bad)
		}
	}
	if _, err := r.Binary("no-such-provider-anywhere"); err == nil || !strings.Contains(err.Error(), "docker-no-such-provider-anywhere") {
		t.Errorf("missing provider: %v", err)
	}
	if p, err := r.Binary("sh"); err != nil || !strings.HasSuffix(p, "/sh") {
		t.Errorf("PATH lookup: %q %v", p, err)
	}
}
