package dockercp

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/reconcile/hosttar/tartest"
	"github.com/berthdev/berth/service"
)

var update = flag.Bool("update", false, "rewrite the golden plans under testdata/cp")

func TestParseRequest(t *testing.T) {
	for _, tt := range []struct {
		src, dst string
		index    int
		all      bool
		want     Request
		wantErr  string
	}{
		{src: "web:/etc/hosts", dst: "./x", want: Request{Service: "web", Out: true, ContainerPath: "/etc/hosts", HostPath: "./x"}},
		{src: "web:etc/", dst: "-", index: 2, want: Request{Service: "web", Out: true, ContainerPath: "/etc/", HostPath: "-", Index: 2}},
		{src: "conf/.", dst: "web:/srv", want: Request{Service: "web", ContainerPath: "/srv", HostPath: "conf/.", All: true}},
		{src: "-", dst: "db:/init", index: 3, want: Request{Service: "db", ContainerPath: "/init", HostPath: "-", Index: 3}},
		{src: "", dst: "web:/x", wantErr: "must not be empty"},
		{src: "a", dst: "b", wantErr: `one of "a" and "b" must name a service`},
		{src: "web:/a", dst: "db:/b", wantErr: "copying between services is not supported"},
		{src: "web:", dst: ".", wantErr: `"web:" names no path in the container`},
		{src: "web:/a", dst: ".", index: -1, wantErr: "invalid --index -1"},
		{src: "web:/a", dst: ".", all: true, wantErr: "--all applies to copying into a service"},
	} {
		got, err := ParseRequest(tt.src, tt.dst, tt.index, tt.all)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRequest(%q, %q) = %v, want an error with %q", tt.src, tt.dst, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRequest(%q, %q) = %+v, %v; want %+v", tt.src, tt.dst, got, err, tt.want)
		}
	}
}

// TestPlan: the plans of copies out and in (golden), and bad input
// refused before any step.
func TestPlan(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"conf/app.conf": "x"})
	var cs []service.Container
	for _, n := range []string{"2", "1", "3"} {
		cs = append(cs, service.Container{ID: "id" + n, Name: "p-web-" + n,
			Labels: map[string]string{service.LabelService: "web", service.LabelContainerNumber: n}})
	}
	h := Host{WorkDir: dir}
	var got strings.Builder
	for _, args := range [][2]string{
		{"web:/etc/hosts", "out"}, {"web:/etc", "-"}, {"conf", "web:/srv"}, {"conf/.", "web:/srv/"}, {"-", "web:/init"},
	} {
		for _, index := range []int{0, 2} {
			r, err := ParseRequest(args[0], args[1], index, false)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Plan(cs, r, h)
			if err != nil {
				t.Fatalf("Plan(%+v): %v", r, err)
			}
			got.WriteString(fmt.Sprintf("# cp --index %d %s %s\n%s", index, args[0], args[1], plan))
		}
	}
	golden(t, got.String())

	for _, tt := range []struct {
		args [2]string
		want string
	}{
		{[2]string{"nothing", "web:/x"}, "path nothing not found"},
		{[2]string{"conf", "db:/x"}, "service db has no container"},
	} {
		r, err := ParseRequest(tt.args[0], tt.args[1], 0, false)
		if err != nil {
			t.Fatal(err)
		}
		svc := cs
		if r.Service == "db" {
			svc = nil
		}
		if _, err := Plan(svc, r, h); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Plan(%+v) = %v, want %q", r, err, tt.want)
		}
	}
}

func golden(t *testing.T, got string) {
	t.Helper()
	file := filepath.Join("..", "..", "testdata", "cp", "plans.golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./reconcile/dockercp -update)", err)
	}
	if got != string(want) {
		t.Errorf("plans differ from %s\n--- got ---\n%s--- want ---\n%s", file, got, want)
	}
}

// TestPlanApplied: the steps copy when reconcile.Apply runs them: a tar
// stream on standard input into two replicas (read once), then out of one
// to standard output; a backend that cannot copy is refused naming why.
func TestPlanApplied(t *testing.T) {
	ctx := t.Context()
	f, c1 := fakeContainer(t)
	id, err := f.CreateContainer(ctx, service.ContainerSpec{Name: "p-web-2", Image: "busybox", Labels: map[string]string{
		service.LabelProject: "p", service.LabelService: "web", service.LabelContainerNumber: "2",
	}})
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := f.Container(id)
	cs := []service.Container{c1, c2}
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	if err := tw.WriteHeader(&tar.Header{Name: "seed.sql", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte("sql"))
	_ = tw.Close()
	stdin := &countingReader{r: &in}

	r, err := ParseRequest("-", "web:/", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plan(cs, r, Host{WorkDir: t.TempDir(), In: stdin})
	if err != nil {
		t.Fatal(err)
	}
	if err := reconcile.Apply(ctx, f, plan, reconcile.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if stdin.reads == 0 || stdin.eofs != 1 {
		t.Errorf("standard input read to its end %d times, want once", stdin.eofs)
	}
	for _, i := range []int{1, 2} {
		r, _ := ParseRequest("web:/seed.sql", "-", i, false)
		var out bytes.Buffer
		plan, err := Plan(cs, r, Host{WorkDir: t.TempDir(), Out: &out})
		if err != nil {
			t.Fatal(err)
		}
		if err := reconcile.Apply(ctx, f, plan, reconcile.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := tartest.Listing(tartest.Read(t, &out)); got != "seed.sql=sql" {
			t.Errorf("replica %d holds %q", i, got)
		}
	}

	for _, args := range [][2]string{{"web:/seed.sql", "-"}, {"-", "web:/"}} {
		r, _ := ParseRequest(args[0], args[1], 0, false)
		plan, err := Plan(cs, r, Host{In: strings.NewReader("")})
		if err != nil {
			t.Fatal(err)
		}
		err = reconcile.Apply(ctx, bare{f}, plan, reconcile.ApplyOptions{})
		if !errors.Is(err, service.ErrUnsupported) || !strings.Contains(err.Error(), "this backend cannot copy files") {
			t.Errorf("cp %s %s on a backend without copies: %v", args[0], args[1], err)
		}
	}
}

// bare is a backend with none of the optional interfaces.
type bare struct{ service.Backend }

// countingReader counts the reads of a stream, and how often it ended.
type countingReader struct {
	r           io.Reader
	reads, eofs int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.eofs++
	}
	return n, err
}
