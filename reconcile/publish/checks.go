package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/DefangLabs/secret-detector/pkg/detectors/keyword"
	"github.com/DefangLabs/secret-detector/pkg/scanner"
	"github.com/DefangLabs/secret-detector/pkg/secrets"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v3"
)

// ErrCanceled is returned when a question of Check is answered no (or not
// answered): nothing was published.
var ErrCanceled = errors.New("publish canceled")

// Confirm asks the user a yes/no question; false (or an error) cancels.
type Confirm func(question string) (bool, error)

// refuse checks what docker compose refuses outright: services with a
// build section and no image (nothing to pull from the artifact), services
// with neither, and compose files that include local files (which the
// artifact would not carry).
func (s source) refuse(m *types.Project) error {
	var buildOnly, noImage []string
	for _, name := range sortedKeys(m.Services) {
		svc := m.Services[name]
		switch {
		case svc.Image == "" && svc.Build != nil:
			buildOnly = append(buildOnly, name)
		case svc.Image == "" && svc.Provider == nil:
			noImage = append(noImage, name)
		}
	}
	if len(buildOnly) > 0 {
		var b strings.Builder
		b.WriteString("your Compose stack cannot be published as it only contains a build section for service(s):\n")
		for _, n := range buildOnly {
			fmt.Fprintf(&b, "- %q\n", n)
		}
		b.WriteString("give them an image: to push the built image to and pull it from")
		return errors.New(b.String())
	}
	if len(noImage) > 0 {
		return fmt.Errorf("%q attribute is mandatory to publish service %q", "service.image", noImage[0])
	}
	for _, f := range s.files {
		if local, err := localIncludes(f); err != nil {
			return err
		} else if len(local) > 0 {
			return fmt.Errorf("cannot publish compose file with local includes: %s includes %s (the artifact carries the compose files only; publish a merged file, e.g. from `berth config`)", f, strings.Join(local, ", "))
		}
	}
	return nil
}

