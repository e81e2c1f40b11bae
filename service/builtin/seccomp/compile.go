package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Instruction is one classic BPF instruction, as struct sock_filter.
type Instruction struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// Program is a compiled filter, ready for Install. It is plain data: the
// runtime computes it once and hands it to the container's processes.
type Program struct {
	Instructions []Instruction
	// Flags are the SECCOMP_FILTER_FLAG_* the profile asks for.
	Flags uint
}

// The seccomp return actions (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000

	errnoEPERM = 1

	// Offsets in struct seccomp_data.
	offNr   = 0
	offArch = 4
	offArgs = 16

	x32Bit = 0x40000000
)

// filterFlags maps the profile's flag names to SECCOMP_FILTER_FLAG_*.
var filterFlags = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_LOG":                2,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW":         4,
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}

// archTables are the syscall tables of an architecture name the profile
// may list, for the machines the runtime runs on.
var archTables = map[specs.Arch]*arch.Info{
	specs.ArchX86_64:  arch.X86_64,
	specs.ArchX86:     arch.I386,
	specs.ArchX32:     arch.X32,
	specs.ArchAARCH64: arch.AARCH64,
	specs.ArchARM:     arch.ARM,
}

// runnable are the architectures whose system calls a process of this
// machine's architecture can make.
var runnable = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
}

// Compile turns a resolved profile into a filter for this machine's
// architecture. A nil profile is no filter: nil, nil.
func Compile(s *specs.LinuxSeccomp) (*Program, error) {
	return compileFor(s, runtime.GOARCH)
}

func compileFor(s *specs.LinuxSeccomp, goarch string) (*Program, error) {
	if s == nil {
		return nil, nil
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("default action: %w", err)
	}
	p := &Program{}
	for _, f := range s.Flags {
		v, ok := filterFlags[f]
		if !ok {
			return nil, fmt.Errorf("seccomp flag %q is not supported", f)
		}
		p.Flags |= v
	}
	listed := map[specs.Arch]bool{}
	for _, a := range s.Architectures {
		listed[a] = true
	}
	native := runnable[goarch]
	if len(native) == 0 {
		return nil, fmt.Errorf("seccomp: architecture %s is not supported", goarch)
	}
	if len(s.Architectures) == 0 {
		listed[native[0]] = true
	}
	// Blocks by audit arch; x32 shares x86_64's, told apart by the x32 bit.
	var a asm
	a.ld(offArch)
	for _, name := range native {
		if !listed[name] || name == specs.ArchX32 {
			continue
		}
		info := archTables[name]
		next := a.label()
		a.far(bpf.JumpEqual, uint32(info.ID), next)
		a.ld(offNr)
		if name == specs.ArchX86_64 {
			notX32 := a.label()
			inX32 := a.label()
			a.jge(x32Bit, inX32, -1)
			a.ja(notX32)
			a.set(inX32)
			if listed[specs.ArchX32] {
				if err := a.rules(s, arch.X32, def); err != nil {
					return nil, err
				}
			} else {
				a.ret(def)
			}
			a.set(notX32)
		}
		if err := a.rules(s, info, def); err != nil {
			return nil, err
		}
		a.set(next)
		a.ld(offArch)
	}
	a.ret(def)
	raw, err := a.assemble()
	if err != nil {
		return nil, err
	}
	for _, r := range raw {
		p.Instructions = append(p.Instructions, Instruction{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K})
	}
	return p, nil
}

