package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Options say which compose files to load and how, mirroring docker compose's
// global flags. The zero value loads compose.yaml (or one of its alternative
// names) from the working directory or the nearest parent that has one.
type Options struct {
	// DiscardEnvFiles leaves the services' env_file out, not read, as
	// docker compose loads a project for the commands that act on existing
	// containers (ps, logs, stop, down...): a missing env file of a service
	// is then no error.
	DiscardEnvFiles bool
	// Files are the -f/--file arguments, merged in order; "-" reads standard
	// input. Empty means COMPOSE_FILE, else the discovered default file.
	Files []string
	// ProjectName is -p/--project-name; empty means COMPOSE_PROJECT_NAME, the
	// top-level name:, or the project directory's base name, in that order.
	ProjectName string
	// ProjectDir is --project-directory; empty means the first file's directory.
	ProjectDir string
	// Profiles are the --profile arguments; empty means COMPOSE_PROFILES.
	Profiles []string
	// EnvFiles are the --env-file arguments; empty means COMPOSE_ENV_FILES,
	// else the project directory's .env.
	EnvFiles []string
	// Services restricts the project to these services and their
	// dependencies, enabling their profiles as docker compose does. Empty means
	// every active service.
	Services []string
	// Env is the process environment as KEY=VALUE lines. Nil means os.Environ().
	Env []string
	// WorkingDir is the directory relative paths and file discovery start
	// from. Empty means the process's working directory.
	WorkingDir string
	// NoInterpolate turns ${VAR} interpolation off (config --no-interpolate).
	NoInterpolate bool
	// NoConsistency skips the model's consistency checks (config --no-consistency).
	NoConsistency bool
	// NoPathResolution leaves relative paths as written (config
	// --no-path-resolution).
	NoPathResolution bool
	// NoNormalize skips compose-go's normalization (config --no-normalize).
	NoNormalize bool
	// AllResources keeps networks and volumes that no selected service uses.
	AllResources bool
	// Compatibility names containers and built images as docker compose v1
	// did, with "_" (project_service_1), as --compatibility and
	// COMPOSE_COMPATIBILITY.
	Compatibility bool
	// ResourceLoaders load remote compose files (-f oci://...), as
	// compose-go's loader.ResourceLoader.
	ResourceLoaders []loader.ResourceLoader
	// CacheDir holds the validation cache (see cache.go); "" disables it.
	CacheDir string
}

// Load reads the compose files that opts name with compose-go, the reference
// loader, and derives berth's desired state from them. A broken file gives a
// *LoadError naming the file, the line where one can be found, the service and
// the key; Load reports every problem it can find in one error.
func Load(ctx context.Context, opts Options) (p *Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the compose loader failed on these files: %v", r)
		}
	}()
	po, fns, envFiles, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	files := po.ConfigPaths
	if err := guard(files, interpolationEnv(po, opts)); err != nil {
		return nil, err
	}
	key := ""
	usesOtherFiles := false
	if opts.CacheDir != "" {
		key = validationKey(po)
		if validated(opts.CacheDir, key) {
			_ = cli.WithLoadOptions(skipValidation)(po)
		}
		po.WithListeners(func(event string, _ map[string]any) {
			if event == "include" || event == "extends" {
				usesOtherFiles = true
			}
		})
	}
	model, err := po.LoadProject(ctx)
	if err == nil && key != "" && !usesOtherFiles && !validated(opts.CacheDir, key) {
		remember(opts.CacheDir, key)
	}
	if err == nil {
		if err = checkValues(model); err != nil {
			return nil, explain(err, files)
		}
	}
	if err != nil && reSchema.MatchString(err.Error()) {
		// compose-go stops at the first schema problem: list them all.
		if all := schemaProblems(files, po.Environment); all != nil {
			err = all
		}
	} else if err != nil && !opts.NoConsistency {
		// compose-go stops at the first inconsistency: load again without
		// its checks and list every one we can find.
		if all := recheck(ctx, files, fns); all != nil {
			err = all
		}
	}
	if err != nil {
		return nil, explain(err, files)
	}
	return derive(model, opts, envFiles)
}

// LoadModel loads the compose files as a raw tree, merged but neither typed
// nor (with opts.NoInterpolate) interpolated, as `config --no-interpolate`
// and `config --variables` show it.
func LoadModel(ctx context.Context, opts Options) (map[string]any, error) {
	po, _, _, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	if err := guard(po.ConfigPaths, interpolationEnv(po, opts)); err != nil {
		return nil, err
	}
	model, err := po.LoadModel(ctx)
	if err != nil {
		return nil, explain(err, po.ConfigPaths)
	}
	return model, nil
}

// interpolationEnv is the environment ${VAR} takes its values from, nil
// when interpolation is off.
func interpolationEnv(po *cli.ProjectOptions, opts Options) map[string]string {
	if opts.NoInterpolate {
		return nil
	}
	if po.Environment == nil {
		return map[string]string{}
	}
	return po.Environment
}

