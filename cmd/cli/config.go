package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/berthdev/berth/project"
	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/publish"
	"github.com/berthdev/berth/service/registry"
)

type configOptions struct {
	format        string
	output        string
	quiet         bool
	services      bool
	volumes       bool
	networks      bool
	images        bool
	profiles      bool
	hash          string
	noInterpolate bool
	noConsistency bool
	environment   bool
	variables     bool
	noResolveEnv  bool
	noPaths       bool
	noNormalize   bool
	// resolveDigests pins images to digests; lockDigests prints only the
	// override with them.
	resolveDigests, lockDigests bool
}

func newConfigCmd(g *globals) *cobra.Command {
	var o configOptions
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Check the compose files and print the resolved model",
		Long: `Load the compose files as up would (interpolation, .env, env_file, overrides,
profiles, extends, include), check them, and print the result in canonical form.
Every problem found is reported with its file, line, service and key, and the
exit code is 1. Use -q in CI to validate without printing.`,
		Example: `  berth config                 # the merged, resolved model as YAML
  berth config -q              # validate only
  berth config --hash '*'      # config hashes, one "service hash" per line
  berth -f a.yaml -f b.yaml config --services`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "Output format: yaml or json (default yaml)")
	f.StringVarP(&o.output, "output", "o", "", "Write to this file instead of standard output")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only validate the configuration, print nothing")
	f.BoolVar(&o.services, "services", false, "Print the service names, one per line, dependencies first")
	f.BoolVar(&o.volumes, "volumes", false, "Print the volume names, one per line")
	f.BoolVar(&o.networks, "networks", false, "Print the network names, one per line")
	f.BoolVar(&o.images, "images", false, "Print the image names, one per line")
	f.BoolVar(&o.profiles, "profiles", false, "Print the profile names, one per line")
	f.StringVar(&o.hash, "hash", "", `Print the config hash of these services ("svc1,svc2" or "*"), one "service hash" per line`)
	f.BoolVar(&o.noInterpolate, "no-interpolate", false, "Don't interpolate environment variables")
	f.BoolVar(&o.noConsistency, "no-consistency", false, "Don't check the model's consistency (may print an invalid model)")
	f.BoolVar(&o.environment, "environment", false, "Print the environment used for interpolation")
	f.BoolVar(&o.variables, "variables", false, "Print the variables the model uses, with their defaults")
	f.BoolVar(&o.noPaths, "no-path-resolution", false, "Don't resolve file paths (print them as written)")
	f.BoolVar(&o.noNormalize, "no-normalize", false, "Don't normalize the model (defaults, default network)")
	f.BoolVar(&o.resolveDigests, "resolve-image-digests", false, "Pin image tags to digests (asked from the images' registries)")
	f.BoolVar(&o.lockDigests, "lock-image-digests", false, "Print an override file with the images pinned to digests only")
	f.BoolVar(&o.noResolveEnv, "no-env-resolution", false, "Don't merge env_file contents into environment (the model, and --hash as docker compose v2 computed it)")
	return cmd
}

func runConfig(cmd *cobra.Command, g *globals, o configOptions, args []string) error {
	ctx := cmd.Context()
	switch o.format {
	case "", "yaml", "json":
	default:
		return fmt.Errorf("unsupported format %q: use yaml or json", o.format)
	}
	o.resolveDigests = o.resolveDigests || o.lockDigests
	opts := g.loadOptions(args)
	opts.NoConsistency = o.noConsistency
	// --compatibility prints the model unnormalized, as docker compose.
	opts.NoPathResolution, opts.NoNormalize = o.noPaths, o.noNormalize || g.compatibility
	var buf bytes.Buffer
	if o.noInterpolate || o.variables {
		opts.NoInterpolate = true
		if err := writeRawModel(cmd, &buf, opts, o); err != nil {
			return err
		}
		return emit(cmd.OutOrStdout(), o, buf.Bytes())
	}
	p, err := project.Load(ctx, opts)
	if err != nil {
		return err
	}
	if ok, err := writeConfigList(&buf, p, o); err != nil {
		return err
	} else if !ok {
		if err := writeResolvedModel(cmd, &buf, p, o); err != nil {
			return err
		}
	}
	return emit(cmd.OutOrStdout(), o, buf.Bytes())
}

