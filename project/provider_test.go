package project

import (
	"context"
	"testing"
)

// TestInjectProviderEnv: a provider's variables reach the services that
// depend on it, prefixed (setenv) or as they are (rawsetenv), and their
// hash is the one docker compose v5.5.0 writes on the container it creates
// with them (label taken from a live `docker compose up` of this file).
func TestInjectProviderEnv(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yaml": `services:
  database:
    provider:
      type: fakecloud
      options:
        type: mysql
        size: 256
  app:
    image: berth-test/busybox:latest
    command: ["sh","-c","env | grep DATABASE; sleep 600"]
    depends_on: [database]
  other:
    image: berth-test/busybox:latest
`})
	p, err := Load(context.Background(), Options{WorkingDir: dir, ProjectName: "provc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Providers) != 1 || p.Providers[0].Name != "database" || p.Service("database") != nil {
		t.Fatalf("providers %v; database is a container service: %v", p.Providers, p.Service("database") != nil)
	}
	other := p.Service("other").Hash
	warnings, err := p.InjectProviderEnv("database", ProviderVars{Prefixed: map[string]string{"URL": "mysql://x"}, Raw: map[string]string{"RAWV": "1"}})
	if err != nil || len(warnings) > 0 {
		t.Fatal(warnings, err)
	}
	app := p.Service("app")
	if got := app.Config.Environment["DATABASE_URL"]; got == nil || *got != "mysql://x" {
		t.Errorf("DATABASE_URL = %v", got)
	}
	if got, want := app.Hash, "dfb2276d29d0f3e0a20c17dd4e58e4ae73915a98ff09a7bb8c609147c6d18c18"; got != want {
		t.Errorf("app hash %s, want docker compose v5.5.0's %s", got, want)
	}
	if app.Labels["com.docker.compose.config-hash"] != app.Hash {
		t.Errorf("label %s, hash %s", app.Labels["com.docker.compose.config-hash"], app.Hash)
	}
	if p.Service("other").Hash != other {
		t.Errorf("a service that does not depend on the provider changed")
	}
	warnings, err = p.InjectProviderEnv("database", ProviderVars{Raw: map[string]string{"RAWV": "2"}})
	if err != nil || len(warnings) != 1 {
		t.Errorf("override of a service's variable: warnings %q, %v", warnings, err)
	}
}
