package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// listStyle is how a listing command of docker compose prints: its table's
// minimum column width, and JSON as one array (ls, images) or one object
// per line (ps, volumes, stats).
type listStyle struct {
	minWidth  int
	jsonArray bool
}

// writeList prints entries as a listing command's --format asks, as
// docker compose does: "table" (or "") through table, "json" one JSON
// object per line, or a Go template over the JSON keys ("table " before
// it is dropped), one line per entry.
func writeList[T any](out io.Writer, format string, entries []T, table func(tw *tabwriter.Writer)) error {
	return writeListStyled(out, format, entries, listStyle{minWidth: 10}, table)
}

// writeListStyled is writeList for every listing command: the one place
// --format is read.
func writeListStyled[T any](out io.Writer, format string, entries []T, style listStyle, table func(tw *tabwriter.Writer)) error {
	switch {
	case format == "json" && style.jsonArray:
		if entries == nil {
			entries = []T{}
		}
		b, err := json.Marshal(entries)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	case format == "json":
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
	case format == "" || format == "table":
		// docker's table writer: columns at least minWidth wide, 3 apart.
		tw := tabwriter.NewWriter(out, style.minWidth, 1, 3, ' ', 0)
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
