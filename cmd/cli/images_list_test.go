package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/reconcile"
)

func TestPrintImages(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	sums := []reconcile.ImageSummary{
		{Container: "p-db-1", ID: "sha256:" + strings.Repeat("a", 64), Repository: "redis", Tag: "7", OS: "linux", Architecture: "arm64", Variant: "v8",
			Size: 1984272, Created: now.Add(-3 * time.Hour), LastTagTime: now.Add(-time.Minute)},
		{Container: "p-old-1", ID: "sha256:" + strings.Repeat("b", 64)},
		{Container: "p-web-1", ID: "sha256:" + strings.Repeat("a", 64), Repository: "redis", Tag: "7", OS: "linux", Architecture: "arm64", Variant: "v8",
			Size: 1984272, Created: now.Add(-3 * time.Hour)},
	}
	for _, tt := range []struct {
		name, format string
		quiet        bool
		want         string
	}{
		{"table", "table", false, "" +
			"CONTAINER           REPOSITORY          TAG                 PLATFORM            IMAGE ID            SIZE                CREATED\n" +
			"p-db-1              redis               7                   linux/arm64/v8      aaaaaaaaaaaa        1.98MB              3 hours ago\n" +
			"p-old-1             <none>              <none>              unknown             bbbbbbbbbbbb        0B                  N/A\n" +
			"p-web-1             redis               7                   linux/arm64/v8      aaaaaaaaaaaa        1.98MB              3 hours ago\n"},
		{"json", "json", false, `[{"ID":"sha256:` + strings.Repeat("a", 64) + `","ContainerName":"p-db-1","Repository":"redis","Tag":"7","Platform":"linux/arm64/v8","Size":1984272,"Created":"2026-12-06T07:00:00Z","LastTagTime":"2026-12-06T09:59:00Z"},` +
			`{"ID":"sha256:` + strings.Repeat("b", 64) + `","ContainerName":"p-old-1","Repository":"","Tag":"","Platform":"unknown","Size":0},` +
			`{"ID":"sha256:` + strings.Repeat("a", 64) + `","ContainerName":"p-web-1","Repository":"redis","Tag":"7","Platform":"linux/arm64/v8","Size":1984272,"Created":"2026-12-06T07:00:00Z"}]` + "\n"},
		{"quiet", "table", true, strings.Repeat("a", 64) + "\n" + strings.Repeat("b", 64) + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			g := &globals{stdio: Stdio{Out: &out}}
			if err := printImages(g, sums, tt.format, tt.quiet, now); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}
	var out bytes.Buffer
	if err := printImages(&globals{stdio: Stdio{Out: &out}}, nil, "json", false, now); err != nil || out.String() != "[]\n" {
		t.Errorf("no containers: %q, %v; want an empty array", out.String(), err)
	}
	if err := printImages(&globals{stdio: Stdio{Out: &out}}, nil, "yaml", false, now); err == nil {
		t.Error("an unknown format is not an error")
	}
}
