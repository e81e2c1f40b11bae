package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/supervise"
	"github.com/berthdev/berth/service"
)

type runOptions struct {
	rm, detach, noDeps, noTTY, tty, interactive, servicePorts, useAliases bool
	removeOrphans, quiet                                                  bool
	envFiles                                                              []string
	images                                                                imageFlags
	env, labels, volumes, publish, capAdd, capDrop                        []string
	name, entrypoint, user, workdir                                       string
}

func newRunCmd(g *globals) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Long: `Run a one-off container of a service, with the service's configuration and
the command given (else the service's). Its dependencies are brought up first,
as up would, unless --no-deps; they keep running afterwards. Ports are
published only with --service-ports or -p. The exit code is the command's.
Standard input is passed through (-i, on by default), so "echo x | berth run
-T svc cat" works.`,
		Example: `  berth run --rm web sh -c 'echo $HOME'
  berth run --rm -e DEBUG=1 --no-deps tests go test ./...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.tty && o.noTTY {
				return errors.New("--tty and --no-TTY can't be used together")
			}
			return runRun(cmd.Context(), g, o, args[0], args[1:], cmd.Flags().Changed("entrypoint"))
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&o.rm, "rm", false, "Remove the container when it exits")
	f.BoolVarP(&o.detach, "detach", "d", false, "Run the container in the background and print its name")
	f.BoolVar(&o.noDeps, "no-deps", false, "Don't start linked services")
	f.BoolVarP(&o.noTTY, "no-TTY", "T", false, "Don't allocate a pseudo-TTY (the default when standard input is not a terminal)")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY even when standard input is not a terminal")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "Keep standard input open")
	f.BoolVarP(&o.servicePorts, "service-ports", "P", false, "Publish the service's ports")
	f.BoolVar(&o.useAliases, "use-aliases", false, "Use the service's network aliases")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "Remove containers of services not in the compose files")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set an environment variable (KEY=VALUE, or KEY to take it from here)")
	f.StringArrayVar(&o.envFiles, "env-from-file", nil, "Set environment variables from a file (KEY=VALUE lines, as env_file; -e wins)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Don't print progress (pulls, builds, containers created); the command's output is shown")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "Add or override a label")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume (SRC:DST[:ro])")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port to the host ([IP:]HOST:CONTAINER[/proto])")
	f.StringArrayVar(&o.capAdd, "cap-add", nil, "Add a Linux capability")
	f.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop a Linux capability")
	f.StringVar(&o.name, "name", "", "Name of the container (default: project-service-run-ID)")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Override the entrypoint")
	f.StringVarP(&o.user, "user", "u", "", "Run as this user (name or uid[:gid])")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.BoolVar(&o.images.build, "build", false, "Build images before starting the container (without it, only missing images are built)")
	f.StringVar(&o.images.pull, "pull", "policy", `Pull image before running ("always"|"missing"|"never"|"policy": each service's pull_policy)`)
	f.BoolVar(&o.images.quietPull, "quiet-pull", false, "Pull without printing progress information")
	f.BoolVar(&o.images.quietBuild, "quiet-build", false, "Build without printing the builds' output")
	return cmd
}

