// Package cgroup puts a container's processes in a control group with
// Docker's resource-limit semantics, on cgroup v1 and v2, in pure Go.
//
// A group named N lives at <Root>/<Parent>/N on cgroup v2 and at
// <Root>/<controller>/<Parent>/N in each of the v1 hierarchies it uses
// (memory, cpu, pids, freezer, and cpuset when a cpuset is requested). A
// hybrid host (v1 controllers plus a v2 hierarchy at <Root>/unified) is
// treated as v1. Limits follow docker run: --memory-swap is the total of
// memory and swap and defaults to twice --memory, --cpus becomes a CFS quota
// over a 100ms period, and on v2 --cpu-shares becomes cpu.weight with runc's
// conversion. Zero limits are left untouched, so calling New again on an
// existing group changes the limits that are set and keeps the others.
//
// Managing cgroups needs root. Tests can point Options.Root at a fake tree
// and set Options.Version to skip detection of the cgroup version.
package cgroup
