package project

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"go.yaml.in/yaml/v3"
)

// LoadError is a problem found in the compose files, located as precisely as
// the loader allows: the file, the line, the service and the key path.
type LoadError struct {
	// File is the compose file the problem is in, when known.
	File string
	// Line is the 1-based line of Path in File, 0 when unknown.
	Line int
	// Service is the service concerned, when there is one.
	Service string
	// Path is the dotted key path ("services.web.ports"), when known.
	Path string
	// Msg says what is wrong.
	Msg string

	err error
}

// Error renders the problem as "file:line: msg", the form editors jump to.
func (e *LoadError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap gives the loader's own error, for errors.Is.
func (e *LoadError) Unwrap() error { return e.err }

// Errors flattens err into the LoadErrors it holds.
func Errors(err error) []*LoadError {
	var out []*LoadError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var le *LoadError
		if errors.As(err, &le) {
			out = append(out, le)
		}
	}
	walk(err)
	return out
}

var (
	reSchema      = regexp.MustCompile(`(?s)^validating (\S+): (\S*) (.*)$`)
	reParse       = regexp.MustCompile(`(?s)^failed to parse (\S+): (.*)$`)
	reYAMLLine    = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: `)
	reYAMLOffset  = regexp.MustCompile(`offset (\d+): `)
	reYAMLContext = regexp.MustCompile(`(while [a-z %A-Z]+) at line \d+`)
	reAddProp     = regexp.MustCompile(`additional propert(?:y|ies) '([^']+)'`)
	reSvcQuoted   = regexp.MustCompile(`service "([^"]+)"`)
	reSvcDotted   = regexp.MustCompile(`services\.([^.\s:'\[]+)((?:\.[^\s:']+)?)`)
	reSvcBracket  = regexp.MustCompile(`'services\[([^\]]+)\]((?:\.[^\s']+)?)'\s*(.*)`)
	reUndefined   = regexp.MustCompile(`refers to undefined (network|volume|secret|config|build secret|model) (\S+)`)
	reDependsOn   = regexp.MustCompile(`depends on undefined service "?([^"\s]+)"?`)
	reCycle       = regexp.MustCompile(`dependency cycle detected: ([^\s]+) ->`)
	reMissingVar  = regexp.MustCompile(`(?:required variable|variable) "?([A-Za-z_][A-Za-z0-9_]*)"? is missing a value`)
	reInvalidTmpl = regexp.MustCompile(`[Ii]nvalid template: "([^"]*)"`)
	reBadValue    = regexp.MustCompile(`(?i)^invalid (?:[A-Za-z]+Port|port|proto|protocol|ip address|range|IP|mode|[A-Za-z]+ format)(?: for [a-z]+)?:? (\S+?):?(?: |$)`)
	reEnvFile     = regexp.MustCompile(`^env file (\S+) not found`)
)

