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
// Images come before the plan, in reconcile/images: its EnsureImages pulls
// and builds what the services need and gives the image IDs that
// Options.ImageIDs hands the diff (a rebuilt image recreates its
// containers).
//
// It knows the runtime only through the service contract.
package reconcile
