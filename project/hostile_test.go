package project

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"testing"
	"time"
)

var updateHostile = flag.Bool("update-hostile", false, "rewrite testdata/hostile/errors.golden")

// hostileTimeBound is the most one hostile file may take to load or be
// refused. Loads measure at most about 0.3 s on an idle machine (see the
// bench's hostile figure); the bound leaves room for a loaded CI machine,
// and for the race detector, which slows the loader about tenfold.
func hostileTimeBound() time.Duration {
	if raceEnabled {
		return 20 * time.Second
	}
	return 2 * time.Second
}

// hostileHeapBound bounds the heap a load may use at its peak: the
// 1-65535:1-65535 port range alone took 540 MB.
const hostileHeapBound = 100 << 20

// HostileCase is one file of the hostile-input corpus.
type hostileCase struct {
	name string
	// text is the file's content; empty for a file under testdata/hostile
	text []byte
	path string
}

// generatedHostile are the hostile files too big to commit, made here.
func generatedHostile() []hostileCase {
	var cases []hostileCase
	add := func(name string, text string) {
		cases = append(cases, hostileCase{name: "generated/" + name + ".yaml", text: []byte(text)})
	}
	const svc = "services:\n  a:\n    image: busybox\n"

	nested := func(depth int) string {
		s := "x"
		for i := 0; i < depth; i++ {
			s = fmt.Sprintf("${V%d:-%s}", i, s)
		}
		return s
	}
	add("interpolation-nested-5000", svc+"    command: [\""+nested(5000)+"\"]\n")
	add("interpolation-nested-33", svc+"    command: [\""+nested(33)+"\"]\n")
	add("interpolation-nested-32", svc+"    command: [\""+nested(32)+"\"]\n")
	add("interpolation-sequential-3000", svc+"    command: [\""+strings.Repeat("${A:-x}", 3000)+"\"]\n")
	add("interpolation-sequential-1000", svc+"    command: [\""+strings.Repeat("${A:-x}", 1000)+"\"]\n")
	var lines strings.Builder
	lines.WriteString(svc + "    command:\n")
	for i := 0; i < maxNodes-10; i++ {
		lines.WriteString("      - \"${A:-${B:-x}}\"\n")
	}
	add("interpolation-many-lines", lines.String())

	add("yaml-deep-flow-5000", "x-a: "+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+"\n"+svc)
	add("yaml-deep-flow-20000", "x-a: "+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+"\n"+svc)
	var deep strings.Builder
	deep.WriteString(svc + "    labels:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&deep, "%sk%d:\n", strings.Repeat("  ", i+3), i)
	}
	add("yaml-deep-block-100", deep.String())

	keys := func(n int) string {
		var b strings.Builder
		b.WriteString(svc + "    environment:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "      K%d: v\n", i)
		}
		return b.String()
	}
	add("mapping-1001-keys", keys(1001))
	add("mapping-1000-keys", keys(1000))
	add("values-over-limit", "x-l: ["+strings.TrimSuffix(strings.Repeat("1,", maxNodes), ",")+"]\n"+svc)
	add("values-under-limit", "x-l: ["+strings.TrimSuffix(strings.Repeat("1,", maxNodes-10), ",")+"]\n"+svc)
	var many strings.Builder
	many.WriteString("services:\n")
	for i := 0; many.Len() < maxFileSize-4000; i++ {
		if i == maxNodes/102-1 {
			break
		}
		fmt.Fprintf(&many, "  s%d:\n    image: busybox\n    environment:\n", i)
		for j := 0; j < 100; j++ {
			fmt.Fprintf(&many, "      K%d: v\n", j)
		}
	}
	add("near-limit-many-values", many.String())
	var long strings.Builder
	long.WriteString("services:\n")
	for i := 0; long.Len() < maxFileSize-5000; i++ {
		fmt.Fprintf(&long, "  s%d:\n    image: busybox\n    command: [\"%s\"]\n", i, strings.Repeat("x", 4000))
	}
	add("near-limit-long-strings", long.String())
	add("huge-10MiB", svc+"    command:\n"+strings.Repeat("      - \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n", 10<<20/64))

	var ports strings.Builder
	ports.WriteString("services:\n")
	for i := 0; i < 2; i++ {
		fmt.Fprintf(&ports, "  s%d:\n    image: busybox\n    ports: [\"%d-%d:1-1024\"]\n", i, 10000+i*1024, 10000+i*1024+1023)
	}
	add("ports-2048-in-2-services", ports.String())
	return cases
}

