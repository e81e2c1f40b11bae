package cli

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(g *globals) *cobra.Command {
	var short bool
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the berth version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			switch {
			case short:
				fmt.Fprintln(w, version)
			case format == "json":
				backend, why := g.backendKind()
				return json.NewEncoder(w).Encode(map[string]string{
					"version":       version,
					"goVersion":     runtime.Version(),
					"os":            runtime.GOOS,
					"arch":          runtime.GOARCH,
					"backend":       backend,
					"backendReason": why,
				})
			case format == "" || format == "pretty":
				backend, why := g.backendKind()
				fmt.Fprintf(w, "berth version %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				fmt.Fprintf(w, "backend: %s (%s)\n", backend, why)
			default:
				return fmt.Errorf("unsupported format %q: use pretty or json", format)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "Print only the version number")
	cmd.Flags().StringVar(&format, "format", "", "Output format: pretty or json")
	return cmd
}
