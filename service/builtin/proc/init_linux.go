package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/archive"
	"github.com/berthdev/berth/service/builtin/confine"
	"golang.org/x/sys/unix"
)

// InitMain is the container's init: PID 1 of the new namespaces, until it
// execs the container's command. It reads its InitConfig from fd 3 and
// reports failure on fd 4 ("<exit code> <message>"); fd 4 is close-on-exec,
// so a successful exec closes it with nothing written.
func InitMain() int {
	cfgFile, status := os.NewFile(3, "config"), os.NewFile(4, "status")
	unix.CloseOnExec(4)
	fail := func(code int, err error) int {
		fmt.Fprintf(status, "%d %v", code, err)
		return code
	}
	var c InitConfig
	if err := json.NewDecoder(cfgFile).Decode(&c); err != nil {
		return fail(128, fmt.Errorf("container init: read config: %w", err))
	}
	cfgFile.Close()
	if c.JoinNetNS {
		// Namespaces are per thread: this one does everything from here
		// on, the exec included.
		runtime.LockOSThread()
		if err := unix.Setns(5, unix.CLONE_NEWNET); err != nil {
			return fail(128, fmt.Errorf("join the network namespace: %w", err))
		}
		unix.Close(5)
	}
	unix.Umask(0)
	if err := c.setupRoot(); err != nil {
		return fail(128, err)
	}
	unix.Umask(0o022)
	if err := c.enter(); err != nil {
		code := 128
		var se *StartError
		if errors.As(err, &se) {
			code = se.Code
		}
		return fail(code, err)
	}
	return 0 // not reached: enter execs
}

