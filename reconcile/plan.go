package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/berthdev/berth/service"
)

// Op is the kind of a plan step: one backend call each (or a wait).
type Op int

// The operations a plan is made of.
const (
	OpCreateNetwork Op = iota + 1
	OpRemoveNetwork
	OpConnectNetwork
	OpDisconnectNetwork
	OpCreateVolume
	OpRemoveVolume
	OpCreateContainer
	OpStopContainer
	OpRemoveContainer
	OpRenameContainer
	OpStartContainer
	OpWait
	OpRemoveImage
	OpKillContainer
	OpPauseContainer
	OpUnpauseContainer
	OpRunProvider
	OpRunHook
	OpCommitContainer
	// The image and copy operations, carried out by the step's Action
	// (reconcile/images, reconcile/dockercp).
	OpPullImage
	OpBuildImage
	OpPushImage
	OpCopyTo
	OpCopyFrom
	// The swarm operations of berth deploy (deploy.go).
	OpCreateSwarmService
	OpUpdateSwarmService
	OpRemoveSwarmService
	OpWaitSwarmService
	OpCreateSwarmNetwork
	OpRemoveSwarmNetwork
	OpCreateSwarmSecret
	OpRemoveSwarmSecret
	OpCreateSwarmConfig
	OpRemoveSwarmConfig
)

var opNames = map[Op]string{
	OpCreateNetwork:     "create network",
	OpRemoveNetwork:     "remove network",
	OpConnectNetwork:    "connect network",
	OpDisconnectNetwork: "disconnect network",
	OpCreateVolume:      "create volume",
	OpRemoveVolume:      "remove volume",
	OpCreateContainer:   "create container",
	OpStopContainer:     "stop container",
	OpRemoveContainer:   "remove container",
	OpRenameContainer:   "rename container",
	OpStartContainer:    "start container",
	OpWait:              "wait for container",
	OpRemoveImage:       "remove image",
	OpKillContainer:     "kill container",
	OpPauseContainer:    "pause container",
	OpUnpauseContainer:  "unpause container",
	OpRunProvider:       "run provider",
	OpRunHook:           "run hook container",
	OpCommitContainer:   "commit container",
	OpPullImage:         "pull image",
	OpBuildImage:        "build image",
	OpPushImage:         "push image",
	OpCopyTo:            "copy into container",
	OpCopyFrom:          "copy from container",

	OpCreateSwarmService: "create service",
	OpUpdateSwarmService: "update service",
	OpRemoveSwarmService: "remove service",
	OpWaitSwarmService:   "wait for service",
	OpCreateSwarmNetwork: "create network",
	OpRemoveSwarmNetwork: "remove network",
	OpCreateSwarmSecret:  "create secret",
	OpRemoveSwarmSecret:  "remove secret",
	OpCreateSwarmConfig:  "create config",
	OpRemoveSwarmConfig:  "remove config",
}

// String names the operation ("create container").
func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Conditions a wait step waits for.
const (
	// CondHealthy: the container's healthcheck reports healthy.
	CondHealthy = "healthy"
	// CondCompleted: the container exited with code 0.
	CondCompleted = "completed"
	// CondRunningOrHealthy: running, and healthy if it has a healthcheck.
	CondRunningOrHealthy = "running"
)

// Step is one operation of a plan.
type Step struct {
	// ID numbers the step in the plan, from 1.
	ID int
	// Op is what the step does.
	Op Op
	// Object is the name of the container, network, volume or image acted
	// on.
	Object string
	// Service is the service the step is for, if any.
	Service string
	// Cause says why the step is needed.
	Cause string
	// Deps are the steps that must be done first.
	Deps []*Step

	// Target is the backend identifier acted on (an ID for observed
	// objects, else the name).
	Target string
	// NewName is the new name of a rename.
	NewName string
	// Network is the name of the network of connect and disconnect steps.
	Network string
	// NetworkID is that network's ID when the plan knows it (the network
	// is then addressed by ID, so that a name several networks share
	// blocks nothing).
	NetworkID string
	// Endpoint is the endpoint of a connect step.
	Endpoint service.Endpoint
	// Container is the spec of a create-container step.
	Container *service.ContainerSpec
	// Files are injected before a start step.
	Files []File
	// NetworkSpec is the spec of a create-network step.
	NetworkSpec *service.NetworkSpec
	// VolumeSpec is the spec of a create-volume step.
	VolumeSpec *service.VolumeSpec
	// Signal is what a kill step sends ("SIGKILL").
	Signal string
	// Condition is what a wait step waits for (Cond*).
	Condition string
	// Optional wait steps warn instead of failing (depends_on required: false).
	Optional bool
	// RemoveVolumes removes a container's anonymous volumes with it.
	RemoveVolumes bool
	// Hooks run in the container: after a start step (post_start), before
	// a stop step (pre_stop).
	Hooks []service.ExecSpec
	// Hook is the index of a run-hook step's pre_start hook.
	Hook int
	// Provider is the call of a run-provider step.
	Provider *ProviderCall
	// Force removes an image a container uses (image rm -f).
	Force bool
	// Action carries out the steps of the operations whose work lives in
	// a package that imports this one (pulls, builds, pushes, copies).
	Action Action
	// Commit is what a commit step makes of its container; Apply sets
	// Made to the ID of the image made once the step is done.
	Commit *service.CommitOptions
	Made   string

	// Swarm is the spec of a create- or update-service step, SwarmNetwork
	// and SwarmObject those of create-network and create-secret/config
	// steps on a swarm; Version is the version index an update quotes.
	Swarm        *service.SwarmService
	SwarmNetwork *service.SwarmNetwork
	SwarmObject  *service.SwarmObject
	Version      uint64
}