func runRun(ctx context.Context, g *globals, o runOptions, svcName string, command []string, entrypointSet bool) error {
	if o.quiet {
		g.progress = "quiet"
		o.images.quietPull, o.images.quietBuild = true, true
	}
	p, err := g.load(ctx, []string{svcName})
	if err != nil {
		return err
	}
	svc := p.Service(svcName)
	if svc == nil {
		return fmt.Errorf("no such service: %s", svcName)
	}
	env := resolveEnv(o.env, p.Model.Environment)
	fromFiles, err := envFromFiles(o.envFiles, env)
	if err != nil {
		return err
	}
	b, closeBackend, err := g.backend(ctx)
	if err != nil {
		return err
	}
	defer closeBackend()
	// Held until the one-off container exists; not while it runs.
	unlock, err := g.lockProject(ctx, b, p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	images, err := runDeps(ctx, g, b, p, o, svcName)
	if err != nil {
		return err
	}
	pr := newProgress(g)
	pr.detached = o.detach
	code, err := supervise.Run(ctx, b, p, svc, supervise.RunOptions{
		OneOff: oneOffOptions(g, o, command, entrypointSet, append(env, fromFiles...), images[svcName]),
		Detach: o.detach, Remove: o.rm,
		DryRun: g.dryRun, PrintPlan: func(plan *reconcile.Plan) { printPlan(g, plan) },
		Apply:   reconcile.ApplyOptions{Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal},
		Created: func() { unlock(); pr.finish() },
		Stdin:   g.stdio.In, Stdout: g.stdio.Out, Stderr: g.stdio.Err,
		Terminal: terminal{g},
	})
	return exitStatus(code, err)
}

// runDeps pulls and builds the images run needs and converges networks,
// volumes and the service's dependencies as up would, the service itself
// left out (with --no-deps, every service). It returns the image IDs.
func runDeps(ctx context.Context, g *globals, b service.Backend, p *project.Project, o runOptions, svcName string) (map[string]string, error) {
	var imageScope []string
	if o.noDeps {
		imageScope = []string{svcName}
	}
	images, err := g.ensureImages(ctx, b, p, o.images, imageScope)
	if err != nil {
		return nil, err
	}
	pr := newProgress(g)
	exclude := []string{svcName}
	if o.noDeps {
		exclude = exclude[:0]
		for _, s := range p.Services {
			exclude = append(exclude, s.Name)
		}
	}
	opts := reconcile.Options{Exclude: exclude, ImageIDs: images, RemoveOrphans: o.removeOrphans, IgnoreOrphans: true}
	aopts := reconcile.ApplyOptions{Parallel: g.parallelLimit(), Progress: pr.event, Journal: g.journal, Providers: g.providerRunner(p)}
	// the dependencies already running: "Container p-db-1 Running", as
	// docker compose
	deps := map[string]bool{}
	if !o.noDeps {
		deps = upScope(p, []string{svcName}, false)
		delete(deps, svcName)
	}
	onPlan := func(plan *reconcile.Plan) {
		if !g.dryRun && len(deps) > 0 {
			pr.done("Container", "Running", runningUntouched(ctx, b, p, plan, deps))
		}
	}
	err = reconcile.Converge(ctx, b, p, opts, aopts, g.dryRun, onPlan)
	pr.finish()
	return images, err
}

// oneOffOptions are the one-off container's options run's flags give: a
// TTY when standard input is a terminal (or -t), unless -T or -d.
func oneOffOptions(g *globals, o runOptions, command []string, entrypointSet bool, env []string, imageID string) reconcile.OneOffOptions {
	slug := make([]byte, 6)
	_, _ = rand.Read(slug)
	stdinTTY := false
	if f, ok := g.stdio.In.(*os.File); ok {
		stdinTTY = term.IsTerminal(int(f.Fd()))
	}
	return reconcile.OneOffOptions{
		Name: o.name, Slug: hex.EncodeToString(slug), Command: command,
		EntrypointSet: entrypointSet, Entrypoint: o.entrypoint,
		Env: env, Labels: o.labels, User: o.user, WorkingDir: o.workdir,
		CapAdd: o.capAdd, CapDrop: o.capDrop, ServicePorts: o.servicePorts, Publish: o.publish,
		Volumes: o.volumes, HostDir: g.wd, UseAliases: o.useAliases,
		Tty:       !o.noTTY && (stdinTTY || o.tty) && !o.detach,
		OpenStdin: o.interactive && !o.detach,
		Attach:    !o.detach,
		ImageID:   imageID,
	}
}

type execOptions struct {
	detach, noTTY, forceTTY, interactive, privileged bool
	env                                              []string
	user, workdir                                    string
	index                                            int
}

func newExecCmd(g *globals) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Long:  "Run a command in a running container of the service (replica 1, or --index). A TTY is allocated when standard output is a terminal, unless -T. The exit code is the command's.",
		Example: `  berth exec db psql -U postgres
  berth exec -T web cat /etc/hostname`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), g, o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Run the command in the background")
	f.BoolVarP(&o.noTTY, "no-TTY", "T", false, "Don't allocate a pseudo-TTY (the default when standard output is not a terminal)")
	f.BoolVarP(&o.forceTTY, "tty", "t", false, "Allocate a pseudo-TTY even when standard output is not a terminal")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "Keep standard input open (--interactive=false closes it)")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the process")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringVarP(&o.user, "user", "u", "", "Run the command as this user")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory for the command")
	f.IntVar(&o.index, "index", 0, "Index of the container if the service has several replicas (default: the lowest, else a one-off run container)")
	return cmd
}

