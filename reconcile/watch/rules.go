// Package watch is berth's file-watch development loop (berth watch, up
// --watch): the develop.watch rules of a project's services, a recursive
// file watcher with a quiet-period debounce, and the actions a batch of
// changed files asks for — sync into the service's containers, restart,
// exec a hook, or rebuild — as docker compose does (see
// ../shared/docs/compose-reference.md, section 4).
package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile/images"
)

// Rule is one develop.watch trigger of a service.
type Rule struct {
	// Service is the service the rule belongs to.
	Service string
	// Action is what a change does: sync, rebuild, restart, sync+restart,
	// sync+exec.
	Action types.WatchAction
	// Path is the watched host path, absolute; Target the container path
	// it syncs to (sync actions).
	Path, Target string
	// Exec is the hook of sync+exec.
	Exec types.ServiceHook
	// InitialSync syncs everything under Path when the watch starts.
	InitialSync bool
	// Binds are the container paths bind-mounted from the host for the
	// service: a sync there is skipped (the container already sees it).
	Binds []string

	include *patternmatcher.PatternMatcher // nil: everything
	ignore  *patternmatcher.PatternMatcher // relative to Path
	context string                         // the build context, for dockerignore
	dockerI *patternmatcher.PatternMatcher // .dockerignore, relative to context
}

// ephemeral are the editors' and tools' temporary files compose ignores
// (its EphemeralPathMatcher), and .git.
var ephemeral = []string{
	"**/___jb_*", "**/.idea", "**/.idea/**", "**/.#*", "**/#*#", "**/4913", "**/*~",
	"**/.*.swp", "**/.*.swx", "**/.*.swo", "**/.*.swn", "**/.*.kate-swp", "**/*-go-tmp-umask",
	".git", ".git/**", "**/.git", "**/.git/**",
}

// ephemeralMatcher matches the ephemeral patterns; they are valid, so
// building it cannot fail.
var ephemeralMatcher, _ = patternmatcher.New(ephemeral)

// ErrNoWatch says no selected service has a develop.watch section.
var ErrNoWatch = errors.New("none of the selected services is configured for watch, consider setting a 'develop' section")

// Rules returns the watch rules of the services (all when none are
// named), checking each: a sync action needs a target, rebuild a build
// section, sync+exec a command. ErrNoWatch when there are none.
func Rules(p *project.Project, services []string) ([]*Rule, error) {
	var out []*Rule
	for _, svc := range p.Services {
		if len(services) > 0 && !contains(services, svc.Name) {
			continue
		}
		dev := svc.Config.Develop
		if dev == nil {
			continue
		}
		var binds []string
		for _, v := range svc.Config.Volumes {
			if v.Type == types.VolumeTypeBind {
				binds = append(binds, v.Target)
			}
		}
		for i, t := range dev.Watch {
			r, err := newRule(p, svc, t, binds)
			if err != nil {
				return nil, fmt.Errorf("service %s: develop.watch[%d]: %w", svc.Name, i, err)
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoWatch
	}
	return out, nil
}

func newRule(p *project.Project, svc *project.Service, t types.Trigger, binds []string) (*Rule, error) {
	r := &Rule{Service: svc.Name, Action: t.Action, Target: t.Target, Exec: t.Exec, InitialSync: t.InitialSync, Binds: binds}
	r.Path = t.Path
	if !filepath.IsAbs(r.Path) {
		r.Path = filepath.Join(p.WorkingDir, r.Path)
	}
	r.Path = filepath.Clean(r.Path)
	switch t.Action {
	case types.WatchActionSync, types.WatchActionSyncRestart, types.WatchActionSyncExec:
		if t.Target == "" {
			return nil, fmt.Errorf("action %s needs a target", t.Action)
		}
		if t.Action == types.WatchActionSyncExec && len(t.Exec.Command) == 0 {
			return nil, errors.New("action sync+exec needs exec.command")
		}
	case types.WatchActionRebuild:
		if svc.Config.Build == nil {
			return nil, errors.New("action rebuild needs a build section")
		}
	case types.WatchActionRestart:
	default:
		return nil, fmt.Errorf("unknown action %q (sync, rebuild, restart, sync+restart, sync+exec)", t.Action)
	}
	var err error
	if len(t.Include) > 0 {
		if r.include, err = patternmatcher.New(t.Include); err != nil {
			return nil, fmt.Errorf("include: %w", err)
		}
	}
	if r.ignore, err = patternmatcher.New(append(append([]string{}, ephemeral...), t.Ignore...)); err != nil {
		return nil, fmt.Errorf("ignore: %w", err)
	}
	if svc.Config.Build != nil {
		dir, patterns, err := images.BuildIgnore(svc.Config.Build, p.WorkingDir)
		if err != nil {
			return nil, err
		}
		if dir != "" && len(patterns) > 0 {
			r.context = dir
			if r.dockerI, err = patternmatcher.New(patterns); err != nil {
				return nil, fmt.Errorf(".dockerignore: %w", err)
			}
		}
	}
	return r, nil
}

// Matches reports whether a changed host path (absolute) concerns the
// rule: under Path, included, and not ignored (by the rule, the build's
// .dockerignore, editors' temporary files, .git).
func (r *Rule) Matches(path string) bool {
	rel, ok := under(r.Path, path)
	if !ok {
		return false
	}
	if rel != "." {
		if r.include != nil {
			if m, _ := r.include.MatchesOrParentMatches(rel); !m {
				return false
			}
		}
		if m, _ := r.ignore.MatchesOrParentMatches(rel); m {
			return false
		}
	}
	if r.dockerI != nil {
		if crel, ok := under(r.context, path); ok && crel != "." {
			if m, _ := r.dockerI.MatchesOrParentMatches(crel); m {
				return false
			}
		}
	}
	// Editors' files are ignored even when the rule's path is the file
	// itself (rel is "." then); the rule's own patterns are relative to
	// its path and are not applied to the bare name.
	if m, _ := ephemeralMatcher.MatchesOrParentMatches(filepath.Base(path)); m {
		return false
	}
	return true
}

// ContainerPath is where a host path under Path goes in the container.
func (r *Rule) ContainerPath(path string) string {
	rel, _ := under(r.Path, path)
	return filepath.ToSlash(filepath.Join(r.Target, rel))
}

// bound reports whether a container path is inside one of the service's
// bind mounts.
func (r *Rule) bound(containerPath string) bool {
	for _, b := range r.Binds {
		if _, ok := under(b, containerPath); ok {
			return true
		}
	}
	return false
}

// Syncs reports whether the rule's action copies files.
func (r *Rule) Syncs() bool {
	switch r.Action {
	case types.WatchActionSync, types.WatchActionSyncRestart, types.WatchActionSyncExec:
		return true
	}
	return false
}

// under returns path relative to root, and whether it is root or below it.
func under(root, path string) (string, bool) {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