// writeRawModel writes the model as the files give it, uninterpolated
// (--no-interpolate), or the variables it uses (--variables).
func writeRawModel(cmd *cobra.Command, w io.Writer, opts project.Options, o configOptions) error {
	ctx := cmd.Context()
	model, err := project.LoadModel(ctx, opts)
	if err != nil {
		return err
	}
	if o.variables {
		return writeVariables(w, model, o.format)
	}
	if o.resolveDigests {
		if err := publish.ResolveModelImageDigests(ctx, model, registry.Client{}.Digest); err != nil {
			return err
		}
	}
	if o.lockDigests {
		publish.LockModel(model)
	}
	return writeModel(w, model, o.format)
}

// writeConfigList writes the list a flag asks for (--services, --volumes,
// --networks, --images, --profiles, --hash, --environment), one item a
// line; false when none does.
func writeConfigList(w io.Writer, p *project.Project, o configOptions) (bool, error) {
	var lines []string
	switch {
	case o.services:
		lines = reconcile.ModelOrder(p.Model)
	case o.volumes:
		for _, v := range p.Volumes {
			lines = append(lines, v.Key)
		}
	case o.networks:
		for _, n := range p.Networks {
			lines = append(lines, n.Key)
		}
	case o.images:
		for _, s := range p.Services {
			lines = append(lines, s.Image)
		}
	case o.profiles:
		set := map[string]bool{}
		for _, s := range p.Model.AllServices() {
			for _, pr := range s.Profiles {
				set[pr] = true
			}
		}
		lines = sortedSet(set)
	case o.hash != "":
		var err error
		if lines, err = configHashes(p, o); err != nil {
			return true, err
		}
	case o.environment:
		keys := make([]string, 0, len(p.Model.Environment))
		for k := range p.Model.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys) // by name: "A" before "A1"
		for _, k := range keys {
			lines = append(lines, k+"="+p.Model.Environment[k])
		}
	default:
		return false, nil
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return true, nil
}

// configHashes are the "service hash" lines of --hash.
func configHashes(p *project.Project, o configOptions) ([]string, error) {
	names := strings.Split(o.hash, ",")
	if o.hash == "*" {
		names = names[:0]
		for _, s := range p.Services {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	hashes, err := p.ConfigHashes(!o.noResolveEnv)
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(names))
	for _, name := range names {
		h, ok := hashes[name]
		if !ok {
			return nil, fmt.Errorf("no such service: %s", name)
		}
		lines = append(lines, name+" "+h)
	}
	return lines, nil
}

// writeResolvedModel writes the project's model (digests pinned as the
// flags say), with "$" escaped so that loading it again gives it back.
func writeResolvedModel(cmd *cobra.Command, w io.Writer, p *project.Project, o configOptions) error {
	model := p.Model
	if o.noResolveEnv {
		model = p.UnresolvedModel()
	}
	model, err := pinDigests(cmd, model, o)
	if err != nil {
		return err
	}
	out, err := project.Render(model, o.format)
	if err != nil {
		return fmt.Errorf("render the model: %w", err)
	}
	_, err = w.Write(bytes.ReplaceAll(out, []byte("$"), []byte("$$")))
	return err
}

// pinDigests applies --resolve-image-digests and --lock-image-digests to
// the model printed, as docker compose v5 does.
func pinDigests(cmd *cobra.Command, model *types.Project, o configOptions) (*types.Project, error) {
	if !o.resolveDigests {
		return model, nil
	}
	model, err := publish.ResolveImageDigests(cmd.Context(), model, registry.Client{}.Digest)
	if err != nil || !o.lockDigests {
		return model, err
	}
	model, warnings := publish.ImagesOnly(model)
	for _, w := range warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARN "+w)
	}
	return model, nil
}

func emit(w io.Writer, o configOptions, out []byte) error {
	if o.quiet {
		return nil
	}
	if o.output != "" {
		if err := os.WriteFile(o.output, out, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.output, err)
		}
		return nil
	}
	_, err := w.Write(out)
	return err
}

func writeModel(w io.Writer, model map[string]any, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(model)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(model); err != nil {
		return fmt.Errorf("render the model: %w", err)
	}
	return enc.Close()
}

func writeVariables(w io.Writer, model map[string]any, format string) error {
	vars := template.ExtractVariables(model, template.DefaultPattern)
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(vars)
	case "yaml":
		return yaml.NewEncoder(w).Encode(vars)
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREQUIRED\tDEFAULT VALUE\tALTERNATE VALUE")
	for _, n := range names {
		v := vars[n]
		fmt.Fprintf(tw, "%s\t%t\t%s\t%s\n", n, v.Required, v.DefaultValue, v.PresenceValue)
	}
	return tw.Flush()
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
