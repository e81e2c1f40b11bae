package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// dockerCaps is docker's default capability set.
var dockerCaps = []string{"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}

// run evaluates the program on one system call as the kernel would: the
// classic BPF VM loads big-endian words, so each 32-bit field is written
// big-endian at its native (little-endian) offset.
func run(t *testing.T, p *Program, auditArch uint32, nr int, args ...uint64) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(p.Instructions))
	for i, in := range p.Instructions {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("the program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], uint32(nr))
	binary.BigEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[16+8*i+4:], uint32(a>>32))
	}
	v, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

func TestDefaultProfile(t *testing.T) {
	const (
		allow  = retAllow
		eperm  = retErrno | 1
		enosys = retErrno | 38
	)
	x64 := uint32(arch.X86_64.ID)
	nr := func(name string) int { return arch.X86_64.SyscallNames[name] }
	const cloneNewUser, cloneVfork, afInet, afVsock = 0x10000000, 0x4000, 2, 40
	tests := []struct {
		name string
		caps []string
		arch uint32
		nr   int
		args []uint64
		want uint32
	}{
		{"read", dockerCaps, x64, nr("read"), nil, allow},
		{"mount without SYS_ADMIN", dockerCaps, x64, nr("mount"), nil, eperm},
		{"mount with SYS_ADMIN", append(dockerCaps, "SYS_ADMIN"), x64, nr("mount"), nil, allow},
		{"clock_settime without SYS_TIME", dockerCaps, x64, nr("clock_settime"), nil, eperm},
		{"clock_settime with SYS_TIME", append(dockerCaps, "SYS_TIME"), x64, nr("clock_settime"), nil, allow},
		{"reboot", dockerCaps, x64, nr("reboot"), nil, eperm},
		{"keyctl", dockerCaps, x64, nr("keyctl"), nil, eperm},
		{"add_key", dockerCaps, x64, nr("add_key"), nil, eperm},
		{"bpf", dockerCaps, x64, nr("bpf"), nil, eperm},
		{"unshare", dockerCaps, x64, nr("unshare"), []uint64{cloneNewUser}, eperm},
		{"clone vfork", dockerCaps, x64, nr("clone"), []uint64{cloneVfork | 17}, allow},
		{"clone new user ns", dockerCaps, x64, nr("clone"), []uint64{cloneNewUser | 17}, eperm},
		{"clone flags in the high half ignored", dockerCaps, x64, nr("clone"), []uint64{1<<40 | 17}, allow},
		{"clone3 is ENOSYS", dockerCaps, x64, nr("clone3"), nil, enosys},
		{"socket AF_INET", dockerCaps, x64, nr("socket"), []uint64{afInet}, allow},
		{"socket AF_VSOCK", dockerCaps, x64, nr("socket"), []uint64{afVsock}, eperm},
		{"personality query", dockerCaps, x64, nr("personality"), []uint64{0xffffffff}, allow},
		{"personality other", dockerCaps, x64, nr("personality"), []uint64{1}, eperm},
		{"unknown number", dockerCaps, x64, 5000, nil, eperm},
		{"i386 read", dockerCaps, uint32(arch.I386.ID), arch.I386.SyscallNames["read"], nil, allow},
		{"i386 mount", dockerCaps, uint32(arch.I386.ID), arch.I386.SyscallNames["mount"], nil, eperm},
		{"x32 read", dockerCaps, x64, arch.X32.SyscallNames["read"] | x32Bit, nil, allow},
		{"x32 mount", dockerCaps, x64, arch.X32.SyscallNames["mount"] | x32Bit, nil, eperm},
		{"unknown arch", dockerCaps, 0x1234, nr("read"), nil, eperm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof, err := Default(tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			p, err := compileFor(prof, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			if got := run(t, p, tt.arch, tt.nr, tt.args...); got != tt.want {
				t.Errorf("got %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestOperators(t *testing.T) {
	x64 := uint32(arch.X86_64.ID)
	nr := arch.X86_64.SyscallNames["ioctl"]
	big := uint64(1) << 33
	tests := []struct {
		op   specs.LinuxSeccompOperator
		val  uint64
		val2 uint64
		arg  uint64
		want bool
	}{
		{specs.OpEqualTo, 7, 0, 7, true},
		{specs.OpEqualTo, 7, 0, 7 | big, false},
		{specs.OpNotEqual, 7, 0, 7, false},
		{specs.OpNotEqual, 7, 0, 7 | big, true},
		{specs.OpNotEqual, 7, 0, 8, true},
		{specs.OpGreaterThan, big, 0, big, false},
		{specs.OpGreaterThan, big, 0, big + 1, true},
		{specs.OpGreaterThan, big, 0, 5, false},
		{specs.OpGreaterThan, 5, 0, big, true},
		{specs.OpGreaterEqual, big, 0, big, true},
		{specs.OpGreaterEqual, big, 0, big - 1, false},
		{specs.OpLessThan, big, 0, big - 1, true},
		{specs.OpLessThan, big, 0, big, false},
		{specs.OpLessThan, 5, 0, big, false},
		{specs.OpLessEqual, big, 0, big, true},
		{specs.OpLessEqual, big, 0, big + 1, false},
		{specs.OpLessEqual, 5, 0, 4, true},
		{specs.OpMaskedEqual, 0xf0 | big, 0x30 | big, 0x3f | big, true},
		{specs.OpMaskedEqual, 0xf0 | big, 0x30 | big, 0x3f, false},
		{specs.OpMaskedEqual, 0xf0, 0x30, 0x4f, false},
	}
	for _, tt := range tests {
		prof := &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"ioctl"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 2, Op: tt.op, Value: tt.val, ValueTwo: tt.val2}}}},
		}
		p, err := compileFor(prof, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		got := run(t, p, x64, nr, 0, 0, tt.arg) == retAllow
		if got != tt.want {
			t.Errorf("%s %#x (%#x) on %#x: got %v, want %v", tt.op, tt.val, tt.val2, tt.arg, got, tt.want)
		}
	}
}

func TestUnconditionalSupersedes(t *testing.T) {
	prof := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"ioctl"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
			{Names: []string{"ioctl", "no_such_syscall"}, Action: specs.ActLog},
		},
	}
	p, err := compileFor(prof, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, p, uint32(arch.X86_64.ID), arch.X86_64.SyscallNames["ioctl"], 1); got != retLog {
		t.Errorf("got %#x, want the unconditional rule's log", got)
	}
}

