package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
)

// dockerHubServer is the key of Docker Hub's credentials in the docker CLI's
// config file, and the server its credential helpers are asked about.
const dockerHubServer = "https://index.docker.io/v1/"

// dockerConfig is the part of the docker CLI's config.json that holds
// registry credentials.
type dockerConfig struct {
	// Auths holds credentials by registry: inline ones, or empty entries
	// recording a login whose secret is in the credentials store.
	Auths map[string]authEntry `json:"auths"`
	// CredsStore names the helper (docker-credential-<name>) that keeps
	// every registry's credentials.
	CredsStore string `json:"credsStore"`
	// CredHelpers names a helper per registry, overriding CredsStore.
	CredHelpers map[string]string `json:"credHelpers"`
}

// authEntry is an entry of "auths".
type authEntry struct {
	Auth          string `json:"auth"` // base64 of "user:password"
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// dockerConfigDir returns the docker CLI's configuration directory:
// $DOCKER_CONFIG, else ~/.docker ("" when there is no home directory).
func dockerConfigDir() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// loadDockerConfig reads config.json in the docker CLI's configuration
// directory. A missing file is an empty configuration.
func loadDockerConfig() (dockerConfig, error) {
	var cfg dockerConfig
	dir := dockerConfigDir()
	if dir == "" {
		return cfg, nil
	}
	name := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// registryServer returns the server under which the credentials of named's
// registry are kept: dockerHubServer for Docker Hub, hostname[:port]
// otherwise.
func registryServer(named reference.Named) string {
	host := reference.Domain(named)
	if host == "docker.io" {
		return dockerHubServer
	}
	return host
}

// serverHost returns the host of a server as config.json names it ("host",
// "host:port", "https://host/v1/", ...), with Docker Hub's names folded to
// "docker.io".
func serverHost(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return s
}

// lookup returns the value of m under server, or under a key naming the
// same host.
func lookup[V any](m map[string]V, server string) (V, bool) {
	if v, ok := m[server]; ok {
		return v, true
	}
	host := serverHost(server)
	for k, v := range m {
		if serverHost(k) == host {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// credentials returns the credentials config.json gives for server: from
// the registry's credential helper, else from the credentials store, when
// the helper's binary is on PATH, else from the "auths" entry. It returns
// the zero AuthConfig when there are none (anonymous access).
func (cfg dockerConfig) credentials(ctx context.Context, server string) (registry.AuthConfig, error) {
	helper, ok := lookup(cfg.CredHelpers, server)
	if !ok {
		helper = cfg.CredsStore
	}
	if helper != "" {
		if bin, err := exec.LookPath("docker-credential-" + helper); err == nil {
			return helperCredentials(ctx, bin, server)
		}
	}
	e, ok := lookup(cfg.Auths, server)
	if !ok {
		return registry.AuthConfig{}, nil
	}
	a := registry.AuthConfig{
		Username:      e.Username,
		Password:      e.Password,
		IdentityToken: e.IdentityToken,
		RegistryToken: e.RegistryToken,
	}
	if e.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return registry.AuthConfig{}, fmt.Errorf("docker config: credentials of %s: %w", server, err)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return registry.AuthConfig{}, fmt.Errorf("docker config: credentials of %s: auth is not user:password", server)
		}
		a.Username, a.Password = user, pass
	}
	if a == (registry.AuthConfig{}) {
		return a, nil
	}
	a.ServerAddress = server
	return a, nil
}

// helperCredentials asks a credential helper for the credentials of server,
// with the docker-credential-helpers protocol: "get" with the server on
// stdin, a JSON object on stdout. A helper that has none answers "credentials
// not found" and exits with an error, which gives the zero AuthConfig.
func helperCredentials(ctx context.Context, bin, server string) (registry.AuthConfig, error) {
	cmd := exec.CommandContext(ctx, bin, "get")
	cmd.Stdin = strings.NewReader(server)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(string(out) + " " + stderr.String())
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return registry.AuthConfig{}, nil
		}
		return registry.AuthConfig{}, fmt.Errorf("credential helper %s for %s: %w: %s", filepath.Base(bin), server, err, msg)
	}
	var creds struct {
		ServerURL string
		Username  string
		Secret    string
	}
	if err := json.Unmarshal(out, &creds); err != nil {
		return registry.AuthConfig{}, fmt.Errorf("credential helper %s for %s: %w", filepath.Base(bin), server, err)
	}
	if creds.Username == "" && creds.Secret == "" {
		return registry.AuthConfig{}, nil
	}
	a := registry.AuthConfig{ServerAddress: server}
	if creds.Username == "<token>" {
		// docker login stores identity tokens under this user name.
		a.IdentityToken = creds.Secret
	} else {
		a.Username, a.Password = creds.Username, creds.Secret
	}
	return a, nil
}

// allCredentials returns the credentials of every registry config.json
// names, by server, for the builder to pull base images with. Registries
// whose credentials cannot be read are left out, as the docker CLI does.
func (cfg dockerConfig) allCredentials(ctx context.Context) map[string]registry.AuthConfig {
	servers := map[string]bool{}
	for s := range cfg.Auths {
		servers[s] = true
	}
	for s := range cfg.CredHelpers {
		servers[s] = true
	}
	all := map[string]registry.AuthConfig{}
	for s := range servers {
		if a, err := cfg.credentials(ctx, s); err == nil && a != (registry.AuthConfig{}) {
			all[s] = a
		}
	}
	return all
}

// encodeAuth encodes credentials for the X-Registry-Auth header: base64url
// of their JSON. No credentials (anonymous access) encode "{}": engines
// before 23.0 refuse a push without the header.
func encodeAuth(a registry.AuthConfig) (string, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// registryAuth returns the X-Registry-Auth value for the registry of named.
func registryAuth(ctx context.Context, named reference.Named) (string, error) {
	cfg, err := loadDockerConfig()
	if err != nil {
		return "", err
	}
	a, err := cfg.credentials(ctx, registryServer(named))
	if err != nil {
		return "", err
	}
	return encodeAuth(a)
}