// runExec runs command in the service's running container (supervise.Exec).
func runExec(ctx context.Context, g *globals, o execOptions, svc string, command []string) error {
	s, err := g.session(ctx, []string{svc})
	if err != nil {
		return err
	}
	defer s.close()
	if _, ok := s.b.(service.Execer); !ok {
		return fmt.Errorf("this backend cannot exec: %w", service.ErrUnsupported)
	}
	target, err := runningReplica(ctx, s, svc, o.index)
	if err != nil {
		return err
	}
	tty := o.forceTTY && !o.noTTY
	if f, ok := g.stdio.Out.(*os.File); ok && !o.noTTY {
		tty = tty || term.IsTerminal(int(f.Fd()))
	}
	lookup := map[string]string{}
	if s.p != nil {
		lookup = s.p.Model.Environment
	}
	var stdin = g.stdio.In
	if !o.interactive {
		stdin = nil
	}
	code, err := supervise.Exec(ctx, s.b, target, supervise.ExecOptions{
		Spec:  service.ExecSpec{Cmd: command, Env: resolveEnv(o.env, lookup), User: o.user, WorkingDir: o.workdir, Privileged: o.privileged, Tty: tty, Detach: o.detach},
		Stdin: stdin, Stdout: g.stdio.Out, Stderr: g.stdio.Err,
		Terminal: terminal{g},
	})
	return exitStatus(code, err)
}

// followTerminalSize returns the size of the terminal on standard output
// (zero when it is none) and a channel of its later sizes (SIGWINCH),
// closed when stop is called.
func followTerminalSize(g *globals) (size service.TerminalSize, resize <-chan service.TerminalSize, stop func()) {
	f, ok := g.stdio.Out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return size, nil, func() {}
	}
	get := func() service.TerminalSize {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil || w <= 0 || h <= 0 || w > 65535 || h > 65535 {
			return service.TerminalSize{}
		}
		return service.TerminalSize{Rows: uint16(h), Cols: uint16(w)}
	}
	ch := make(chan service.TerminalSize, 1)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				select { // the newest size replaces one not yet taken
				case <-ch:
				default:
				}
				ch <- get()
			case <-done:
				close(ch)
				return
			}
		}
	}()
	return get(), ch, func() { signal.Stop(sigs); close(done) }
}

// rawTerminal puts standard input in raw mode, when it is a terminal, for a
// container with a TTY (which echoes and edits lines itself), and returns
// what restores it.
func rawTerminal(g *globals) func() {
	f, ok := g.stdio.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	state, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(int(f.Fd()), state) }
}

// resolveEnv is -e as docker compose takes it: KEY=VALUE as is, a bare KEY
// from the project's environment (the process's, .env, --env-file,
// COMPOSE_ENV_FILES), left out when it has none.
func resolveEnv(list []string, env map[string]string) []string {
	var out []string
	for _, e := range list {
		if !strings.Contains(e, "=") {
			v, ok := env[e]
			if !ok {
				continue
			}
			e += "=" + v
		}
		out = append(out, e)
	}
	return out
}
