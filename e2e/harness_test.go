package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service/servicetest"
)

const (
	// commandTimeout bounds one run of berth or of the docker CLI.
	commandTimeout = 2 * time.Minute
	// engineProbeTimeout bounds the `docker info` that tells whether an
	// engine answers.
	engineProbeTimeout = 20 * time.Second
	// waitDelay is how long a finished command may keep its output pipes
	// open (through a child it left behind) before the run is cut short.
	waitDelay = 10 * time.Second

	// busyboxPath is Debian's busybox-static binary, the whole userland of
	// the test image.
	busyboxPath = "/bin/busybox"
	// busyboxRepo is the repository of the test image. Each build is tagged
	// with a hash of its content (see ensureBusyboxImage) and retagged
	// :latest.
	busyboxRepo = "berth-test/busybox"
	// imageRecipe is hashed into the content tag: change it whenever
	// servicetest.BusyboxRootfs or the import options change, so that old images are
	// not reused.
	imageRecipe = "berth-test/busybox recipe 1"
)

// Set once by TestMain, read-only afterwards.
var (
	// berthBin is the absolute path of the berth binary under test.
	berthBin string
	// engineErr says why engine tests cannot run: no engine answers, or the
	// test image could not be made. It is nil when they can.
	engineErr error
	// inCI is true under CI=true, where engine tests must not skip.
	inCI bool
)

// TestMain finds or builds the berth binary and, when a Docker engine
// answers, makes the test image once for the whole run.
func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	inCI, _ = strconv.ParseBool(os.Getenv("CI"))

	bin, cleanup, err := findBerth()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer cleanup()
	berthBin = bin

	engineErr = setUpEngine()
	if engineErr != nil {
		if inCI {
			fmt.Fprintf(os.Stderr, "e2e: CI=true but the engine tests cannot run: %v\n"+
				"e2e: `make e2e` installs and starts the engine (.ci/deps.sh); a skipped suite proves nothing, so this fails.\n", engineErr)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: engine tests will skip: %v\n", engineErr)
	}
	defer stopSwarm()
	defer func() {
		if busyboxTarPath != "" { // made by the first builtin test
			os.RemoveAll(filepath.Dir(busyboxTarPath))
		}
	}()
	return m.Run()
}

// findBerth returns the binary named by BERTH_BIN or, without it, builds
// ./cmd/berth into a temporary directory that cleanup removes.
func findBerth() (bin string, cleanup func(), err error) {
	if env := os.Getenv("BERTH_BIN"); env != "" {
		path, err := exec.LookPath(env)
		if err != nil {
			return "", nil, fmt.Errorf("BERTH_BIN: %w", err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", nil, fmt.Errorf("BERTH_BIN: %w", err)
		}
		return abs, func() {}, nil
	}

	root, err := repoRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		return "", nil, fmt.Errorf("building berth: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	bin = filepath.Join(dir, "berth")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/berth")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building berth (or set BERTH_BIN): go build ./cmd/berth: %w\n%s", err, out)
	}
	return bin, cleanup, nil
}

// repoRoot returns the nearest directory at or above the working directory
// that holds a go.mod.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("finding the repository root: no go.mod at or above %s", wd)
		}
	}
}

// setUpEngine reports whether a Docker engine answers and, if one does,
// makes sure the test image exists.
func setUpEngine() error {
	ctx, cancel := context.WithTimeout(context.Background(), engineProbeTimeout)
	defer cancel()
	if _, err := runDocker(ctx, nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		return fmt.Errorf("no docker engine answers: %w", err)
	}
	if err := ensureBusyboxImage(); err != nil {
		return fmt.Errorf("making the test image %s: %w", busyboxImage(), err)
	}
	return nil
}

// busyboxImage returns the name of the test image: Debian's static busybox
// with all its applets in /bin, /etc/passwd and /etc/group with root and
// nobody (65534), a 1777 /tmp, PATH set and CMD ["sh"]. It exists when
// requireEngine has returned.
func busyboxImage() string {
	return busyboxRepo + ":latest"
}

