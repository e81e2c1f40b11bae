package cli

import (
	"bytes"
	"fmt"
	"testing"
	"text/tabwriter"
)

func TestWriteList(t *testing.T) {
	type entry struct{ Name, State string }
	entries := []entry{{"a", "running"}, {"bb", "exited"}}
	table := func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NAME\tSTATE")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.State)
		}
	}
	tests := []struct {
		format, want, wantErr string
	}{
		{"", "NAME      STATE\na         running\nbb        exited\n", ""},
		{"table", "NAME      STATE\na         running\nbb        exited\n", ""},
		{"json", `{"Name":"a","State":"running"}` + "\n" + `{"Name":"bb","State":"exited"}` + "\n", ""},
		{"{{.Name}}={{.State}}", "a=running\nbb=exited\n", ""},
		{"table {{.Name}}", "a\nbb\n", ""},
		{"{{.Nope}}", "", "--format: "},
		{"yaml", "", `unsupported format "yaml"`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := writeList(&out, tt.format, entries, table)
		if tt.wantErr != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
				t.Errorf("format %q: error %v, want one with %q", tt.format, err, tt.wantErr)
			}
			continue
		}
		if err != nil || out.String() != tt.want {
			t.Errorf("format %q: %q, %v; want %q", tt.format, out.String(), err, tt.want)
		}
	}
}

// TestWriteListArray: ls and images print JSON as one array, "[]" for none
// (docker compose prints "[]"; berth's ls printed "null"), and take Go
// templates like the other listing commands.
func TestWriteListArray(t *testing.T) {
	type e struct{ Name string }
	style := listStyle{minWidth: 20, jsonArray: true}
	for _, tt := range []struct {
		format  string
		entries []e
		want    string
	}{
		{"json", nil, "[]\n"},
		{"json", []e{{"a"}, {"b"}}, `[{"Name":"a"},{"Name":"b"}]` + "\n"},
		{"{{.Name}}!", []e{{"a"}}, "a!\n"},
		{"table", []e{{"a"}}, "NAME\n"},
	} {
		var out bytes.Buffer
		if err := writeListStyled(&out, tt.format, tt.entries, style, func(tw *tabwriter.Writer) { fmt.Fprintln(tw, "NAME") }); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s %v: %q, want %q", tt.format, tt.entries, out.String(), tt.want)
		}
	}
}
