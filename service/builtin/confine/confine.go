package confine

import "github.com/berthdev/berth/service/builtin/seccomp"

// Confinement is what every process of a container runs under — its init
// and everything started in it later (exec, healthchecks, hooks, watch
// actions) — as docker confines them: the capability sets, no_new_privs
// and the seccomp filter. The container's cgroup, namespaces, user and
// masked paths come with entering it (see package builtin's execMain).
type Confinement struct {
	// Caps are the capability numbers the process keeps (bounding set,
	// and effective and permitted for root).
	Caps       []int
	NoNewPrivs bool
	// Seccomp is the compiled filter; nil is unconfined.
	Seccomp *seccomp.Program `json:",omitempty"`
}