// ensureBusyboxImage imports the test image unless an image tagged with the
// hash of its content is already there, then tags it :latest.
func ensureBusyboxImage() error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()

	busybox, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("%w (install Debian's busybox-static: make deps)", err)
	}
	if err := checkStatic(busyboxPath); err != nil {
		return err
	}
	sum := sha256.New()
	io.WriteString(sum, imageRecipe)
	sum.Write(busybox)
	tagged := fmt.Sprintf("%s:%x", busyboxRepo, sum.Sum(nil)[:6])

	if _, err := runDocker(ctx, nil, "image", "inspect", "--format", "{{.Id}}", tagged); err != nil {
		rootfs, err := servicetest.BusyboxRootfs()
		if err != nil {
			return err
		}
		if _, err := runDocker(ctx, bytes.NewReader(rootfs), "import",
			"--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"--change", `CMD ["sh"]`,
			"-", tagged); err != nil {
			return err
		}
	}
	_, err = runDocker(ctx, nil, "tag", tagged, busyboxImage())
	return err
}

// checkStatic returns an error unless the ELF file at path is statically
// linked (has no program interpreter), as an image with no libc needs.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install Debian's busybox-static, not busybox", path)
		}
	}
	return nil
}

// requireEngine skips the test when no Docker engine is usable, or fails it
// under CI=true, where a skip would hide a broken set-up.
func requireEngine(t *testing.T) {
	t.Helper()
	if engineErr == nil {
		return
	}
	if inCI {
		t.Fatalf("CI=true and no docker engine: %v", engineErr)
	}
	t.Skipf("no docker engine: run make e2e (%v)", engineErr)
}

// docker runs the docker CLI and returns its trimmed standard output,
// failing the test if it does not exit 0.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := runDocker(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runDocker runs the docker CLI with the test process's environment and
// returns its trimmed standard output, or an error with its standard error.
func runDocker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	r := command(ctx, "", os.Environ(), stdin, "docker", args...)
	if r.code != 0 {
		return "", fmt.Errorf("docker %s: exit %d: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.stderr))
	}
	return strings.TrimSpace(r.stdout), nil
}

// result is what one run of a command gave.
type result struct {
	stdout, stderr string
	// code is the exit code, or -1 when the run did not end normally: the
	// command could not start, timed out, died of a signal, or left its
	// output open; stderr then ends with a line saying which.
	code int
}

