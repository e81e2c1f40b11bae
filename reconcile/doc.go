// Package reconcile converges what runs toward what the compose files
// describe: Observe lists what is live (one list per kind, by the project
// label), Diff compares it with the desired state and makes a Plan — a DAG
// of steps, each one backend call with the Cause that makes it necessary —
// and Apply walks the plan in dependency order with bounded parallelism.
// Diff is a pure function: the plan can be printed (--dry-run) and tested
// without a runtime. `down` is a plan toward an empty project.
//
// One name is one network: when Observe finds several networks of the
// project with one name (creates that raced on an engine before API 1.44,
// or an up killed while making them), it keeps the one with the most
// containers, else the oldest (KeepNetwork), and the plan removes the others
// by ID, with a cause, after moving the project's containers on them to the
// one kept; down removes them all. Containers join networks by ID wherever
// the plan knows it.
//
// Images come before the containers' plan, in reconcile/images: its
// EnsureImages plans and applies the pulls and builds the services need
// and gives the image IDs that Options.ImageIDs hands the diff (a rebuilt
// image recreates its containers). Work that lives in a sub-package (a
// pull, a build, a copy) is a Step carrying an Action, so Apply runs every
// change of every command under one bound and --dry-run prints it.
//
// The other commands' logic sits in sub-packages beside the diff: one-off
// containers and attached sessions (supervise), logs, the list commands
// (listing), cp (dockercp), the project lock, the reaper (gc), watch,
// berth test (testenv), providers, publish, and deploy's conversion to a
// swarm (swarm; its plans are PlanDeploy here).
//
// It knows the runtime only through the service contract.
package reconcile
