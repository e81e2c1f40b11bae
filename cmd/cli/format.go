package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// writeList prints entries as a listing command's --format asks, as
// docker compose does: "table" (or "") through table, "json" one JSON
// object per line, or a Go template over the JSON keys ("table " before
// it is dropped), one line per entry.
func writeList[T any](out io.Writer, format string, entries []T, table func(tw *tabwriter.Writer)) error {
	switch {
	case format == "json":
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
	case format == "" || format == "table":
		// docker's table writer: columns at least 10 wide, 3 apart.
		tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		table(tw)
		return tw.Flush()
	case strings.Contains(format, "{{"):
		tmpl, err := template.New("format").Parse(strings.TrimPrefix(format, "table "))
		if err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		for _, e := range entries {
			if err := tmpl.Execute(out, e); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(out)
		}
	default:
		return fmt.Errorf("unsupported format %q: use table, json or a Go template", format)
	}
	return nil
}