// wireProgram is Program as JSON: the instructions as struct sock_filter
// bytes (little-endian), 8 a piece, which base64 keeps small and fast to
// decode (a filter has thousands of instructions, and every exec carries
// one).
type wireProgram struct {
	Filter []byte
	Flags  uint `json:",omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (p Program) MarshalJSON() ([]byte, error) {
	w := wireProgram{Filter: make([]byte, 0, 8*len(p.Instructions)), Flags: p.Flags}
	for _, in := range p.Instructions {
		w.Filter = binary.LittleEndian.AppendUint16(w.Filter, in.Code)
		w.Filter = append(w.Filter, in.Jt, in.Jf)
		w.Filter = binary.LittleEndian.AppendUint32(w.Filter, in.K)
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Program) UnmarshalJSON(b []byte) error {
	var w wireProgram
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if len(w.Filter)%8 != 0 {
		return fmt.Errorf("seccomp: a filter of %d bytes is not whole instructions", len(w.Filter))
	}
	p.Flags, p.Instructions = w.Flags, make([]Instruction, 0, len(w.Filter)/8)
	for f := w.Filter; len(f) > 0; f = f[8:] {
		p.Instructions = append(p.Instructions, Instruction{
			Code: binary.LittleEndian.Uint16(f), Jt: f[2], Jf: f[3], K: binary.LittleEndian.Uint32(f[4:]),
		})
	}
	return nil
}

// action is the seccomp return value of a profile action.
func action(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	e := uint32(errnoEPERM)
	if errno != nil {
		e = uint32(*errno) & 0xffff
	}
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		return retErrno | e, nil
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActTrace:
		return retTrace | e, nil
	case specs.ActLog:
		return retLog, nil
	}
	return 0, fmt.Errorf("seccomp action %q is not supported", a)
}

// rule is one profile rule for one syscall number.
type rule struct {
	ret  uint32
	args []specs.LinuxSeccompArg
}

// rules emits the tests of every syscall of the profile that the table
// knows, in the profile's order, with A holding the syscall number, and
// the default action after them.
func (a *asm) rules(s *specs.LinuxSeccomp, info *arch.Info, def uint32) error {
	var order []uint32
	byNr := map[uint32][]rule{}
	for _, sc := range s.Syscalls {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return fmt.Errorf("syscalls %v: %w", sc.Names, err)
		}
		for _, arg := range sc.Args {
			if arg.Index > 5 {
				return fmt.Errorf("syscalls %v: argument index %d: there are six", sc.Names, arg.Index)
			}
		}
		for _, name := range sc.Names {
			n, ok := info.SyscallNames[name]
			if !ok {
				continue // not on this architecture
			}
			nr := uint32(n | info.SeccompMask)
			if _, seen := byNr[nr]; !seen {
				order = append(order, nr)
			}
			byNr[nr] = append(byNr[nr], rule{ret: ret, args: sc.Args})
		}
	}
	for _, nr := range order {
		rs := byNr[nr]
		for _, r := range rs {
			if len(r.args) == 0 {
				rs = []rule{r} // supersedes the conditional ones
				break
			}
		}
		next := a.label()
		a.jeq(nr, -1, next)
		for _, r := range rs {
			fail := a.label()
			for _, arg := range r.args {
				if err := a.cond(arg, fail); err != nil {
					return err
				}
			}
			a.ret(r.ret)
			a.set(fail)
		}
		a.ret(def)
		a.set(next)
	}
	a.ret(def)
	return nil
}

// cond emits one 64-bit argument test: it falls through when the
// argument passes and jumps to fail when not. A is clobbered.
func (a *asm) cond(arg specs.LinuxSeccompArg, fail int) error {
	lo, hi := offArgs+8*uint32(arg.Index), offArgs+8*uint32(arg.Index)+4
	vlo, vhi := uint32(arg.Value), uint32(arg.Value>>32)
	pass := a.label()
	switch arg.Op {
	case specs.OpEqualTo:
		a.ld(hi)
		a.jeq(vhi, -1, fail)
		a.ld(lo)
		a.jeq(vlo, -1, fail)
	case specs.OpNotEqual:
		a.ld(hi)
		a.jeq(vhi, -1, pass)
		a.ld(lo)
		a.jeq(vlo, fail, -1)
	case specs.OpMaskedEqual:
		// (arg & Value) == ValueTwo
		mlo, mhi := vlo, vhi
		dlo, dhi := uint32(arg.ValueTwo), uint32(arg.ValueTwo>>32)
		a.ld(hi)
		a.and(mhi)
		a.jeq(dhi, -1, fail)
		a.ld(lo)
		a.and(mlo)
		a.jeq(dlo, -1, fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		a.ld(hi)
		a.jgt(vhi, pass, -1)
		a.jeq(vhi, -1, fail)
		a.ld(lo)
		if arg.Op == specs.OpGreaterThan {
			a.jgt(vlo, -1, fail)
		} else {
			a.jge(vlo, -1, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		a.ld(hi)
		a.jge(vhi, -1, pass)
		a.jeq(vhi, -1, fail)
		a.ld(lo)
		if arg.Op == specs.OpLessThan {
			a.jge(vlo, fail, -1)
		} else {
			a.jgt(vlo, fail, -1)
		}
	default:
		return fmt.Errorf("seccomp operator %q is not supported", arg.Op)
	}
	a.set(pass)
	return nil
}

// asm assembles classic BPF with forward labels. A jump target of -1 is
// the next instruction.
type asm struct {
	ins    []insn
	labels []int // label → instruction index, -1 until set
}

type insn struct {
	bpf.Instruction
	// jump: a conditional jump whose targets are labels.
	jump   bool
	cond   bpf.JumpTest
	val    uint32
	jt, jf int
	// always: an unconditional jump to label jt.
	always bool
}

func (a *asm) label() int { a.labels = append(a.labels, -1); return len(a.labels) - 1 }
func (a *asm) set(l int)  { a.labels[l] = len(a.ins) }
func (a *asm) ld(off uint32) {
	a.ins = append(a.ins, insn{Instruction: bpf.LoadAbsolute{Off: off, Size: 4}})
}
func (a *asm) and(v uint32) {
	a.ins = append(a.ins, insn{Instruction: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: v}})
}
func (a *asm) ret(v uint32) { a.ins = append(a.ins, insn{Instruction: bpf.RetConstant{Val: v}}) }
func (a *asm) j(c bpf.JumpTest, v uint32, jt, jf int) {
	a.ins = append(a.ins, insn{jump: true, cond: c, val: v, jt: jt, jf: jf})
}

// ja jumps to l, however far.
func (a *asm) ja(l int) { a.ins = append(a.ins, insn{always: true, jt: l}) }

// far goes on to the next instruction when A passes the test c against v,
// and jumps to l, however far, when not.
func (a *asm) far(c bpf.JumpTest, v uint32, l int) {
	in := a.label()
	a.j(c, v, in, -1)
	a.ja(l)
	a.set(in)
}

func (a *asm) jeq(v uint32, jt, jf int) { a.j(bpf.JumpEqual, v, jt, jf) }
func (a *asm) jgt(v uint32, jt, jf int) { a.j(bpf.JumpGreaterThan, v, jt, jf) }
func (a *asm) jge(v uint32, jt, jf int) { a.j(bpf.JumpGreaterOrEqual, v, jt, jf) }

// errTooFar is a jump over more than 255 instructions, which classic BPF
// cannot encode in a conditional jump.
var errTooFar = errors.New("seccomp: a rule is too long to compile (a jump over more than 255 instructions)")

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	const maxLen = 4096 // BPF_MAXINSNS
	if len(a.ins) > maxLen {
		return nil, fmt.Errorf("seccomp: the filter has %d instructions, the kernel takes %d", len(a.ins), maxLen)
	}
	out := make([]bpf.Instruction, len(a.ins))
	for i, in := range a.ins {
		if in.always {
			to := a.labels[in.jt]
			if to <= i {
				return nil, fmt.Errorf("seccomp: internal error: label %d not set", in.jt)
			}
			out[i] = bpf.Jump{Skip: uint32(to - i - 1)}
			continue
		}
		if !in.jump {
			out[i] = in.Instruction
			continue
		}
		skip := func(l int) (uint8, error) {
			if l < 0 {
				return 0, nil
			}
			to := a.labels[l]
			if to < 0 {
				return 0, fmt.Errorf("seccomp: internal error: label %d not set", l)
			}
			d := to - i - 1
			if d < 0 || d > 255 {
				return 0, errTooFar
			}
			return uint8(d), nil
		}
		t, err := skip(in.jt)
		if err != nil {
			return nil, err
		}
		f, err := skip(in.jf)
		if err != nil {
			return nil, err
		}
		out[i] = bpf.JumpIf{Cond: in.cond, Val: in.val, SkipTrue: t, SkipFalse: f}
	}
	return bpf.Assemble(out)
}