// explain turns a compose-go error into LoadErrors naming the file, line,
// service and key where the message allows, looking the key up in files.
// Joined errors give one LoadError each.
func explain(err error, files []string) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, explain(e, files))
		}
		return errors.Join(errs...)
	}
	var le *LoadError
	if errors.As(err, &le) {
		locate(le, files)
		return le
	}
	msg := strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalid.Error())
	le = &LoadError{Msg: msg, err: err}
	switch {
	case reSchema.MatchString(msg):
		m := reSchema.FindStringSubmatch(msg)
		le.File, le.Path, le.Msg = m[1], m[2], m[2]+" "+m[3]
		if p := reAddProp.FindStringSubmatch(m[3]); p != nil && m[2] == "" {
			// a top-level key the specification does not know
			key := strings.Split(p[1], "', '")[0]
			le.Path = key
			le.Msg = fmt.Sprintf("unknown top-level key %q", key)
			if s := suggest(key, topLevelKeys); s != "" {
				le.Msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
		} else if m[2] == "" {
			le.Msg = m[3]
		} else if p := reAddProp.FindStringSubmatch(m[3]); p != nil {
			key := strings.Split(p[1], "', '")[0]
			le.Path = m[2] + "." + key
			le.Msg = fmt.Sprintf("%s: unknown key %q", m[2], key)
		} else if m[3] == "false schema" {
			// a key no pattern allows: the last element of the path
			parts := strings.Split(m[2], ".")
			key := parts[len(parts)-1]
			le.Msg = fmt.Sprintf("%s: unknown key %q", strings.Join(parts[:len(parts)-1], "."), key)
			if len(parts) == 3 && parts[0] == "services" {
				if s := suggest(key, serviceKeys); s != "" {
					le.Msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
			}
		}
	case strings.HasPrefix(msg, "yaml:") || strings.HasPrefix(msg, "go-yaml load error") || reParse.MatchString(msg):
		file := ""
		if m := reParse.FindStringSubmatch(msg); m != nil {
			file, msg = m[1], m[2]
		}
		le.File, le.Line, le.Msg = yamlProblem(file, files, msg)
	case msg == "empty compose file":
		for _, f := range files {
			if empty(f) {
				le.File, le.Line = f, 1
				break
			}
		}
		le.Msg = "the compose file is empty"
	case reSvcBracket.MatchString(msg):
		m := reSvcBracket.FindStringSubmatch(msg)
		le.Service, le.Path = m[1], "services."+m[1]+m[2]
		le.Msg = le.Path + ": " + m[3]
	default:
		if m := reSvcQuoted.FindStringSubmatch(msg); m != nil {
			le.Service, le.Path = m[1], "services."+m[1]
		} else if m := reSvcDotted.FindStringSubmatch(msg); m != nil {
			le.Service, le.Path = m[1], "services."+m[1]+m[2]
		} else if m := reCycle.FindStringSubmatch(msg); m != nil {
			le.Service, le.Path = m[1], "services."+m[1]+".depends_on"
		}
		if m := reUndefined.FindStringSubmatch(msg); m != nil && le.Service != "" {
			key := map[string]string{"network": "networks", "volume": "volumes", "secret": "secrets", "config": "configs", "build secret": "build.secrets", "model": "models"}[m[1]]
			le.Path += "." + key
		}
		if m := reDependsOn.FindStringSubmatch(msg); m != nil && le.Service != "" {
			le.Path += ".depends_on"
		}
		switch {
		case reMissingVar.MatchString(msg) && le.Path == "":
			m := reMissingVar.FindStringSubmatch(msg)
			le.File, le.Line = findText(files, "$"+m[1], "${"+m[1])
		case reInvalidTmpl.MatchString(msg) && le.Path == "":
			le.File, le.Line = findText(files, reInvalidTmpl.FindStringSubmatch(msg)[1])
		case (reBadValue.MatchString(msg) || reEnvFile.MatchString(msg)) && le.Path == "":
			// "Invalid hostPort: 80000": find the value, then the key it is under
			needle := ""
			if m := reBadValue.FindStringSubmatch(msg); m != nil {
				needle = m[1]
			} else {
				needle = filepath.Base(reEnvFile.FindStringSubmatch(msg)[1])
			}
			le.File, le.Line = findText(files, needle)
			if le.File != "" {
				le.Path = pathAt(le.File, le.Line)
				if svc, ok := strings.CutPrefix(le.Path, "services."); ok {
					le.Service = strings.SplitN(svc, ".", 2)[0]
					le.Msg = le.Path + ": " + msg
				}
			}
		}
	}
	locate(le, files)
	return le
}

// empty reports whether file holds no YAML document (nothing, or only
// comments).
func empty(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var doc yaml.Node
	return yaml.Unmarshal(data, &doc) == nil && len(doc.Content) == 0
}

// yamlProblem finds which file a YAML syntax error is in (compose-go does
// not always say) and the line yaml reports.
func yamlProblem(file string, files []string, msg string) (string, int, string) {
	if file == "" {
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				file = f
				if yamlLine(legacyYAMLError(msg, data), data) == 0 {
					msg = err.Error()
				}
				break
			}
		}
	}
	var data []byte
	if file != "" && file != "-" {
		data, _ = os.ReadFile(file)
	}
	msg = legacyYAMLError(msg, data)
	return file, yamlLine(msg, data), "invalid YAML: " + yamlText(msg)
}