// command runs name with args in dir (the working directory when empty)
// with exactly env, feeding it stdin (nothing when nil). It never fails:
// see result.code.
func command(ctx context.Context, dir string, env []string, stdin io.Reader, name string, args ...string) result {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = waitDelay
	err := cmd.Run()

	var r result
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited() && ctx.Err() == nil:
		r.code = exit.ExitCode()
	default:
		r.code = -1
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		fmt.Fprintf(&stderr, "\n[e2e: %s %s: %v]\n", name, strings.Join(args, " "), err)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// testProject is one test's compose project: a directory with its files and
// a project name no other test or run uses.
type testProject struct {
	// name is the project name, passed as COMPOSE_PROJECT_NAME.
	name string
	// dir is the project directory, where berth runs.
	dir string
	// env holds extra KEY=VALUE pairs for every run of berth, after (and so
	// overriding) the defaults.
	env []string
}

// newProject writes files (slash-separated relative path → content) into a
// new temporary directory and returns the project there. When the test ends,
// passed or failed, every container, network and volume labelled with the
// project's name is removed from the engine; nothing else is touched.
func newProject(t *testing.T, files map[string]string) *testProject {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		if !filepath.IsLocal(rel) {
			t.Fatalf("newProject: %q is not a relative path inside the project", rel)
		}
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &testProject{name: projectName(t.Name()), dir: dir}
	// Registered after t.TempDir, so it runs before the directory goes.
	t.Cleanup(func() {
		if err := p.removeEngineObjects(); err != nil {
			t.Errorf("cleaning up project %s: %v", p.name, err)
		}
	})
	return p
}

// projectName returns "berthe2e-<test name>-<6 random hex digits>", the test
// name lowercased, with characters outside [a-z0-9_-] replaced by '-' and
// cut to 30 characters: a valid compose project name.
func projectName(testName string) string {
	b := []byte(strings.ToLower(testName))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 30 {
		b = b[:30]
	}
	var random [3]byte
	rand.Read(random[:]) // never fails (crypto/rand)
	return fmt.Sprintf("berthe2e-%s-%x", b, random)
}

// removeEngineObjects removes the containers (with their anonymous volumes),
// networks and volumes labelled com.docker.compose.project=p.name. It does
// nothing when no engine is usable.
func (p *testProject) removeEngineObjects() error {
	if engineErr != nil {
		return nil
	}
	// The test's context is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	filter := "label=com.docker.compose.project=" + p.name
	kinds := []struct{ list, remove []string }{
		{[]string{"ps", "-aq", "--filter", filter}, []string{"rm", "-f", "-v"}},
		{[]string{"network", "ls", "-q", "--filter", filter}, []string{"network", "rm"}},
		{[]string{"volume", "ls", "-q", "--filter", filter}, []string{"volume", "rm", "-f"}},
	}
	var errs []error
	for _, k := range kinds {
		out, err := runDocker(ctx, nil, k.list...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ids := strings.Fields(out); len(ids) > 0 {
			if _, err := runDocker(ctx, nil, append(k.remove, ids...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// environ returns the environment of a berth run: the test process's, less
// the COMPOSE_* and DOCKER_* variables (but DOCKER_HOST) that would steer
// berth, plus COMPOSE_PROJECT_NAME and p.env.
func (p *testProject) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COMPOSE_") || (strings.HasPrefix(k, "DOCKER_") && k != "DOCKER_HOST") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "COMPOSE_PROJECT_NAME="+p.name)
	return append(env, p.env...)
}

// run runs berth with args in the project directory, with no standard input
// and a timeout of commandTimeout. It never fails the test: check the result.
func (p *testProject) run(args ...string) result {
	return p.runStdin("", args...)
}

// runStdin is run with stdin as berth's standard input.
func (p *testProject) runStdin(stdin string, args ...string) result {
	// Not t.Context(): runs must also work from cleanups, after it is done.
	ctx, cancel := context.WithTimeoutCause(context.Background(), commandTimeout,
		fmt.Errorf("berth ran longer than %v", commandTimeout))
	defer cancel()
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	return command(ctx, p.dir, p.environ(), in, berthBin, args...)
}

// mustRun is run that fails the test, showing both outputs, unless berth
// exits 0.
func (p *testProject) mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := p.run(args...)
	if r.code != 0 {
		t.Fatalf("berth %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// TestProjectCleanup checks that a project's cleanup removes its own
// containers, networks and volumes, and nothing of another project.
func TestProjectCleanup(t *testing.T) {
	requireEngine(t)
	other := newProject(t, nil) // the bystander; its own cleanup removes it
	create := func(t *testing.T, project string) {
		t.Helper()
		label := "com.docker.compose.project=" + project
		docker(t, "volume", "create", "--label", label, project+"-vol")
		docker(t, "network", "create", "--label", label, project+"-net")
		docker(t, "run", "-d", "--label", label, "--network", project+"-net",
			"-v", project+"-vol:/data", busyboxImage(), "sleep", "60")
	}
	count := func(t *testing.T, project string) string {
		t.Helper()
		filter := "label=com.docker.compose.project=" + project
		return fmt.Sprintf("%d %d %d",
			len(strings.Fields(docker(t, "ps", "-aq", "--filter", filter))),
			len(strings.Fields(docker(t, "network", "ls", "-q", "--filter", filter))),
			len(strings.Fields(docker(t, "volume", "ls", "-q", "--filter", filter))))
	}
	create(t, other.name)

	var mine string
	t.Run("project", func(t *testing.T) {
		p := newProject(t, map[string]string{"sub/dir/compose.yaml": "services: {}\n"})
		mine = p.name
		if _, err := os.Stat(filepath.Join(p.dir, "sub", "dir", "compose.yaml")); err != nil {
			t.Fatal(err)
		}
		create(t, p.name)
	})
	if got := count(t, mine); got != "0 0 0" {
		t.Errorf("after cleanup, project %s has %s containers, networks, volumes; want none", mine, got)
	}
	if got := count(t, other.name); got != "1 1 1" {
		t.Errorf("bystander project %s has %s containers, networks, volumes; want 1 each", other.name, got)
	}
}
