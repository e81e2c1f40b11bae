package project

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeHash is docker compose's ServiceHash written out again from its
// description (compose-reference §3.2), on a model loaded by compose-go
// directly: an independent check of Load's ConfigHashes.
func composeHash(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestConfigHashesMatchCompose(t *testing.T) {
	root := "../testdata/config"
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		dir, _ := filepath.Abs(filepath.Join(root, e.Name()))
		t.Run(e.Name(), func(t *testing.T) {
			var args, env []string
			if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
				args = strings.Fields(string(b))
			}
			if b, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
				env = strings.Fields(string(b))
			}
			var files, profiles []string
			for i := 0; i+1 < len(args); i += 2 {
				switch args[i] {
				case "-f":
					files = append(files, filepath.Join(dir, args[i+1]))
				case "--profile":
					profiles = append(profiles, args[i+1])
				}
			}

			// compose-go, called directly as docker compose's config --hash does
			po, err := cli.NewProjectOptions(files,
				cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithEnvFiles(), cli.WithDotEnv,
				cli.WithDefaultConfigPath, cli.WithEnvFiles(), cli.WithDotEnv, cli.WithProfiles(profiles),
				cli.WithoutEnvironmentResolution)
			if err != nil {
				t.Fatal(err)
			}
			model, err := po.LoadProject(context.Background())
			if err != nil {
				t.Fatal(err)
			}

			p, err := Load(context.Background(), Options{Files: files, Profiles: profiles, Env: env, WorkingDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			hashes, err := p.ConfigHashes()
			if err != nil {
				t.Fatal(err)
			}
			if len(hashes) != len(model.Services) {
				t.Fatalf("Load hashed %d services, compose-go loaded %d", len(hashes), len(model.Services))
			}
			for name, s := range model.Services {
				if got, want := hashes[name], composeHash(t, s); got != want {
					t.Errorf("service %s: hash %s, docker compose's algorithm gives %s", name, got, want)
				}
			}
		})
	}
}

func TestServiceHashIgnoresScaleAndDependencies(t *testing.T) {
	three := 3
	base := types.ServiceConfig{Name: "web"}
	base.Image = "busybox"
	base.Deploy = &types.DeployConfig{}
	h0, _ := ServiceHash(base)

	scaled := base
	scaled.Scale = &three
	scaled.Deploy = &types.DeployConfig{Replicas: &three} // replicas only: left out
	scaled.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
	scaled.Profiles = []string{"x"}
	scaled.PullPolicy = "always"
	scaled.Build = &types.BuildConfig{Context: "."}
	h1, _ := ServiceHash(scaled)
	if h0 != h1 {
		t.Errorf("scale, replicas, depends_on, profiles, pull_policy and build changed the hash")
	}
	if scaled.Deploy.Replicas == nil {
		t.Errorf("ServiceHash changed the caller's deploy.replicas")
	}

	changed := base
	changed.Environment = types.MappingWithEquals{"A": strPtr("1")}
	h2, _ := ServiceHash(changed)
	if h2 == h0 {
		t.Errorf("an environment change left the hash unchanged")
	}
}

func strPtr(s string) *string { return &s }