// String renders the step as "#3 create container p-web-1: cause (after #1, #2)".
func (s *Step) String() string {
	var b strings.Builder
	switch s.Op {
	case OpConnectNetwork:
		fmt.Fprintf(&b, "#%d connect container %s to network %s", s.ID, s.Object, s.Network)
	case OpDisconnectNetwork:
		fmt.Fprintf(&b, "#%d disconnect container %s from network %s", s.ID, s.Object, s.Network)
	case OpRenameContainer:
		fmt.Fprintf(&b, "#%d %s %s to %s", s.ID, s.Op, s.Object, s.NewName)
	case OpWait:
		fmt.Fprintf(&b, "#%d %s %s %s", s.ID, s.Op, s.Object, s.Condition)
	case OpRunProvider:
		fmt.Fprintf(&b, "#%d %s %s %s", s.ID, s.Op, s.Object, s.Provider.Command)
	case OpCopyTo, OpCopyFrom:
		fmt.Fprintf(&b, "#%d %s %s", s.ID, s.Op, s.Object)
		if s.Action != nil {
			fmt.Fprintf(&b, " %s", s.Action)
		}
	case OpCommitContainer:
		fmt.Fprintf(&b, "#%d %s %s", s.ID, s.Op, s.Object)
		if s.Commit != nil && s.Commit.Reference != "" {
			fmt.Fprintf(&b, " as %s", s.Commit.Reference)
		}
	default:
		fmt.Fprintf(&b, "#%d %s %s", s.ID, s.Op, s.Object)
	}
	if s.Cause != "" {
		fmt.Fprintf(&b, ": %s", s.Cause)
	}
	if len(s.Deps) > 0 {
		ids := make([]string, len(s.Deps))
		for i, d := range s.Deps {
			ids[i] = fmt.Sprintf("#%d", d.ID)
		}
		fmt.Fprintf(&b, " (after %s)", strings.Join(ids, ", "))
	}
	return b.String()
}

// Action is the work of a step that Apply cannot do itself: an image
// pull, build or push (reconcile/images) or a copy (reconcile/dockercp),
// whose code imports this package. Apply calls Run under its one bound,
// with the step's progress and failure reported as any other's. String
// says what the action does, for the plan's line (copy steps: "/src to
// /dst").
type Action interface {
	Run(ctx context.Context, b service.Backend) error
	String() string
}

// Plan is a DAG of steps that takes the runtime from what was observed to
// what is desired.
type Plan struct {
	// Steps in a dependency-respecting order.
	Steps []*Step
	// Warnings are things the user should know that need no step (orphans
	// left alone, resources reused without labels).
	Warnings []string
}

// Empty reports whether the plan does nothing.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// String renders the plan one step per line, stable for golden tests and
// --dry-run.
func (p *Plan) String() string {
	var b strings.Builder
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	for _, s := range p.Steps {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// add appends a step, numbering it, and returns it.
func (p *Plan) add(s *Step, deps ...*Step) *Step {
	s.ID = len(p.Steps) + 1
	for _, d := range deps {
		if d != nil {
			s.Deps = appendUnique(s.Deps, d)
		}
	}
	p.Steps = append(p.Steps, s)
	return s
}

// merge appends other's steps, numbered on, those without dependencies
// after the steps after.
func (p *Plan) merge(other *Plan, after ...*Step) {
	for _, s := range other.Steps {
		deps := s.Deps
		s.Deps = nil
		if len(deps) == 0 {
			deps = after
		}
		p.add(s, deps...)
	}
	p.Warnings = append(p.Warnings, other.Warnings...)
}

func appendUnique(list []*Step, s *Step) []*Step {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Add appends a step after deps, numbering it, and returns it: for the
// planners of reconcile's sub-packages.
func (p *Plan) Add(s *Step, deps ...*Step) *Step { return p.add(s, deps...) }

// Count returns how many steps of op the plan holds.
func (p *Plan) Count(op Op) int {
	n := 0
	for _, s := range p.Steps {
		if s.Op == op {
			n++
		}
	}
	return n
}
