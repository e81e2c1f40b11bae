// Package cli is berth's command line: one cobra command per subcommand,
// each parsing its flags, loading the project and calling into project,
// reconcile and a backend. Run is the whole program; cmd/berth's main only
// wires it to the process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/spf13/cobra"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/registry"
)

// version is set at build time with -ldflags "-X ...cli.version=...".
var version = "dev"

// Stdio are the standard streams a command reads and writes.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// ExitError ends the program with Code after printing Msg (if any) on
// standard error, as docker compose's StatusError does.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return "exit status " + strconv.Itoa(e.Code)
}

// globals are the flags every subcommand shares, with docker compose's names.
type globals struct {
	files       []string
	projectName string
	projectDir  string
	profiles    []string
	envFiles    []string
	progress    string
	ansi        string
	dryRun      bool
	parallel    int
	backendName string
	// verbose prints what berth decides on its own (the backend and why)
	// and internal errors' stacks; compatibility names containers
	// project_service_1; allResources keeps unused networks and volumes.
	verbose, compatibility, allResources bool

	// command is the subcommand running ("up"), for the project lock.
	command string
	// locks are the project lock files this run holds, under locksMu.
	locks   map[string]heldLock
	locksMu sync.Mutex

	stdio Stdio
	env   []string
	wd    string

	// newBackend, when set, replaces the backend --backend picks (tests
	// inject servicetest's fake through it).
	newBackend func(ctx context.Context) (service.Backend, func(), error)
}

// Run runs berth with args (without the program name) and returns the exit
// code. It never panics: an internal error is reported in one line.
func Run(ctx context.Context, args []string, stdio Stdio) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stdio.Err, "berth: working directory: %v\n", err)
		return 1
	}
	return run(ctx, args, stdio, os.Environ(), wd)
}

// run is Run with the environment and working directory given, for tests.
func run(ctx context.Context, args []string, stdio Stdio, env []string, wd string) (code int) {
	return runWith(ctx, &globals{stdio: stdio, env: env, wd: wd}, args)
}

// runWith runs berth with g's streams, environment, directory and backend.
func runWith(ctx context.Context, g *globals, args []string) (code int) {
	stdio := g.stdio
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stdio.Err, "berth: internal error: %v (please report it; set BERTH_DEBUG=1 or --verbose for details)\n", r)
			if os.Getenv("BERTH_DEBUG") != "" || g.verbose {
				fmt.Fprintf(stdio.Err, "%s\n", debug.Stack())
			}
			code = 70
		}
	}()
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(stdio.Err, ee.Msg)
		}
		return ee.Code
	}
	printError(stdio.Err, err)
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

// printError writes err on w, one problem per line, in file and line order.
func printError(w io.Writer, err error) {
	if les := project.Errors(err); len(les) > 1 {
		sort.SliceStable(les, func(i, j int) bool {
			if les[i].File != les[j].File {
				return les[i].File < les[j].File
			}
			return les[i].Line < les[j].Line
		})
		fmt.Fprintf(w, "%d problems in the compose files:\n", len(les))
		for _, le := range les {
			fmt.Fprintf(w, "  %s\n", le)
		}
		return
	}
	fmt.Fprintln(w, strings.TrimRight(err.Error(), "\n"))
}

// newRoot is berth's command tree.
func newRoot(g *globals) *cobra.Command {
	root := rootCommand(g)
	root.AddCommand(
		newConfigCmd(g),
		newVersionCmd(g),
		newUpCmd(g),
		newDownCmd(g),
		newPsCmd(g),
		newLogsCmd(g),
		newStartCmd(g),
		newStopCmd(g),
		newRestartCmd(g),
		newKillCmd(g),
		newRmCmd(g),
		newPauseCmd(g, true),
		newPauseCmd(g, false),
		newRunCmd(g),
		newExecCmd(g),
		newPortCmd(g),
		newEndpointsCmd(g),
		newGCCmd(g),
		newTestCmd(g),
		newWaitCmd(g),
		newImagesCmd(g),
		newVolumesCmd(g),
		newWatchCmd(g),
		newAttachCmd(g),
		newStatsCmd(g),
		newEventsCmd(g),
		newLsCmd(g),
		newCreateCmd(g),
		newScaleCmd(g),
		newCpCmd(g), newTopCmd(g),
		newBuildCmd(g),
		newPullCmd(g),
		newPushCmd(g),
		newDeployCmd(g),
		newImageCmd(g),
		newCommitCmd(g), newExportCmd(g),
		newPublishCmd(g),
	)
	return root
}

