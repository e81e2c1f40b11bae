package image

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/berthdev/berth/service"
)

// DefaultPath is the PATH a container gets when neither the image nor the
// spec sets one (docker's default).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNoCommand is returned by ApplyConfig when neither the image nor the
// spec gives a command to run.
var ErrNoCommand = errors.New("no command specified")

// ApplyConfig merges an image's config with a container spec the way docker
// does and returns the process to run:
//
//   - argv is entrypoint + command. spec.Entrypoint nil keeps the image's;
//     non-nil (even empty) replaces it, and then the image's Cmd is not used:
//     only spec.Command is. With the entrypoint kept, spec.Command nil keeps
//     the image's Cmd and non-nil (even empty) replaces it. An empty argv is
//     ErrNoCommand.
//   - env is the image's Env with spec.Env applied by key: "K=V" replaces or
//     appends K, a bare "K" removes it. PATH=DefaultPath is appended when
//     neither sets PATH.
//   - workdir is spec.WorkingDir, else the image's, else "/"; a relative
//     spec.WorkingDir is an error.
//   - user is spec.User, else the image's ("" means root).
func ApplyConfig(img Config, spec service.ContainerSpec) (argv, env []string, workdir, user string, err error) {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if spec.Entrypoint != nil {
		entrypoint, cmd = spec.Entrypoint, spec.Command
	} else if spec.Command != nil {
		cmd = spec.Command
	}
	argv = append(append([]string{}, entrypoint...), cmd...)
	if len(argv) == 0 {
		return nil, nil, "", "", ErrNoCommand
	}

	env = MergeEnv(img.Env, spec.Env)

	workdir = img.WorkingDir
	if spec.WorkingDir != "" {
		if !path.IsAbs(spec.WorkingDir) {
			return nil, nil, "", "", fmt.Errorf("working directory %q is not an absolute path", spec.WorkingDir)
		}
		workdir = spec.WorkingDir
	}
	if workdir == "" {
		workdir = "/"
	} else {
		workdir = path.Clean("/" + workdir)
	}

	user = img.User
	if spec.User != "" {
		user = spec.User
	}
	return argv, env, workdir, user, nil
}

// MergeEnv applies overrides to base by key, keeping base's order and
// appending new keys in their order: "K=V" sets K, a bare "K" removes it.
// PATH=DefaultPath is appended when the result has no PATH. Neither input
// is modified.
func MergeEnv(base, overrides []string) []string {
	out := make([]string, 0, len(base)+len(overrides)+1)
	pos := map[string]int{}
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := pos[k]; ok {
			out[i] = kv
			return
		}
		pos[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		set(kv)
	}
	for _, kv := range overrides {
		if !strings.Contains(kv, "=") {
			if i, ok := pos[kv]; ok {
				out = append(out[:i], out[i+1:]...)
				delete(pos, kv)
				for k, j := range pos {
					if j > i {
						pos[k] = j - 1
					}
				}
			}
			continue
		}
		set(kv)
	}
	if _, ok := pos["PATH"]; !ok {
		out = append(out, "PATH="+DefaultPath)
	}
	return out
}

// StopSignal returns the signal a container stops with: the spec's, else
// the image's, else "SIGTERM".
func StopSignal(img Config, spec service.ContainerSpec) string {
	switch {
	case spec.StopSignal != "":
		return spec.StopSignal
	case img.StopSignal != "":
		return img.StopSignal
	}
	return "SIGTERM"
}

// MergeHealthcheck returns the healthcheck a container runs, as docker
// merges them: the spec's fields override the image's, a spec Test of
// ["NONE"] (or an image one, when the spec sets no Test) disables it (nil),
// and nil means no healthcheck at all. Zero durations and retries are left
// for the runtime to default.
func MergeHealthcheck(img Config, spec service.ContainerSpec) *service.Healthcheck {
	var out service.Healthcheck
	if h := img.Healthcheck; h != nil {
		out = service.Healthcheck{
			Test:        append([]string(nil), h.Test...),
			Interval:    h.Interval,
			Timeout:     h.Timeout,
			StartPeriod: h.StartPeriod,
			Retries:     h.Retries,
		}
	}
	if h := spec.Healthcheck; h != nil {
		if len(h.Test) > 0 {
			out.Test = append([]string(nil), h.Test...)
		}
		if h.Interval != 0 {
			out.Interval = h.Interval
		}
		if h.Timeout != 0 {
			out.Timeout = h.Timeout
		}
		if h.StartPeriod != 0 {
			out.StartPeriod = h.StartPeriod
		}
		if h.StartInterval != 0 {
			out.StartInterval = h.StartInterval
		}
		if h.Retries != 0 {
			out.Retries = h.Retries
		}
	}
	if len(out.Test) == 0 || out.Test[0] == "NONE" {
		return nil
	}
	return &out
}