// localIncludes lists the include: entries of a compose file that are
// local paths (not oci:// or git remote resources).
func localIncludes(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var doc struct {
		Include []yaml.Node `yaml:"include"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var local []string
	add := func(p string) {
		if !remoteResource(p) {
			local = append(local, p)
		}
	}
	for _, n := range doc.Include {
		switch n.Kind {
		case yaml.ScalarNode:
			add(n.Value)
		case yaml.MappingNode:
			if p := mappingValue(&n, "path"); p != nil {
				if p.Kind == yaml.ScalarNode {
					add(p.Value)
				}
				for _, c := range p.Content {
					add(c.Value)
				}
			}
		}
	}
	return local, nil
}

// remoteResource reports whether an include path is a remote resource compose-go
// loads itself (an OCI artifact or a git repository).
func remoteResource(p string) bool {
	return strings.HasPrefix(p, "oci://") || strings.Contains(p, "://") || strings.HasPrefix(p, "git@")
}

// ask asks the questions docker compose asks before publishing, in its
// order: bind mounts, sensitive data, env declarations (unless withEnv),
// literal config contents. A no cancels (ErrCanceled).
func (s source) ask(ctx context.Context, m *types.Project, withEnv bool, confirm Confirm) error {
	var questions []string
	if q := bindMountQuestion(m); q != "" {
		questions = append(questions, q)
	}
	q, err := s.sensitiveQuestion(ctx, m)
	if err != nil {
		return err
	}
	if q != "" {
		questions = append(questions, q)
	}
	envQ, configQ, err := s.envQuestions(ctx)
	if err != nil {
		return err
	}
	if envQ != "" && !withEnv {
		questions = append(questions, envQ)
	}
	if configQ != "" {
		questions = append(questions, configQ)
	}
	for _, q := range questions {
		ok := false
		if confirm != nil {
			if ok, err = confirm(q); err != nil {
				return fmt.Errorf("%w: %w", ErrCanceled, err)
			}
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrCanceled, firstLine(q))
		}
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSuffix(l, ".")
}

func bindMountQuestion(m *types.Project) string {
	var b strings.Builder
	for _, name := range sortedKeys(m.Services) {
		for _, v := range m.Services[name].Volumes {
			if v.Type == types.VolumeTypeBind {
				fmt.Fprintf(&b, "  service %q: %s\n", name, v.String())
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "you are about to publish bind mounts declaration within your OCI artifact.\n" +
		"only the bind mount declarations will be added to the OCI artifact (not content)\n" +
		"please double check that you are not mounting potential user's sensitive directories or data\n" +
		b.String() + "Are you ok to publish these bind mount declarations?"
}

// sensitiveQuestion scans, with the detector docker compose uses, the
// compose files as written, the env files, and the config and secret
// files.
func (s source) sensitiveQuestion(ctx context.Context, m *types.Project) (string, error) {
	scan := scanner.NewDefaultScanner()
	var found []secrets.DetectedSecret
	for _, f := range s.files {
		raw, err := s.loadOne(ctx, f, true)
		if err != nil {
			return "", err
		}
		text, err := raw.MarshalYAML()
		if err != nil {
			return "", fmt.Errorf("render %s: %w", f, err)
		}
		hits, err := scan.ScanReader(bytes.NewReader(text))
		if err != nil {
			return "", fmt.Errorf("scan %s: %w", f, err)
		}
		found = append(found, hits...)
	}
	var files []string
	for _, name := range sortedKeys(m.Services) {
		for _, ef := range m.Services[name].EnvFiles {
			if _, err := os.Stat(ef.Path); err != nil {
				if !os.IsNotExist(err) {
					return "", fmt.Errorf("env file %s: %w", ef.Path, err)
				}
				if ef.Required {
					return "", fmt.Errorf("env file %s of service %s not found", ef.Path, name)
				}
				continue
			}
			files = append(files, ef.Path)
		}
	}
	for _, name := range sortedKeys(m.Configs) {
		if f := m.Configs[name].File; f != "" {
			files = append(files, f)
		}
	}
	for _, name := range sortedKeys(m.Secrets) {
		if f := m.Secrets[name].File; f != "" {
			files = append(files, f)
		}
	}
	for _, f := range files {
		hits, err := scan.ScanFile(f)
		if err != nil {
			return "", fmt.Errorf("scan %s: %w", f, err)
		}
		found = append(found, hits...)
	}
	if len(found) == 0 {
		return "", nil
	}
	var b strings.Builder
	b.WriteString("you are about to publish sensitive data within your OCI artifact.\n" +
		"please double check that you are not leaking sensitive data\n")
	for _, f := range found {
		fmt.Fprintf(&b, "%s\n%q: %s\n", f.Type, f.Key, f.Value)
	}
	b.WriteString("Are you ok to publish these sensitive data?")
	return b.String(), nil
}

// envQuestions are docker compose's questions about env_file declarations
// and literal values of sensitive-looking variables (silenced by
// --with-env), and about literal inline config contents (always asked),
// over the compose files and their local extends files.
func (s source) envQuestions(ctx context.Context) (envQ, configQ string, err error) {
	detector := keyword.NewDetector("0")
	envFile := map[string]bool{}
	keys := map[string]map[string]bool{}
	configs := map[string]bool{}
	seen := map[string]bool{}
	queue := append([]string{}, s.files...)
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if seen[f] {
			continue
		}
		seen[f] = true
		m, err := s.loadOne(ctx, f, true)
		if err != nil {
			return "", "", err
		}
		for name, svc := range m.Services {
			vals := map[string]string{}
			for k, v := range svc.Environment {
				if v != nil {
					vals[k] = strings.ReplaceAll(*v, "$$", "X")
				}
			}
			hits, _ := detector.ScanMap(vals)
			if len(svc.EnvFiles) > 0 {
				envFile[name] = true
			}
			for _, h := range hits {
				if keys[name] == nil {
					keys[name] = map[string]bool{}
				}
				keys[name][h.Key] = true
			}
			if svc.Extends != nil && svc.Extends.File != "" {
				if _, err := os.Stat(svc.Extends.File); err == nil {
					queue = append(queue, svc.Extends.File)
				}
			}
		}
		for name, c := range m.Configs {
			if c.Content == "" {
				continue
			}
			if hits, _ := detector.ScanMap(map[string]string{"password": strings.ReplaceAll(c.Content, "$$", "X")}); len(hits) > 0 {
				configs[name] = true
			}
		}
	}
	names := map[string]bool{}
	for n := range envFile {
		names[n] = true
	}
	for n := range keys {
		names[n] = true
	}
	if len(names) > 0 {
		var b strings.Builder
		b.WriteString("you are about to publish env-related declarations within your OCI artifact.\n")
		b.WriteString("env_file paths and literal values for sensitive-looking keys are embedded as-is in the published YAML;\n")
		b.WriteString("interpolated values like \"${VAR}\" are kept symbolic and have already been excluded.\n")
		for _, n := range sortedKeys(names) {
			if envFile[n] {
				fmt.Fprintf(&b, "  service %q: env_file declared\n", n)
			}
			if len(keys[n]) > 0 {
				var q []string
				for _, k := range sortedKeys(keys[n]) {
					q = append(q, fmt.Sprintf("%q", k))
				}
				fmt.Fprintf(&b, "  service %q: literal value for %s\n", n, strings.Join(q, ", "))
			}
		}
		b.WriteString("Use --with-env to silence this prompt and always publish env declarations.\n")
		b.WriteString("Are you ok to publish these env declarations?")
		envQ = b.String()
	}
	if len(configs) > 0 {
		var b strings.Builder
		b.WriteString("you are about to publish literal inline config content within your OCI artifact.\n")
		for _, n := range sortedKeys(configs) {
			fmt.Fprintf(&b, "  config %q\n", n)
		}
		b.WriteString("Are you ok to publish these config contents?")
		configQ = b.String()
	}
	return envQ, configQ, nil
}