func TestRejects(t *testing.T) {
	for _, prof := range []*specs.LinuxSeccomp{
		{DefaultAction: "SCMP_ACT_NOPE"},
		{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}},
		{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_WHAT"}}}}},
	} {
		if _, err := compileFor(prof, "amd64"); err == nil {
			t.Errorf("%+v compiled", prof)
		}
	}
	if p, err := Compile(nil); p != nil || err != nil {
		t.Errorf("nil profile: %v, %v", p, err)
	}
}

func TestProgramJSON(t *testing.T) {
	prof, err := Default(dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := compileFor(prof, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Program
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Instructions, p.Instructions) || back.Flags != p.Flags {
		t.Error("the program changed through JSON")
	}
	if len(b) > 12*len(p.Instructions) {
		t.Errorf("%d instructions take %d bytes of JSON", len(p.Instructions), len(b))
	}
	if err := json.Unmarshal([]byte(`{"Filter":"AAAA"}`), &back); err == nil {
		t.Error("a filter of 3 bytes was taken")
	}
}

func TestLoadJSON(t *testing.T) {
	prof, err := Load([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := compileFor(prof, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	x64 := uint32(arch.X86_64.ID)
	if got := run(t, p, x64, arch.X86_64.SyscallNames["mkdirat"]); got != retErrno|1 {
		t.Errorf("mkdirat: %#x", got)
	}
	if got := run(t, p, x64, arch.X86_64.SyscallNames["mount"]); got != retAllow {
		t.Errorf("mount: %#x", got)
	}
	if _, err := Load([]byte(`{"defaultAction":`), nil); err == nil {
		t.Error("a broken profile loaded")
	}
}

// FuzzProfile feeds arbitrary profiles (docker's JSON format, as
// security_opt seccomp=<file> gives them) to the loader and the compiler:
// either an error or a program the kernel would take, never a panic.
func FuzzProfile(f *testing.F) {
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],` +
		`"syscalls":[{"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":21505,"valueTwo":0,"op":"SCMP_CMP_EQ"},` +
		`{"index":0,"value":255,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_KILL_PROCESS","flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_LOG"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		prof, err := Load(body, dockerCaps)
		if err != nil {
			return
		}
		p, err := compileFor(prof, "amd64")
		if err != nil || p == nil {
			return
		}
		if len(p.Instructions) == 0 || len(p.Instructions) > 4096 {
			t.Fatalf("%d instructions", len(p.Instructions))
		}
		raw := make([]bpf.RawInstruction, len(p.Instructions))
		for i, in := range p.Instructions {
			raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatal("the program does not disassemble")
		}
		if _, err := bpf.NewVM(ins); err != nil {
			t.Fatalf("the program is not valid BPF: %v", err)
		}
	})
}
