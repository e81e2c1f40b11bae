package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	yaml "go.yaml.in/yaml/v4"
)

// Limits on what the loader accepts, checked on each file before compose-go
// reads it, so that no file, however written, costs more than a fraction of
// a second or more than a few tens of MB. Each is far above what a real
// compose file needs; each breach is a located LoadError.
const (
	// maxFileSize bounds a compose file: compose-go spends about 0.3 s of
	// CPU per MiB of YAML.
	maxFileSize = 1 << 20
	// maxNesting bounds how deep mappings and sequences nest. A compose
	// file's own keys are at most 7 levels deep.
	maxNesting = 64
	// maxMappingKeys bounds the keys of one mapping: the YAML decoder
	// compose-go uses checks them for duplicates pairwise (50,000 keys: 9 s).
	maxMappingKeys = 1000
	// maxNodes bounds the values of a file (scalars, mappings and
	// sequences, keys aside, alias expansions counted): compose-go spends
	// 50 to 60 µs of CPU on each, matching its path against its rules. The
	// biggest compose files in common use hold about 2,000; a project
	// bigger than this splits into several files (-f, include:), each
	// bounded on its own.
	maxNodes = 5_000
	// maxInterpolationNesting bounds how deep ${A:-${B:-...}} defaults nest.
	maxInterpolationNesting = 32
	// maxInterpolationWork bounds the work compose-go's template package
	// does on a file, counted as it costs: each ${VAR with a modifier (:-,
	// -, :?, ?, :+, +) scans the rest of its line again, so a line holding
	// k of them costs k times its length (nesting 4,000 deep: 3.4 s).
	maxInterpolationWork = 4_000_000
	// maxPublishedPorts bounds the ports one service publishes: compose-go
	// expands a range such as 1-65535:1-65535 into one binding per port
	// before anything can check it (9 s and 540 MB for that one), and
	// docker starts a proxy process per published port.
	maxPublishedPorts = 1024
	// maxPublishedPortsPerFile bounds them over the services of one file
	// (compose-go spends about 150 µs on each binding).
	maxPublishedPortsPerFile = 2048
)

// topLevelKinds are the YAML kinds the compose specification allows for each
// top-level key (null aside, which compose-go takes as empty).
var topLevelKinds = map[string]yaml.Kind{
	"name":     yaml.ScalarNode,
	"version":  yaml.ScalarNode,
	"include":  yaml.SequenceNode,
	"services": yaml.MappingNode,
	"networks": yaml.MappingNode,
	"volumes":  yaml.MappingNode,
	"secrets":  yaml.MappingNode,
	"configs":  yaml.MappingNode,
	"models":   yaml.MappingNode,
}

var kindNames = map[yaml.Kind]string{
	yaml.ScalarNode:   "a scalar",
	yaml.SequenceNode: "a list",
	yaml.MappingNode:  "a mapping",
}

// guard checks each compose file against the limits above and the shape of
// its top level before compose-go loads it, and follows include: entries
// whose paths are written out. env is the interpolation environment, nil
// when interpolation is off (the ${...} forms are still bounded: config
// --variables parses them). Files it cannot read or parse are left to
// compose-go, which reports them.
func guard(files []string, env map[string]string) error {
	seen := map[string]bool{}
	var errs []error
	var visit func(file string, depth int)
	visit = func(file string, depth int) {
		if file == "-" || file == "" || remote(file) || seen[file] || depth > 16 {
			return
		}
		seen[file] = true
		includes, err := guardFile(file, env)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, inc := range includes {
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(file), inc)
			}
			visit(inc, depth+1)
		}
	}
	for _, f := range files {
		visit(f, 0)
	}
	return errors.Join(errs...)
}

// guardFile checks one file and returns the files it includes by a literal
// path.
func guardFile(file string, env map[string]string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil
	}
	if len(data) > maxFileSize {
		return nil, &LoadError{File: file, Line: 1 + bytes.Count(data[:maxFileSize], []byte("\n")),
			Msg: fmt.Sprintf("the file is larger than %d MiB, the most berth reads (this line crosses the limit)", maxFileSize>>20)}
	}
	g := &guardian{file: file, env: env, cost: map[*yaml.Node]guardCost{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			// io.EOF, or a syntax error compose-go reports with its line
			break
		}
		if err := g.document(&doc); err != nil {
			return nil, err
		}
	}
	return g.includes, nil
}