// prepare turns opts into compose-go's options, applied in the order docker
// compose applies them.
func prepare(opts Options) (*cli.ProjectOptions, []cli.ProjectOptionsFn, []string, error) {
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	wd := opts.WorkingDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, nil, nil, fmt.Errorf("working directory: %w", err)
		}
	}
	abs := func(f string) string {
		if f != "-" && f != "" && !filepath.IsAbs(f) && !remote(f) {
			return filepath.Join(wd, f)
		}
		return f
	}
	files := make([]string, len(opts.Files))
	for i, f := range opts.Files {
		files[i] = abs(f)
	}
	var envFiles []string
	for _, f := range opts.EnvFiles {
		envFiles = append(envFiles, abs(f))
	}
	if len(envFiles) == 0 {
		for _, f := range strings.Split(lookupEnv(env, "COMPOSE_ENV_FILES"), ",") {
			if f = strings.TrimSpace(f); f != "" {
				envFiles = append(envFiles, abs(f))
			}
		}
	}

	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(abs(opts.ProjectDir)),
		cli.WithEnv(env),
		cli.WithEnv([]string{"PWD=" + wd}),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		withConfigFileEnv(wd),
		withDefaultConfigPath(wd),
		// The project directory may only be known now: load its .env.
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(opts.Profiles...),
		cli.WithInterpolation(!opts.NoInterpolate),
		cli.WithConsistency(!opts.NoConsistency),
		cli.WithResolvedPaths(!opts.NoPathResolution),
		cli.WithNormalization(!opts.NoNormalize),
		cli.WithoutEnvironmentResolution,
	}
	if opts.ProjectName != "" {
		fns = append(fns, cli.WithName(opts.ProjectName))
	}
	for _, l := range opts.ResourceLoaders {
		fns = append(fns, cli.WithResourceLoader(l))
	}
	po, err := cli.NewProjectOptions(files, fns...)
	if err != nil {
		return nil, nil, nil, explain(err, files)
	}
	return po, fns, envFiles, nil
}

// remote reports whether a compose file is a remote resource (oci://,
// git), loaded by a ResourceLoader rather than read from disk.
func remote(file string) bool { return strings.Contains(file, "://") }

// withConfigFileEnv is cli.WithConfigFileEnv with relative COMPOSE_FILE
// entries taken from wd rather than the process's working directory.
func withConfigFileEnv(wd string) cli.ProjectOptionsFn {
	return func(o *cli.ProjectOptions) error {
		if len(o.ConfigPaths) > 0 {
			return nil
		}
		v, ok := o.Environment["COMPOSE_FILE"]
		if !ok || v == "" {
			return nil
		}
		sep := o.Environment["COMPOSE_PATH_SEPARATOR"]
		if sep == "" {
			sep = string(os.PathListSeparator)
		}
		for _, f := range strings.Split(v, sep) {
			if f == "" {
				continue
			}
			if f != "-" && !filepath.IsAbs(f) {
				f = filepath.Join(wd, f)
			}
			o.ConfigPaths = append(o.ConfigPaths, f)
		}
		return nil
	}
}

// defaultFileNames are the names docker compose looks for, in its order.
var defaultFileNames = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// overrideFileNames are the override files loaded after a discovered file.
var overrideFileNames = []string{"compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml"}

// withDefaultConfigPath finds compose.yaml (or an alternative name) in dir,
// or the project directory when one is given, or the nearest parent, plus the
// override file beside it, as cli.WithDefaultConfigPath does from the
// process's working directory.
func withDefaultConfigPath(dir string) cli.ProjectOptionsFn {
	return func(o *cli.ProjectOptions) error {
		if len(o.ConfigPaths) > 0 {
			return nil
		}
		if o.WorkingDir != "" {
			dir = o.WorkingDir
		}
		for {
			found := firstExisting(dir, defaultFileNames)
			if len(found) > 0 {
				if len(found) > 1 {
					fmt.Fprintf(os.Stderr, "WARN Found multiple config files with supported names: %s\nWARN Using %s\n", strings.Join(found, ", "), found[0])
				}
				o.ConfigPaths = append(o.ConfigPaths, found[0])
				if over := firstExisting(dir, overrideFileNames); len(over) > 0 {
					o.ConfigPaths = append(o.ConfigPaths, over[0])
				}
				return nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return &LoadError{Msg: "no configuration file provided: not found (looked for " + strings.Join(defaultFileNames, ", ") + " in this directory and its parents)"}
			}
			dir = parent
		}
	}
}

func firstExisting(dir string, names []string) []string {
	var found []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			found = append(found, p)
		}
	}
	return found
}

func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// DotEnvComposeVars returns the COMPOSE_* variables that the project's .env
// file (or the --env-file files) sets and env does not, so that .env can
// configure the CLI itself as with docker compose (COMPOSE_PROFILES,
// COMPOSE_REMOVE_ORPHANS, ...). Missing files give no error.
func DotEnvComposeVars(envFiles []string, dir string, env []string) map[string]string {
	if len(envFiles) == 0 {
		envFiles = []string{filepath.Join(dir, ".env")}
	}
	have := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			have[k] = v
		}
	}
	var existing []string
	for _, f := range envFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			existing = append(existing, f)
		}
	}
	vars, err := dotenv.GetEnvFromFile(have, existing)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range vars {
		if _, set := have[k]; !set && strings.HasPrefix(k, "COMPOSE_") {
			out[k] = v
		}
	}
	return out
}

// errNoServices is returned for a selection that names no known service.
var errNoServices = errors.New("no such service")

// selectServices applies the CLI's service selection to model as docker
// compose does: named services enable their profiles, and the project keeps
// them and their dependencies.
func selectServices(model *types.Project, names []string, all bool) (*types.Project, error) {
	for _, n := range names {
		if _, ok := model.Services[n]; ok {
			continue
		}
		if _, ok := model.DisabledServices[n]; ok {
			continue
		}
		return nil, &LoadError{Service: n, Msg: fmt.Sprintf("no such service: %s", n), err: errNoServices}
	}
	m, err := model.WithServicesEnabled(names...)
	if err != nil {
		return nil, err
	}
	m, err = m.WithSelectedServices(names)
	if err != nil {
		return nil, err
	}
	if !all {
		m = m.WithoutUnnecessaryResources()
	}
	return m, nil
}
