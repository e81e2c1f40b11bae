// Package seccomp gives the built-in runtime docker's seccomp confinement
// without cgo: docker's own profiles (its default profile and its JSON
// format, through github.com/moby/profiles/seccomp, which also resolves a
// profile's capability and architecture conditions exactly as dockerd
// does) compiled to a classic BPF program that the kernel runs on every
// system call of the confined process.
//
// The compiler emits, per architecture the profile lists and this machine
// can run (x86_64 with i386 and x32, aarch64 with arm), a linear list of
// syscall-number tests; a syscall's rules are tried in order, each rule's
// argument conditions ANDed, 64-bit comparisons done on both halves as
// libseccomp does; a syscall with an unconditional rule takes that rule
// (libseccomp's "an unconditional rule supersedes the conditional ones").
// Unknown syscall names are skipped, as libseccomp skips names the
// architecture does not have. Any other architecture gets the default
// action.
package seccomp