// reYAMLv4 is the error format of go.yaml.in/yaml/v4 from rc.5 on: "go-yaml
// load error in STAGE (CONTEXT) at L3.C12-L4.C1: MESSAGE (value: N)", the
// range from the context's mark to the problem's, or <unknown position>
// for the reader's errors.
var reYAMLv4 = regexp.MustCompile(`(?s)go-yaml load error in \w+(?: \((while [^)]*)\))? at (?:L(\d+)\.C(\d+)(?:-L(\d+)\.C(\d+))?|<unknown position>): (.*?)(?: \(value: (\d+)\))?$`)

// legacyYAMLError rewrites a yaml v4 error of the newer format into the
// older one ("yaml: CONTEXT at line 3, column 12: line 4, column 1:
// MESSAGE", "yaml: offset N: MESSAGE") that yamlLine and yamlText read, so
// that either yaml release compose-go links gives the same located error. A
// problem mark at the end of the file (an unterminated scalar or
// collection) is left out: the place it was opened is the one to show. A
// reader error has no position: its offset is that of the first byte of
// the value it names (a control character) or of the first invalid UTF-8
// sequence.
func legacyYAMLError(msg string, data []byte) string {
	m := reYAMLv4.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	context, l1, c1, l2, c2, text, value := m[1], m[2], m[3], m[4], m[5], m[6], m[7]
	if l1 == "" {
		if off := readerOffset(data, text, value); off >= 0 {
			return fmt.Sprintf("yaml: offset %d: %s", off, text)
		}
		return "yaml: " + text
	}
	if context != "" {
		context += " at "
	}
	if l2 != "" {
		end, _ := strconv.Atoi(l2)
		if data == nil || end <= strings.Count(strings.TrimRight(string(data), "\n"), "\n")+1 {
			return fmt.Sprintf("yaml: %sline %s, column %s: line %s, column %s: %s", context, l1, c1, l2, c2, text)
		}
	}
	return fmt.Sprintf("yaml: %sline %s, column %s: %s", context, l1, c1, text)
}

// readerOffset finds the byte a reader error is about: the first byte of
// value (a control character), or the first invalid UTF-8 sequence; -1
// when unknown.
func readerOffset(data []byte, text, value string) int {
	if data == nil {
		return -1
	}
	if strings.Contains(text, "UTF-8") {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				return i
			}
			i += n
		}
		return -1
	}
	v, err := strconv.Atoi(value)
	if err != nil || v < 0 || v > 255 {
		return -1
	}
	return bytes.IndexByte(data, byte(v))
}

