// Package provider runs the compose spec's provider services: a service
// with a provider: key is not a container but a binary (a docker CLI plugin
// docker-<type>, or <type> on PATH) that berth calls as docker compose does,
// "<binary> compose --project-name=P up --opt=value… SERVICE" (and down,
// and stop when the binary's metadata declares it), reading JSON lines from
// its standard output: info (progress), error (failure), setenv and
// rawsetenv (variables for the services that depend on it), debug. The
// protocol is docker compose's docs/extension.md.
package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/project"
)

// Commands a provider is run with.
const (
	Up   = "up"
	Down = "down"
	Stop = "stop"
)

// maxMessage bounds a provider's metadata; maxOutput all it writes on
// standard output while it runs.
const (
	maxMessage = 1 << 20
	maxOutput  = 16 << 20
)

// Runner finds and runs provider binaries.
type Runner struct {
	// Env is the environment the binary runs with (the project's
	// environment, as docker compose passes it).
	Env map[string]string
	// PluginDirs are the docker CLI plugin directories searched for
	// docker-<type> before PATH; nil means docker's defaults
	// (DefaultPluginDirs).
	PluginDirs []string
	// Debug, if set, receives the provider's debug messages.
	Debug func(service, msg string)
}

// DefaultPluginDirs are the docker CLI's plugin directories: the user's
// ($DOCKER_CONFIG or ~/.docker)/cli-plugins, then the system ones.
func DefaultPluginDirs(env map[string]string) []string {
	var dirs []string
	if d := env["DOCKER_CONFIG"]; d != "" {
		dirs = append(dirs, filepath.Join(d, "cli-plugins"))
	} else if home := env["HOME"]; home != "" {
		dirs = append(dirs, filepath.Join(home, ".docker", "cli-plugins"))
	}
	return append(dirs,
		"/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
		"/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
}

// Binary returns the path of the binary of provider type typ.
func (r *Runner) Binary(typ string) (string, error) {
	if typ == "" || typ == "compose" || strings.ContainsAny(typ, `/\`) || strings.HasPrefix(typ, ".") {
		return "", fmt.Errorf("%q is not a valid provider type", typ)
	}
	dirs := r.PluginDirs
	if dirs == nil {
		dirs = DefaultPluginDirs(r.Env)
	}
	for _, d := range dirs {
		p := filepath.Join(d, "docker-"+typ)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(typ)
	if err != nil {
		return "", fmt.Errorf("provider type %q: no docker CLI plugin docker-%s and no %s on PATH: %w", typ, typ, typ, err)
	}
	return p, nil
}

// Metadata is what "<binary> compose metadata" prints: the parameters each
// command takes. A provider without it gets every option.
type Metadata struct {
	Description string           `json:"description"`
	Up          CommandMetadata  `json:"up"`
	Down        CommandMetadata  `json:"down"`
	Stop        *CommandMetadata `json:"stop,omitempty"`
}

// CommandMetadata lists a command's parameters.
type CommandMetadata struct {
	Parameters []Parameter `json:"parameters"`
}

// Parameter is one option a provider command takes.
type Parameter struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
	Type        string `json:"type"`
	Default     string `json:"default,omitempty"`
}

func (m Metadata) empty() bool {
	return m.Description == "" && m.Up.Parameters == nil && m.Down.Parameters == nil
}

func (c CommandMetadata) has(name string) bool {
	for _, p := range c.Parameters {
		if p.Name == name {
			return true
		}
	}
	return false
}

// metadata runs "<binary> compose metadata"; a binary without it (an
// error, or output that is not the JSON document) has empty metadata.
func (r *Runner) metadata(ctx context.Context, bin string) Metadata {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "compose", "metadata")
	cmd.Env = r.environ()
	cmd.Stdout = &limited{w: &out, n: maxMessage}
	var m Metadata
	if cmd.Run() != nil || json.Unmarshal(out.Bytes(), &m) != nil {
		return Metadata{}
	}
	return m
}

// Args are the arguments docker compose passes: compose, the project name,
// the command, each option as --key=value (only those the command's
// metadata lists, unless the provider has none), the service.
func Args(projectName string, svc types.ServiceConfig, command string, md Metadata) ([]string, error) {
	cm := md.Up
	switch command {
	case Down:
		cm = md.Down
	case Stop:
		if md.Stop != nil {
			cm = *md.Stop
		}
	}
	opts := svc.Provider.Options
	if !md.empty() {
		for _, p := range cm.Parameters {
			if _, ok := opts[p.Name]; p.Required && !ok {
				return nil, fmt.Errorf("required parameter %q is missing from provider %q definition", p.Name, svc.Provider.Type)
			}
		}
	}
	args := []string{"compose", "--project-name=" + projectName, command}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !md.empty() && !cm.has(k) {
			continue
		}
		for _, v := range opts[k] {
			args = append(args, fmt.Sprintf("--%s=%s", k, v))
		}
	}
	return append(args, svc.Name), nil
}

// Run runs the provider of svc with command (Up, Down or Stop) for project
// projectName, passing info messages to info, and returns the variables
// it set. Stop runs only when the provider's metadata declares it (ran is
// false otherwise). A provider's error message, an unknown message type or
// a non-zero exit is an error naming the service.
func (r *Runner) Run(ctx context.Context, projectName string, svc types.ServiceConfig, command string, info func(string)) (vars project.ProviderVars, ran bool, err error) {
	if svc.Provider == nil {
		return vars, false, fmt.Errorf("service %s has no provider", svc.Name)
	}
	bin, err := r.Binary(svc.Provider.Type)
	if err != nil {
		return vars, false, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	md := r.metadata(ctx, bin)
	if command == Stop && md.Stop == nil {
		return vars, false, nil
	}
	args, err := Args(projectName, svc, command, md)
	if err != nil {
		return vars, false, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = r.environ()
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 64 << 10}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return vars, false, err
	}
	if err := cmd.Start(); err != nil {
		return vars, false, fmt.Errorf("service %s: start provider %s: %w", svc.Name, bin, err)
	}
	vars, perr := r.read(out, svc.Name, info)
	if perr != nil {
		_ = cmd.Process.Kill()
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		return project.ProviderVars{}, true, fmt.Errorf("service %s: provider %s %s: %w", svc.Name, svc.Provider.Type, command, perr)
	}
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			msg = ": " + msg
		}
		return project.ProviderVars{}, true, fmt.Errorf("service %s: provider %s %s failed: %w%s", svc.Name, svc.Provider.Type, command, err, msg)
	}
	return vars, true, nil
}

// read decodes the provider's JSON lines.
func (r *Runner) read(out io.Reader, svc string, info func(string)) (project.ProviderVars, error) {
	vars := project.ProviderVars{Prefixed: map[string]string{}, Raw: map[string]string{}}
	// a stream of JSON objects, as docker compose decodes it (one a line
	// by the protocol, but a decoder takes any layout), bounded in total
	dec := json.NewDecoder(io.LimitReader(out, maxOutput))
	for {
		var msg struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return vars, fmt.Errorf("invalid response from provider: %w", err)
		}
		switch msg.Type {
		case "error":
			return vars, errors.New(msg.Message)
		case "info":
			if info != nil {
				info(firstLine(msg.Message))
			}
		case "setenv", "rawsetenv":
			k, v, ok := strings.Cut(msg.Message, "=")
			if !ok || k == "" {
				return vars, fmt.Errorf("invalid response from provider: %s %q is not KEY=VALUE", msg.Type, msg.Message)
			}
			if msg.Type == "setenv" {
				vars.Prefixed[k] = v
			} else {
				vars.Raw[k] = v
			}
		case "debug":
			if r.Debug != nil {
				r.Debug(svc, msg.Message)
			}
		default:
			return vars, fmt.Errorf("invalid response from provider: unknown message type %q", msg.Type)
		}
	}
	return vars, nil
}

func (r *Runner) environ() []string {
	env := make([]string, 0, len(r.Env))
	for k, v := range r.Env {
		if k == "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND" {
			continue // so that a docker CLI plugin knows it runs standalone
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func firstLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if before, _, ok := strings.Cut(s, "\n"); ok {
		return before
	}
	return s
}

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	k := len(p)
	if k > l.n {
		p = p[:l.n]
	}
	l.n -= len(p)
	if len(p) > 0 {
		if _, err := l.w.Write(p); err != nil {
			return 0, err
		}
	}
	return k, nil
}