// guardCost is what a subtree costs compose-go, to count an alias to it
// again without walking it again.
type guardCost struct {
	nodes, work int
}

type guardian struct {
	file     string
	env      map[string]string
	nodes    int
	work     int
	ports    int
	includes []string
	// cost of each anchored node, for the aliases to it
	cost map[*yaml.Node]guardCost
}

func (g *guardian) errorAt(n *yaml.Node, path []string, format string, args ...any) *LoadError {
	le := &LoadError{File: g.file, Line: n.Line, Path: strings.Join(path, "."), Msg: fmt.Sprintf(format, args...)}
	if len(path) > 1 && path[0] == "services" {
		le.Service = path[1]
	}
	if le.Path != "" {
		le.Msg = le.Path + ": " + le.Msg
	}
	return le
}

// document checks one YAML document of the file.
func (g *guardian) document(doc *yaml.Node) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if err := g.walk(root, nil, 1); err != nil {
		return err
	}
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return g.errorAt(doc, nil, "this YAML document is empty: the top level of a compose file must be a mapping (services:, networks:, ...)")
	case root.Kind != yaml.MappingNode:
		return g.errorAt(root, nil, "the top level of a compose file must be a mapping (services:, networks:, ...), not %s", kindName(root))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		want, known := topLevelKinds[k.Value]
		if !known || v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			continue
		}
		if v.Kind != want {
			return g.errorAt(k, []string{k.Value}, "must be %s, not %s", kindNames[want], kindName(v))
		}
		switch k.Value {
		case "services":
			if err := g.services(v); err != nil {
				return err
			}
		case "include":
			g.include(v)
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", clip(n.Value))
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %s", strings.TrimPrefix(n.Tag, "!!"), clip(n.Value))
	}
	if s, ok := kindNames[n.Kind]; ok {
		return s
	}
	return "an alias"
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// walk counts the nodes and the interpolation work of the subtree at n and
// checks its nesting.
func (g *guardian) walk(n *yaml.Node, path []string, depth int) error {
	if depth > maxNesting {
		return g.errorAt(n, path, "nested more than %d levels deep, the most berth reads", maxNesting)
	}
	before := guardCost{g.nodes, g.work}
	g.nodes++
	switch n.Kind {
	case yaml.AliasNode:
		// an alias costs its anchor's subtree again, uncounted
		if c, ok := g.cost[n.Alias]; ok {
			g.nodes += c.nodes
			g.work += c.work
		}
	case yaml.ScalarNode:
		// checked with interpolation off too: config --variables parses
		// every ${...} with the same template package
		if strings.Contains(n.Value, "${") {
			depth, work := interpolationCost(n.Value)
			if depth > maxInterpolationNesting {
				return g.errorAt(n, path, "interpolation nested %d levels deep (${A:-${B:-...}}), more than the %d berth allows", depth, maxInterpolationNesting)
			}
			g.work += work
		}
	case yaml.MappingNode:
		if len(n.Content)/2 > maxMappingKeys {
			return g.errorAt(n, path, "a mapping of %d keys, more than the %d berth reads in one mapping", len(n.Content)/2, maxMappingKeys)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := g.walk(n.Content[i+1], append(path, n.Content[i].Value), depth+1); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if err := g.walk(item, append(path, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
	}
	if n.Anchor != "" {
		g.cost[n] = guardCost{g.nodes - before.nodes, g.work - before.work}
	}
	if g.nodes > maxNodes {
		return g.errorAt(n, path, "the file holds more than %d values (aliases expanded), the most berth reads in one file", maxNodes)
	}
	if g.work > maxInterpolationWork {
		return g.errorAt(n, path, "interpolation here would take too long: too many ${VAR:-default} forms on long lines (the file's cost passes %d)", maxInterpolationWork)
	}
	return nil
}

// interpolationCost gives the deepest nesting of ${ in s and the work
// compose-go's template package does on it: for each ${NAME followed by a
// modifier, the length of the rest of its line, which it scans again.
func interpolationCost(s string) (depth, work int) {
	open := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '$':
			if i+1 < len(s) && s[i+1] == '$' {
				i++ // $$ is a literal $
				continue
			}
			if i+1 < len(s) && s[i+1] == '{' {
				open++
				depth = max(depth, open)
				if modified(s[i+2:]) {
					end := strings.IndexByte(s[i:], '\n')
					if end < 0 {
						end = len(s) - i
					}
					work += end
				}
				i++
			}
		case '}':
			if open > 0 {
				open--
			}
		}
	}
	return depth, work
}

// modified reports whether s starts with a variable name and a modifier.
func modified(s string) bool {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == 0 || i == len(s) {
		return false
	}
	switch s[i] {
	case ':', '-', '?', '+':
		return true
	}
	return false
}

// services checks what compose-go expands before it can check it: the
// published port ranges.
func (g *guardian) services(services *yaml.Node) error {
	for i := 0; i+1 < len(services.Content); i += 2 {
		name := services.Content[i].Value
		svc := resolve(services.Content[i+1])
		if svc == nil || svc.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(svc.Content); j += 2 {
			ports := resolve(svc.Content[j+1])
			if svc.Content[j].Value != "ports" || ports == nil || ports.Kind != yaml.SequenceNode {
				continue
			}
			count := 0
			for k, item := range ports.Content {
				item = resolve(item)
				if item == nil || item.Kind != yaml.ScalarNode {
					count++ // the long syntax publishes one port
					continue
				}
				spec := item.Value
				if g.env != nil && strings.Contains(spec, "$") {
					if s, err := template.Substitute(spec, func(k string) (string, bool) {
						v, ok := g.env[k]
						return v, ok
					}); err == nil {
						spec = s
					}
				}
				n := portCount(spec)
				count += n
				g.ports += n
				path := []string{"services", name, "ports", strconv.Itoa(k)}
				if count > maxPublishedPorts {
					what := fmt.Sprintf("%q publishes %d ports", clip(spec), n)
					if count > n {
						what += fmt.Sprintf(", %d for the service so far", count)
					}
					return g.errorAt(item, path, "%s: berth allows at most %d published ports per service", what, maxPublishedPorts)
				}
				if g.ports > maxPublishedPortsPerFile {
					return g.errorAt(item, path, "the services of this file publish %d ports: berth allows at most %d in one file", g.ports, maxPublishedPortsPerFile)
				}
			}
		}
	}
	return nil
}

// portCount is how many port bindings compose-go makes of a short-syntax
// port, [ip:][host[-range]:]container[-range][/proto]: one per port of the
// container range.
func portCount(spec string) int {
	spec = strings.TrimSpace(spec)
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		spec = spec[:i]
	}
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		spec = spec[i+1:]
	}
	lo, hi, ok := strings.Cut(spec, "-")
	if !ok {
		return 1
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || b < a {
		return 1
	}
	return b - a + 1
}

// include collects the included files named by a literal path.
func (g *guardian) include(list *yaml.Node) {
	add := func(n *yaml.Node) {
		n = resolve(n)
		if n == nil {
			return
		}
		var paths []*yaml.Node
		switch n.Kind {
		case yaml.ScalarNode:
			paths = append(paths, n)
		case yaml.SequenceNode:
			paths = append(paths, n.Content...)
		}
		for _, p := range paths {
			if p = resolve(p); p != nil && p.Kind == yaml.ScalarNode && p.Value != "" && !strings.Contains(p.Value, "$") {
				g.includes = append(g.includes, p.Value)
			}
		}
	}
	for _, item := range list.Content {
		item = resolve(item)
		if item == nil {
			continue
		}
		if item.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(item.Content); i += 2 {
				if item.Content[i].Value == "path" {
					add(item.Content[i+1])
				}
			}
			continue
		}
		add(item)
	}
}