// yamlLine is the line at fault in a yaml error: the last position it names
// (the problem rather than the enclosing block), or for a scalar or
// collection left open at the end of the file, the place it was opened.
// data is the file, to check the position against (the YAML parser
// compose-go uses sometimes counts lines from 0) and to turn a byte offset
// into a line.
func yamlLine(msg string, data []byte) int {
	if m := reYAMLOffset.FindStringSubmatch(msg); m != nil {
		off, _ := strconv.Atoi(m[1])
		if data != nil && off >= 0 && off <= len(data) {
			return 1 + strings.Count(string(data[:off]), "\n")
		}
		return 0
	}
	ms := reYAMLLine.FindAllStringSubmatch(msg, -1)
	if len(ms) == 0 {
		return 0
	}
	m := ms[len(ms)-1]
	if strings.Contains(msg, "end of stream") && len(ms) > 1 {
		m = ms[0]
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	line = markLine(data, line, col)
	if lines := strings.Count(string(data), "\n") + 1; data != nil && line > lines {
		// past the end of the file: the place the parser started from
		line = lines
		if len(ms) > 1 {
			line, _ = strconv.Atoi(ms[0][1])
			line = min(line, lines)
		}
	}
	return line
}

// markLine checks a yaml error position against the file: a position points
// at the first character of a token, so when line has only blanks at col and
// the next line has a token there, the position was counted from 0.
func markLine(data []byte, line, col int) int {
	if data == nil || col < 1 || line < 1 {
		return line
	}
	lines := strings.Split(string(data), "\n")
	at := func(l int) byte {
		if l < 1 || l > len(lines) || col > len(lines[l-1]) {
			return ' '
		}
		return lines[l-1][col-1]
	}
	if blank(at(line)) && !blank(at(line+1)) {
		return line + 1
	}
	return line
}

func blank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// yamlText is a yaml error's message without its positions.
func yamlText(msg string) string {
	context := ""
	if m := reYAMLContext.FindStringSubmatch(msg); m != nil && strings.Contains(msg, "end of stream") {
		context = " " + m[1]
	}
	if ms := reYAMLLine.FindAllStringIndex(msg, -1); len(ms) > 0 {
		msg, _, _ = strings.Cut(msg[ms[len(ms)-1][1]:], "\n")
	} else if ms := reYAMLOffset.FindStringIndex(msg); ms != nil {
		msg = msg[ms[1]:]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return strings.Join(strings.Fields(msg+context), " ")
}

// pathAt gives the dotted key path of the deepest key on line in file.
func pathAt(file string, line int) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return ""
	}
	var best []string
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		if n.Line > line {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := append(append([]string{}, path...), k.Value)
				if k.Line <= line {
					best = p
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := append(append([]string{}, path...), strconv.Itoa(i))
				if item.Line == line {
					best = p
				}
				walk(item, p)
			}
		}
	}
	walk(doc.Content[0], nil)
	return strings.Join(best, ".")
}

// locate fills in the file and line of le.Path when they are unknown: the
// last file that defines the deepest part of the path wins, as later files
// override earlier ones.
func locate(le *LoadError, files []string) {
	if le.Service == "" && strings.HasPrefix(le.Path, "services.") {
		le.Service = strings.SplitN(strings.TrimPrefix(le.Path, "services."), ".", 2)[0]
	}
	if le.Path == "" || le.Line > 0 {
		return
	}
	candidates := files
	if le.File != "" {
		candidates = []string{le.File}
	}
	bestDepth := 0
	for _, f := range candidates {
		line, depth := lineOf(f, le.Path)
		if depth > 0 && depth >= bestDepth {
			le.File, le.Line, bestDepth = f, line, depth
		}
	}
}

// lineOf finds the deepest key of the dotted path in file, returning its line
// and how many path elements matched.
func lineOf(file, path string) (line, depth int) {
	if file == "" || file == "-" {
		return 0, 0
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	node := doc.Content[0]
	for _, key := range strings.Split(path, ".") {
		next := child(node, key)
		if next == nil {
			break
		}
		depth++
		line = next.key.Line
		node = next.value
	}
	return line, depth
}

type pair struct{ key, value *yaml.Node }

// child finds key in a mapping node, or the item whose name or first scalar
// is key in a sequence node (networks given as a list, say).
func child(node *yaml.Node, key string) *pair {
	for node != nil && node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if node == nil {
		return nil
	}
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				return &pair{node.Content[i], node.Content[i+1]}
			}
		}
	case yaml.SequenceNode:
		if n, err := strconv.Atoi(key); err == nil && n >= 0 && n < len(node.Content) {
			return &pair{node.Content[n], node.Content[n]}
		}
		for _, item := range node.Content {
			if item.Kind == yaml.ScalarNode && (item.Value == key || strings.HasPrefix(item.Value, key+":")) {
				return &pair{item, item}
			}
		}
	}
	return nil
}

// findText gives the file and line holding any of the needles, searching
// the last file first: later files override earlier ones.
func findText(files []string, needles ...string) (string, int) {
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		if f == "-" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for i, l := range strings.Split(string(data), "\n") {
			for _, n := range needles {
				if n != "" && strings.Contains(l, n) {
					return f, i + 1
				}
			}
		}
	}
	return "", 0
}

// problem builds a LoadError for a key path, for the consistency checks.
func problem(path, format string, args ...any) *LoadError {
	return &LoadError{Path: path, Msg: fmt.Sprintf(format, args...), err: errdefs.ErrInvalid}
}
