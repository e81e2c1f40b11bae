// Package reconcile converges what runs toward what the compose files
// describe: Observe lists what is live (one list per kind, by the project
// label), Diff compares it with the desired state and makes a Plan — a DAG
// of steps, each one backend call with the Cause that makes it necessary —
// and Apply walks the plan in dependency order with bounded parallelism.
// Diff is a pure function: the plan can be printed (--dry-run) and tested
// without a runtime. `down` is a plan toward an empty project.
//
// Images come before the plan: EnsureImages pulls and builds what the
// services need, by their pull policies, and gives the image IDs the plan
// compares with the containers' (a rebuilt image recreates its
// containers). Build, PullImages and PushImages are the build, pull and
// push commands; BuildContext makes the tar stream of a build context as
// the docker CLI does (.dockerignore included).
//
// It knows the runtime only through the service contract.
package reconcile