// setupRoot mounts the container's filesystem and pivots into it.
func (c *InitConfig) setupRoot() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// Relative lower dirs keep the mount options short.
	if err := os.Chdir(c.LayersDir); err != nil {
		return err
	}
	lower := make([]string, 0, len(c.Layers))
	for _, l := range slices.Backward(c.Layers) {
		lower = append(lower, l)
	}
	if len(lower) == 0 {
		if err := os.MkdirAll("empty", 0o755); err != nil {
			return err
		}
		lower = []string{"empty"}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), c.Upper, c.Work)
	if err := unix.Mount("overlay", c.Merged, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount the root filesystem (overlay): %w", err)
	}
	rootfd, err := unix.Open(c.Merged, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	m := &mounter{root: rootfd}

	type mnt struct {
		src, target, fstype string
		flags               uintptr
		data                string
		file                bool
	}
	std := []mnt{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
		{"tmpfs", "/dev", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k", false},
	}
	for _, s := range std {
		if err := m.mount(s.src, s.target, s.fstype, s.flags, s.data, s.file); err != nil {
			return err
		}
	}
	if err := m.populateDev(c); err != nil {
		return err
	}
	shm := "mode=1777,size=65536k"
	if c.ShmSize > 0 {
		shm = fmt.Sprintf("mode=1777,size=%d", c.ShmSize)
	}
	more := []mnt{
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", false},
		{"shm", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, shm, false},
		{"mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	}
	for _, s := range more {
		if err := m.mount(s.src, s.target, s.fstype, s.flags, s.data, s.file); err != nil {
			return err
		}
	}
	sysFlags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if !c.Privileged {
		sysFlags |= unix.MS_RDONLY
	}
	if err := m.mount("sysfs", "/sys", "sysfs", sysFlags, "", false); err != nil {
		// A network namespace shared with the host (network_mode: host)
		// may refuse a new sysfs: bind the host's, read-only.
		if err := m.bind("/sys", "/sys", true, !c.Privileged, "rprivate"); err != nil {
			return err
		}
	}
	for name, host := range c.EtcFiles {
		if err := m.bind(host, "/etc/"+name, true, false, "rprivate"); err != nil {
			return err
		}
	}
	mounts := slices.Clone(c.Mounts)
	slices.SortStableFunc(mounts, func(a, b Mount) int {
		return strings.Count(path.Clean(a.Target), "/") - strings.Count(path.Clean(b.Target), "/")
	})
	for _, mt := range mounts {
		var err error
		switch mt.Type {
		case "tmpfs":
			flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
			if mt.ReadOnly {
				flags |= unix.MS_RDONLY
			}
			err = m.mount("tmpfs", mt.Target, "tmpfs", flags, mt.Data, false)
		default:
			st, serr := os.Stat(mt.Source)
			if serr != nil {
				return fmt.Errorf("mount %s: %w", mt.Target, serr)
			}
			if mt.Populate {
				if err := populate(c.Merged, mt.Target, mt.Source); err != nil {
					return fmt.Errorf("volume at %s: fill it from the image: %w", mt.Target, err)
				}
			}
			err = m.bind(mt.Source, mt.Target, !st.IsDir(), mt.ReadOnly, mt.Propagation)
		}
		if err != nil {
			return err
		}
	}
	for k, v := range c.Sysctls {
		p := filepath.Join(c.Merged, "proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	if !c.Privileged {
		if err := m.harden(); err != nil {
			return err
		}
	}
	if c.Init {
		if err := m.bind(c.InitBinary, "/dev/init", true, true, "rprivate"); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}

	if c.MountPoints != "" {
		// A build step's changes are read from the upper directory: say
		// which of its entries are the runtime's, not the step's.
		b, _ := json.Marshal(m.created)
		if err := os.WriteFile(c.MountPoints, b, 0o600); err != nil {
			return fmt.Errorf("record the mount points: %w", err)
		}
	}
	if err := os.Chdir(c.Merged); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if c.ReadOnly {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make the root filesystem read-only: %w", err)
		}
	}
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if c.Domainname != "" {
		if err := unix.Setdomainname([]byte(c.Domainname)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	return nil
}

// mounter mounts inside the container's root, resolving every target in
// it (openat2 RESOLVE_IN_ROOT), so that a symbolic link in the image
// cannot redirect a mount onto the host.
type mounter struct {
	root int
	// created are the mount points the mounter made, in order.
	created []string
}

// target opens (creating it when missing) the mount point p in the root.
func (m *mounter) target(p string, file bool) (int, error) {
	p = path.Clean("/" + p)
	dir := "/"
	fd, err := unix.Openat2(m.root, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return -1, err
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, part := range parts {
		if part == "" {
			continue
		}
		last := i == len(parts)-1
		next := path.Join(dir, part)
		how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
		nfd, err := unix.Openat2(m.root, next, how)
		if errors.Is(err, unix.ENOENT) {
			// Create it in the parent, which is resolved in the root.
			if last && file {
				var f int
				f, err = unix.Openat(fd, part, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
				if err == nil {
					unix.Close(f)
				}
			} else {
				err = unix.Mkdirat(fd, part, 0o755)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, fmt.Errorf("create mount point %s: %w", next, err)
			}
			if err == nil {
				m.created = append(m.created, next)
			}
			nfd, err = unix.Openat2(m.root, next, how)
		}
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("mount point %s: %w", next, err)
		}
		fd, dir = nfd, next
	}
	return fd, nil
}

func (m *mounter) mount(src, target, fstype string, flags uintptr, data string, file bool) error {
	fd, err := m.target(target, file)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mount(src, procFd(fd), fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

// bind bind-mounts the host path src (recursively) at target, read-only
// when asked, with the given propagation.
func (m *mounter) bind(src, target string, file, readOnly bool, propagation string) error {
	fd, err := m.target(target, file)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	dst := procFd(fd)
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	// The fd still names the mount point under the new mount: reopen.
	nfd, err := m.target(target, file)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	dst = procFd(nfd)
	if readOnly {
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", target, err)
		}
	}
	prop := map[string]uintptr{
		"": unix.MS_PRIVATE | unix.MS_REC, "rprivate": unix.MS_PRIVATE | unix.MS_REC, "private": unix.MS_PRIVATE,
		"rshared": unix.MS_SHARED | unix.MS_REC, "shared": unix.MS_SHARED,
		"rslave": unix.MS_SLAVE | unix.MS_REC, "slave": unix.MS_SLAVE,
	}
	flag, ok := prop[propagation]
	if !ok {
		return fmt.Errorf("bind %s: unknown propagation %q", target, propagation)
	}
	if err := unix.Mount("", dst, "", flag, ""); err != nil {
		return fmt.Errorf("set propagation of %s: %w", target, err)
	}
	return nil
}

// populateDev creates docker's minimal /dev: the standard nodes and links.
func (m *mounter) populateDev(c *InitConfig) error {
	dev, err := m.target("/dev", false)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	devPath := procFd(dev)
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	for _, n := range nodes {
		if err := unix.Mknod(filepath.Join(devPath, n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("create /dev/%s: %w", n.name, err)
		}
	}
	links := [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"}}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(devPath, l[1])); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// Docker's masked and read-only paths of a container that is not
// privileged.
var (
	maskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// harden masks and write-protects docker's list of /proc and /sys paths.
func (m *mounter) harden() error {
	for _, p := range maskedPaths {
		fd, err := unix.Openat2(m.root, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
		if err != nil {
			continue // absent on this kernel
		}
		var st unix.Stat_t
		_ = unix.Fstat(fd, &st)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Mount("tmpfs", procFd(fd), "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = unix.Mount("/dev/null", procFd(fd), "", unix.MS_BIND, "")
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range readonlyPaths {
		fd, err := unix.Openat2(m.root, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
		if err != nil {
			continue
		}
		err = unix.Mount(procFd(fd), procFd(fd), "", unix.MS_BIND|unix.MS_REC, "")
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("bind %s: %w", p, err)
		}
		fd, err = unix.Openat2(m.root, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
		if err != nil {
			return err
		}
		err = unix.Mount("", procFd(fd), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}

func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// populate copies what the image has at target (resolved in root) into the
// volume directory vol when vol is empty.
func populate(root, target, vol string) error {
	ents, err := os.ReadDir(vol)
	if err != nil || len(ents) > 0 {
		return err
	}
	ctx := context.Background()
	rc, err := archive.Archive(ctx, root, path.Clean("/"+target)+"/.")
	if errors.Is(err, service.ErrNotFound) {
		return nil // nothing there in the image
	} else if err != nil {
		return err
	}
	defer rc.Close()
	return archive.Extract(ctx, vol, "/", rc)
}

// enter drops to the container's user and capabilities and execs its
// command. It returns only on failure.
func (c *InitConfig) enter() error {
	id, err := confine.LookupUser(c.User, c.GroupAdd, os.ReadFile)
	if err != nil {
		return err
	}
	env := c.Env
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
		env = append(slices.Clone(env), "HOME="+id.Home)
	}
	if err := os.MkdirAll(c.Cwd, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("working directory %s: %w", c.Cwd, err)
	}
	if err := os.Chdir(c.Cwd); err != nil {
		return fmt.Errorf("working directory %s: %w", c.Cwd, err)
	}
	for _, u := range c.Rlimits {
		res, ok := rlimits[u.Name]
		if !ok {
			return fmt.Errorf("ulimit %q: unknown resource", u.Name)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: uint64(u.Soft), Max: uint64(u.Hard)}); err != nil {
			return fmt.Errorf("ulimit %s=%d:%d: %w", u.Name, u.Soft, u.Hard, err)
		}
	}
	argv := c.Args
	prog, err := lookPath(argv[0], env)
	if err != nil {
		return err
	}
	if c.Init {
		argv = append([]string{"/dev/init", ReaperCommand, prog}, argv...)
		prog = "/dev/init"
	}

	// Credentials and capabilities are per thread: change this thread's
	// and exec from it; the other threads die with the exec.
	runtime.LockOSThread()
	if err := c.Confine.Apply(id); err != nil {
		return err
	}
	err = syscall.Exec(prog, argv, env)
	code := 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	return &StartError{Code: code, Msg: fmt.Sprintf("exec: %q: %v", argv[0], err)}
}

// lookPath finds the command as the container's PATH says, with docker's
// messages: `exec: "x": executable file not found in $PATH`.
func lookPath(cmd string, env []string) (string, error) {
	check := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fmt.Errorf("is a directory")
		}
		if st.Mode()&0o111 == 0 {
			return fs.ErrPermission
		}
		return nil
	}
	if strings.Contains(cmd, "/") {
		if err := check(cmd); err != nil {
			code := 126
			if errors.Is(err, fs.ErrNotExist) {
				code = 127
				err = fmt.Errorf("stat %s: no such file or directory", cmd)
			} else if errors.Is(err, fs.ErrPermission) {
				err = errors.New("permission denied")
			}
			return "", &StartError{Code: code, Msg: fmt.Sprintf("exec: %q: %v", cmd, err)}
		}
		return cmd, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, cmd); check(p) == nil {
			return p, nil
		}
	}
	return "", &StartError{Code: 127, Msg: fmt.Sprintf("exec: %q: executable file not found in $PATH", cmd)}
}

// rlimits maps docker's ulimit names to resources.
var rlimits = map[string]int{
	"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE,
	"locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE,
	"nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC,
	"rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK, "as": unix.RLIMIT_AS,
}