// rootCommand is the root command, with the global flags and without
// subcommands.
func rootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Run multi-container applications from compose files",
		Long: `berth runs the services a compose.yaml describes, like docker compose:
same files, same commands, same container names and labels, so each tool
manages the other's projects. It talks to a Docker engine when one answers
(DOCKER_HOST or /var/run/docker.sock) and otherwise runs containers itself.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		TraverseChildren:  true,
		Version:           version,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		Args:              cobra.ArbitraryArgs,
		PersistentPreRun:  func(cmd *cobra.Command, _ []string) { g.command = cmd.Name() },
		// With no command: the help. With an unknown one: an error (cobra
		// would print the help and exit 0, hiding a typo in a script).
		RunE: helpOrUnknown,
	}
	root.SetVersionTemplate("berth version {{.Version}}\n")
	bindGlobalFlags(root, g)
	return root
}

// helpOrUnknown is the root command: with no command, the help; with an
// unknown one, an error with suggestions.
func helpOrUnknown(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for \"berth\"", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return errors.New(msg + "\n\nRun 'berth --help' for the commands.")
}

// bindGlobalFlags declares the flags every command shares on root.
func bindGlobalFlags(root *cobra.Command, g *globals) {
	// Project flags go before the subcommand, as with docker compose (they
	// are not persistent: run -p is --publish, not --project-name); the
	// output and runtime flags may go anywhere.
	f := root.Flags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "Compose configuration files, merged in order (- reads standard input; default: COMPOSE_FILE, else compose.yaml found here or in a parent)")
	f.StringVarP(&g.projectName, "project-name", "p", "", "Project name (default: COMPOSE_PROJECT_NAME, the file's name:, or the project directory's name)")
	f.StringVar(&g.projectDir, "project-directory", "", "Alternate working directory (default: the directory of the first compose file)")
	f.StringArrayVar(&g.profiles, "profile", nil, "Enable a profile (repeatable; default: COMPOSE_PROFILES)")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "Alternate environment file for interpolation (repeatable; default: COMPOSE_ENV_FILES, else .env)")
	pf := root.PersistentFlags()
	pf.StringVar(&g.progress, "progress", "", "Progress output: auto, tty, plain, json or quiet (default: COMPOSE_PROGRESS, else auto)")
	pf.StringVar(&g.ansi, "ansi", "auto", "Control characters: never, always or auto")
	pf.BoolVar(&g.dryRun, "dry-run", false, "Print what would change, change nothing")
	pf.IntVar(&g.parallel, "parallel", -1, "Maximum parallel engine operations (default: COMPOSE_PARALLEL_LIMIT, else 32)")
	pf.StringVar(&g.backendName, "backend", "", "Container runtime: engine (the Docker engine at DOCKER_HOST or /var/run/docker.sock) or builtin (berth's own, state in BERTH_ROOT, default /var/lib/berth); default: BERTH_BACKEND, else engine when one answers, else builtin")
	f.BoolVar(&g.compatibility, "compatibility", false, "Run in backward compatibility mode: container names with \"_\" (project_service_1), as docker compose v1 (default: COMPOSE_COMPATIBILITY)")
	f.BoolVar(&g.allResources, "all-resources", false, "Include all resources, even those not used by services (networks, volumes)")
	f.BoolVar(&g.verbose, "verbose", false, "Show more output: the container runtime chosen and why, internal errors' stacks")
	f.StringVar(&g.projectDir, "workdir", "", "Deprecated alias of --project-directory")
	_ = f.MarkHidden("workdir")

}

// loadOptions are the project.Options the global flags and environment say.
func (g *globals) loadOptions(services []string) project.Options {
	profiles := g.profiles
	return project.Options{
		Files:       g.files,
		ProjectName: g.projectName,
		ProjectDir:  g.projectDir,
		Profiles:    profiles,
		EnvFiles:    g.envFiles,
		Services:    services,
		Env:         g.envWithDotEnv(),
		WorkingDir:  g.wd,
		CacheDir:    g.cacheDir(),

		AllResources:  g.allResources,
		Compatibility: g.compatibility || truthy(g.getenv("COMPOSE_COMPATIBILITY")),
		// -f oci://REGISTRY/REPO:TAG, as docker compose (see publish)
		ResourceLoaders: []loader.ResourceLoader{&registry.ComposeLoader{CacheDir: ociCacheDir()}},
	}
}

// ociCacheDir holds the compose artifacts -f oci:// pulls.
func ociCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "berth-oci")
	}
	return filepath.Join(d, "berth", "oci")
}

// envWithDotEnv is the process environment plus the COMPOSE_* variables the
// project's .env sets, so that .env configures berth as it does docker compose.
func (g *globals) envWithDotEnv() []string {
	dir := g.wd
	if g.projectDir != "" {
		dir = g.projectDir
	}
	env := append([]string{}, g.env...)
	for k, v := range project.DotEnvComposeVars(g.envFiles, dir, g.env) {
		env = append(env, k+"="+v)
	}
	return env
}

// getenv looks a variable up in the environment berth runs with (the
// process's, plus the COMPOSE_* variables of the project's .env).
func (g *globals) getenv(key string) string {
	v := ""
	for _, kv := range g.envWithDotEnv() {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// load loads the project the global flags describe, restricted to services
// (and their dependencies) when some are named.
func (g *globals) load(ctx context.Context, services []string) (*project.Project, error) {
	return project.Load(ctx, g.loadOptions(services))
}

// cacheDir is the validation cache's directory, "" when BERTH_NO_CACHE is set.
func (g *globals) cacheDir() string {
	if truthy(g.getenv("BERTH_NO_CACHE")) {
		return ""
	}
	return project.DefaultCacheDir()
}
