package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchWatch prints the watch's save-to-sync latency (BERTH_BENCH=1,
// make bench): from a file written on the host to its new content read
// back from the container (which copies it every 2 ms to a bind-mounted
// directory the test polls), on each backend, and docker compose watch's where docker
// compose v2 is on PATH (v1 has no watch).
func TestBenchWatch(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("set BERTH_BENCH=1 (make bench)")
	}
	compose := fmt.Sprintf(`services:
  app:
    image: %s
    command: ["sh", "-c", "while :; do cat /src/f > /out/s.tmp 2>/dev/null && mv /out/s.tmp /out/seen; usleep 2000; done"]
    stop_signal: SIGKILL
    volumes: ["./out:/out"]
    develop:
      watch:
        - {path: ./src, target: /src, action: sync}
`, busyboxImage())
	type figure struct {
		who string
		d   time.Duration
	}
	var figures []figure
	measure := func(t *testing.T, p *testProject, argv ...string) time.Duration {
		bg := startCommand(t, p, argv...)
		bg.waitOutput(t, "Watch enabled")
		seen := func() string {
			b, _ := os.ReadFile(filepath.Join(p.dir, "out", "seen"))
			return string(b)
		}
		var ds []time.Duration
		for i := 0; i < benchRuns*2; i++ {
			want := strconv.Itoa(i) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
			start := time.Now()
			p.writeFile(t, "src/f", want)
			for time.Since(start) < 30*time.Second && seen() != want {
				time.Sleep(time.Millisecond)
			}
			if seen() != want {
				t.Fatalf("%s: the change never reached the container:\n%s", argv, bg.output())
			}
			ds = append(ds, time.Since(start))
			time.Sleep(300 * time.Millisecond) // a save, then a pause
		}
		return median(ds)
	}
	onBothBackends(t, func(t *testing.T, newP newProjectFunc) {
		p := newP(t, map[string]string{"compose.yaml": compose, "src/f": "start"})
		p.mustRun(t, "up", "-d")
		name := "berth watch (" + filepath.Base(t.Name()) + ")"
		figures = append(figures, figure{name, measure(t, p, berthBin, "watch", "--no-up")})
		if filepath.Base(t.Name()) == "engine" {
			for _, tl := range composeTools(t) {
				if tl.name != "docker-compose" && !strings.HasPrefix(tl.name, "docker compose") {
					continue // v1: no watch
				}
				figures = append(figures, figure{tl.name + " watch", measure(t, p, append(tl.argv, "watch", "--no-up")...)})
			}
		}
		p.mustRun(t, "down", "-t", "0")
	})
	fmt.Printf("\nwatch save-to-sync latency, medians of %d saves (%s)\n", benchRuns*2, time.Now().UTC().Format("2006-01-02"))
	for _, f := range figures {
		fmt.Printf("%-44s%14s\n", f.who, f.d.Round(time.Millisecond))
	}
	if len(figures) == 2 {
		fmt.Println("(no docker compose v2 on PATH: no figure for docker compose watch, whose quiet period alone is 500 ms)")
	}
}
