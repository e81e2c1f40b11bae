package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileFiles are the costliest compose files of the hostile-input corpus
// (project/hostile_test.go has them all): the ones that cost seconds and
// hundreds of MB before berth bounded its loading, and the biggest the limits
// let through. ok says whether berth accepts the file.
func hostileFiles() []struct {
	what, text string
	ok         bool
} {
	const svc = "services:\n  a:\n    image: busybox\n"
	nested := "x"
	for i := 0; i < 5000; i++ {
		nested = fmt.Sprintf("${V%d:-%s}", i, nested)
	}
	bomb := []string{`x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`}
	for i, n := range "bcdefghi" {
		bomb = append(bomb, fmt.Sprintf("x-%c: &%c [%s]", n, n, strings.TrimSuffix(strings.Repeat("*"+string("abcdefghi"[i])+",", 9), ",")))
	}
	var values, ports, long strings.Builder
	values.WriteString(svc + "    command:\n")
	for i := 0; i < 4_990; i++ {
		values.WriteString("      - \"${A:-${B:-x}}\"\n")
	}
	ports.WriteString("services:\n")
	for i := 0; i < 2; i++ {
		fmt.Fprintf(&ports, "  s%d:\n    image: busybox\n    ports: [\"%d-%d:1-1024\"]\n", i, 10000+i*1024, 10000+i*1024+1023)
	}
	long.WriteString("services:\n")
	for i := 0; long.Len() < 1<<20-5000; i++ {
		fmt.Fprintf(&long, "  s%d:\n    image: busybox\n    command: [\"%s\"]\n", i, strings.Repeat("x", 4000))
	}
	return []struct {
		what, text string
		ok         bool
	}{
		{"ports 1-65535:1-65535", svc + "    ports: [\"1-65535:1-65535\"]\n", false},
		{"${A:-${B:-...}} 5000 deep", svc + "    command: [\"" + nested + "\"]\n", false},
		{"10 MiB file", svc + "    command:\n" + strings.Repeat("      - \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n", 10<<20/64), false},
		{"alias bomb (9^9)", strings.Join(bomb, "\n") + "\n" + svc, false},
		{"5,000 interpolated values", values.String(), true},
		{"2048 published ports", ports.String(), true},
		{"1 MiB of long strings", long.String(), true},
	}
}

// TestBenchReportHostile prints the time (wall and CPU) and peak memory
// (maximum resident set) of `berth config -q` on the costliest hostile files, medians of
// benchRuns runs, and the worst of them (BERTH_BENCH=1, make bench). It
// needs no engine.
func TestBenchReportHostile(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("set BERTH_BENCH=1 (make bench)")
	}
	dir := t.TempDir()
	var out strings.Builder
	fmt.Fprintf(&out, "\nhostile compose files, berth config -q: medians of %d runs, peak RSS (%s)\n", benchRuns, time.Now().UTC().Format("2006-01-02"))
	worst, worstWhat, worstRSS := time.Duration(0), "", int64(0)
	for i, f := range hostileFiles() {
		file := filepath.Join(dir, fmt.Sprintf("hostile-%d.yaml", i))
		if err := os.WriteFile(file, []byte(f.text), 0o644); err != nil {
			t.Fatal(err)
		}
		var ds, cpus []time.Duration
		var rss int64
		verdict := ""
		for r := 0; r < benchRuns; r++ {
			d, cpu, maxRSS, code, stderr := timeConfig(t, dir, file)
			if (code == 0) != f.ok || code > 1 {
				t.Fatalf("%s: exit %d, want accepted=%v: %s", f.what, code, f.ok, stderr)
			}
			verdict = "accepted"
			if code != 0 {
				verdict = "refused"
			}
			ds = append(ds, d)
			cpus = append(cpus, cpu)
			rss = max(rss, maxRSS)
		}
		m := median(ds)
		fmt.Fprintf(&out, "%-32s%-10s%10s wall%10s CPU%8d MB\n", f.what, verdict, m.Round(time.Millisecond), median(cpus).Round(time.Millisecond), rss>>20)
		if m > worst {
			worst, worstWhat = m, f.what
		}
		worstRSS = max(worstRSS, rss)
	}
	fmt.Fprintf(&out, "worst hostile file: %s, %s; highest peak RSS %d MB\n", worstWhat, worst.Round(time.Millisecond), worstRSS>>20)
	fmt.Print(out.String())
}

// timeConfig runs berth config -q on file and gives its wall time, its CPU
// time (user and system), its maximum resident set in bytes, its exit code
// and its stderr.
func timeConfig(t *testing.T, dir, file string) (time.Duration, time.Duration, int64, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, berthBin, "-f", file, "config", "-q")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COMPOSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("berth config -q: %v", err)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // kilobytes on Linux
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return d, cpu, rss, cmd.ProcessState.ExitCode(), stderr.String()
}