// TestHostileFiles loads every file of the hostile-input corpus
// (testdata/hostile, plus the big ones generated above): each must load or
// be refused with errors that all name the file and the line, with the
// messages in testdata/hostile/errors.golden, within hostileTimeBound and
// hostileHeapBound, and without a panic (Load turns a panic into an error
// that names no line, which fails here).
func TestHostileFiles(t *testing.T) {
	root, err := filepath.Abs("../testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(root, "*.yaml"))
	if len(paths) < 50 {
		t.Fatalf("found %d files under %s", len(paths), root)
	}
	var cases []hostileCase
	for _, p := range paths {
		cases = append(cases, hostileCase{name: filepath.Base(p), path: p})
	}
	gen := t.TempDir()
	for _, c := range generatedHostile() {
		c.path = filepath.Join(gen, c.name)
		if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path, c.text, 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	located := regexp.MustCompile(`^<dir>/\S+\.yaml:\d+: \S`)
	results := map[string]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Dir(c.path)
			took, heap, err := measureLoad(Options{WorkingDir: dir, Files: []string{c.path}, Env: []string{}})
			t.Logf("%d ms, heap peak %d MB", took.Milliseconds(), heap>>20)
			if took > hostileTimeBound() {
				t.Errorf("took %s, more than %s", took, hostileTimeBound())
			}
			if heap > hostileHeapBound {
				t.Errorf("heap peak %d MB, more than %d MB", heap>>20, hostileHeapBound>>20)
			}
			if err == nil {
				results[c.name] = "ok\n"
				return
			}
			var b strings.Builder
			for _, le := range Errors(err) {
				msg := strings.ReplaceAll(le.Error(), dir, "<dir>")
				if !located.MatchString(msg) {
					t.Errorf("not located (file:line): %s", msg)
				}
				b.WriteString(msg + "\n")
			}
			if len(Errors(err)) == 0 {
				t.Errorf("not a LoadError: %v", err)
				b.WriteString(strings.ReplaceAll(err.Error(), dir, "<dir>") + "\n")
			}
			results[c.name] = b.String()
		})
	}

	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	var got strings.Builder
	for _, n := range names {
		fmt.Fprintf(&got, "== %s\n%s", n, results[n])
	}
	golden := filepath.Join(root, "errors.golden")
	if *updateHostile {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./project -run TestHostileFiles -update-hostile writes it)", err)
	}
	if got.String() != string(want) {
		t.Errorf("messages differ from %s (go test ./project -run TestHostileFiles -update-hostile rewrites it):\n%s", golden, diffLines(string(want), got.String()))
	}
}

// measureLoad loads with opts, returning the time taken and the peak of the
// heap's objects, sampled every millisecond.
func measureLoad(opts Options) (time.Duration, uint64, error) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	_, err := Load(context.Background(), opts)
	took := time.Since(start)
	close(done)
	<-stopped
	return took, peak, err
}

// diffLines lists the lines of got that want lacks and the other way round.
func diffLines(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// TestGuardWithoutInterpolation checks that ${...} forms are bounded when
// interpolation is off too: config --variables parses them with the same
// template package (interpolation nested 4,000 deep took it 13 s).
func TestGuardWithoutInterpolation(t *testing.T) {
	nested := "x"
	for i := 0; i < 4000; i++ {
		nested = fmt.Sprintf("${V%d:-%s}", i, nested)
	}
	dir := writeFiles(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: \"" + nested + "\"\n"})
	_, err := LoadModel(context.Background(), Options{WorkingDir: dir, Env: []string{}, NoInterpolate: true})
	if err == nil || !strings.Contains(err.Error(), "compose.yaml:3: services.a.image: interpolation nested 4000 levels deep") {
		t.Fatalf("got %v, want the nesting refused at compose.yaml:3", err)
	}
}
