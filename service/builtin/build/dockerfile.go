package build

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berthdev/berth/service"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfile is a parsed and checked Dockerfile.
type dockerfile struct {
	// escape is the escape character (the "# escape=" directive).
	escape rune
	// metaArgs are the ARG instructions before the first FROM.
	metaArgs []instructions.ArgCommand
	// stages are the stages, in order.
	stages []instructions.Stage
	// warnings are the parser's warnings, as lines.
	warnings []string
}

// parseDockerfile parses a Dockerfile with BuildKit's parser and checks
// that the built-in builder supports every instruction in it. Errors name
// the line.
func parseDockerfile(data []byte) (df *dockerfile, err error) {
	defer func() {
		// The parser is third-party code fed with user input: a panic is
		// a parse error, not a crash of the daemon.
		if r := recover(); r != nil {
			df, err = nil, fmt.Errorf("dockerfile parse error: %v", r)
		}
	}()
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, locate("dockerfile parse error", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate("dockerfile parse error", err)
	}
	if len(stages) == 0 {
		return nil, errors.New("dockerfile parse error: no FROM instruction")
	}
	df = &dockerfile{escape: res.EscapeToken, metaArgs: metaArgs, stages: stages}
	for _, w := range res.Warnings {
		df.warnings = append(df.warnings, "[WARNING]: "+w.Short)
	}
	seen := map[string]bool{}
	for i := range stages {
		s := &stages[i]
		if s.Name != "" {
			if seen[s.Name] {
				return nil, fmt.Errorf("dockerfile parse error on line %d: duplicate stage name %q", line(s.Location), s.Name)
			}
			seen[s.Name] = true
		}
		for _, c := range s.Commands {
			if err := check(c); err != nil {
				return nil, fmt.Errorf("dockerfile line %d: %w", line(c.Location()), err)
			}
		}
	}
	return df, nil
}

// locate prefixes err with what and the line it is about, when the parser
// gave one and the message does not already say it.
func locate(what string, err error) error {
	if strings.Contains(err.Error(), " line ") {
		return err
	}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%s on line %d: %w", what, le.Locations[0][0].Start.Line, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// line returns the first line of a location (0 when unknown).
func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// unsupported returns an error wrapping service.ErrUnsupported.
func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s by the built-in builder: %w", fmt.Sprintf(format, args...), service.ErrUnsupported)
}

// check reports what the built-in builder cannot do in c.
func check(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.OnbuildCommand:
		return unsupported("ONBUILD is not supported")
	case *instructions.RunCommand:
		if len(c.Files) > 0 {
			return unsupported("heredocs are not supported")
		}
		for _, f := range c.FlagsUsed {
			if f != "network" {
				return unsupported("RUN --%s is not supported", f)
			}
		}
	case *instructions.CopyCommand:
		if len(c.SourceContents) > 0 {
			return unsupported("heredocs are not supported")
		}
		if c.Parents {
			return unsupported("COPY --parents is not supported")
		}
		if len(c.ExcludePatterns) > 0 {
			return unsupported("COPY --exclude is not supported")
		}
	case *instructions.AddCommand:
		if len(c.SourceContents) > 0 {
			return unsupported("heredocs are not supported")
		}
		if c.Checksum != "" {
			return unsupported("ADD --checksum is not supported")
		}
		if c.KeepGitDir != nil {
			return unsupported("ADD --keep-git-dir is not supported")
		}
		if len(c.ExcludePatterns) > 0 {
			return unsupported("ADD --exclude is not supported")
		}
	case *instructions.EnvCommand, *instructions.LabelCommand, *instructions.MaintainerCommand,
		*instructions.WorkdirCommand, *instructions.CmdCommand, *instructions.EntrypointCommand,
		*instructions.HealthCheckCommand, *instructions.ExposeCommand, *instructions.UserCommand,
		*instructions.VolumeCommand, *instructions.StopSignalCommand, *instructions.ArgCommand,
		*instructions.ShellCommand:
	default:
		return unsupported("%s is not supported", strings.ToUpper(c.Name()))
	}
	return nil
}

// text returns an instruction's source text, as the step lines show it.
func text(c any) string {
	switch c := c.(type) {
	case *instructions.Stage:
		return c.SourceCode
	case fmt.Stringer:
		return c.String()
	}
	return fmt.Sprint(c)
}

// stageIndex returns the index of the stage a --from value or a FROM base
// names, among the first n stages: a stage name (case-insensitive) or, when
// byIndex, a stage number. -1 when it names none.
func (df *dockerfile) stageIndex(name string, n int, byIndex bool) int {
	if byIndex {
		if i, err := strconv.Atoi(name); err == nil {
			if i >= 0 && i < n {
				return i
			}
			return -1
		}
	}
	for i := 0; i < n && i < len(df.stages); i++ {
		if df.stages[i].Name != "" && strings.EqualFold(df.stages[i].Name, name) {
			return i
		}
	}
	return -1
}

// needed returns the stages the target stage depends on, itself included,
// sorted: the stages FROM names and COPY --from copies from. A --from that
// uses a variable is assumed to need every earlier stage. bases are the
// stages' expanded base names.
func (df *dockerfile) needed(target int, bases []string) []int {
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		if j := df.stageIndex(bases[i], i, false); j >= 0 {
			visit(j)
		}
		for _, c := range df.stages[i].Commands {
			cp, ok := c.(*instructions.CopyCommand)
			if !ok || cp.From == "" {
				continue
			}
			if strings.Contains(cp.From, "$") {
				for j := 0; j < i; j++ {
					visit(j)
				}
				continue
			}
			if j := df.stageIndex(cp.From, i, true); j >= 0 {
				visit(j)
			}
		}
	}
	visit(target)
	out := make([]int, 0, len(need))
	for i := range need {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}
