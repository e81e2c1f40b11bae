//go:build linux

package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

func TestBuildConfig(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	run := &fakeRunner{store: s, steps: map[string]fakeStep{}}
	v := "from-spec"
	tests := []struct {
		name       string
		dockerfile string
		spec       service.BuildSpec
		check      func(t *testing.T, c image.Config, raw dockerspec.DockerOCIImage)
	}{
		{
			name:       "inherits the base",
			dockerfile: "FROM base:1\n",
			check: func(t *testing.T, c image.Config, raw dockerspec.DockerOCIImage) {
				if !slices.Equal(c.Cmd, []string{"/bin/sh"}) || !slices.Equal(c.Env, []string{"PATH=/usr/bin:/bin"}) || c.Labels["base"] != "1" {
					t.Errorf("config = %+v", c)
				}
				if raw.Created == nil || !raw.Created.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
					t.Errorf("created = %v, want the base's", raw.Created)
				}
			},
		},
		{
			name:       "env and label",
			dockerfile: "FROM base:1\nENV A=1 B=\"two words\"\nENV C=${A}-$B PATH=/opt:$PATH\nLABEL x=y \"quoted key\"=\"a b\" from.env=$A\n",
			spec:       service.BuildSpec{Labels: map[string]string{"from.spec": "yes", "x": "spec wins"}},
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				wantEnv := []string{"PATH=/opt:/usr/bin:/bin", "A=1", "B=two words", "C=1-two words"}
				if !slices.Equal(c.Env, wantEnv) {
					t.Errorf("Env = %q, want %q", c.Env, wantEnv)
				}
				wantLabels := map[string]string{"base": "1", "x": "spec wins", "quoted key": "a b", "from.env": "1", "from.spec": "yes"}
				if !maps.Equal(c.Labels, wantLabels) {
					t.Errorf("Labels = %v, want %v", c.Labels, wantLabels)
				}
			},
		},
		{
			name:       "user workdir stopsignal maintainer",
			dockerfile: "FROM base:1\nENV D=/srv\nWORKDIR $D\nWORKDIR app\nUSER app:staff\nSTOPSIGNAL SIGQUIT\nMAINTAINER me\n",
			check: func(t *testing.T, c image.Config, raw dockerspec.DockerOCIImage) {
				if c.WorkingDir != "/srv/app" || c.User != "app:staff" || c.StopSignal != "SIGQUIT" || raw.Author != "me" {
					t.Errorf("config = %+v, author %q", c, raw.Author)
				}
			},
		},
		{
			name:       "expose and volume",
			dockerfile: "FROM base:1\nARG P=8080\nEXPOSE 80 53/udp $P 9000-9001/tcp\nVOLUME /data\nVOLUME [\"/cache\", \"/logs\"]\n",
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				wantPorts := []string{"53/udp", "80/tcp", "8080/tcp", "9000/tcp", "9001/tcp"}
				if !slices.Equal(c.ExposedPorts, wantPorts) || !slices.Equal(c.Volumes, []string{"/cache", "/data", "/logs"}) {
					t.Errorf("ports %q volumes %q", c.ExposedPorts, c.Volumes)
				}
			},
		},
		{
			name:       "cmd and entrypoint",
			dockerfile: "FROM base:1\nCMD [\"serve\", \"--port\", \"80\"]\nENTRYPOINT [\"/app\"]\n",
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				if !slices.Equal(c.Entrypoint, []string{"/app"}) || !slices.Equal(c.Cmd, []string{"serve", "--port", "80"}) {
					t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
				}
				argv, _, _, _, err := image.ApplyConfig(c, service.ContainerSpec{})
				if err != nil || !slices.Equal(argv, []string{"/app", "serve", "--port", "80"}) {
					t.Errorf("ApplyConfig argv = %q, %v", argv, err)
				}
			},
		},
		{
			name:       "entrypoint resets an inherited cmd",
			dockerfile: "FROM base:1\nENTRYPOINT exec /app\n",
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				if !slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c", "exec /app"}) || c.Cmd != nil {
					t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
				}
			},
		},
		{
			name:       "shell",
			dockerfile: "FROM base:1\nSHELL [\"/bin/bash\", \"-euc\"]\nCMD echo $HOME\n",
			check: func(t *testing.T, c image.Config, raw dockerspec.DockerOCIImage) {
				if !slices.Equal(c.Cmd, []string{"/bin/bash", "-euc", "echo $HOME"}) || !slices.Equal(raw.Config.Shell, []string{"/bin/bash", "-euc"}) {
					t.Errorf("cmd %q shell %q", c.Cmd, raw.Config.Shell)
				}
			},
		},
		{
			name:       "healthcheck",
			dockerfile: "FROM base:1\nHEALTHCHECK --interval=5s --timeout=2s --start-period=1m --start-interval=1s --retries=4 CMD curl -f http://localhost/\n",
			check: func(t *testing.T, c image.Config, raw dockerspec.DockerOCIImage) {
				want := image.Healthcheck{Test: []string{"CMD-SHELL", "curl -f http://localhost/"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: time.Minute, Retries: 4}
				if h := c.Healthcheck; h == nil || !slices.Equal(h.Test, want.Test) || h.Interval != want.Interval || h.Timeout != want.Timeout || h.StartPeriod != want.StartPeriod || h.Retries != want.Retries {
					t.Errorf("healthcheck = %+v, want %+v", c.Healthcheck, want)
				}
				if h := raw.Config.Healthcheck; h == nil || h.StartInterval != time.Second {
					t.Errorf("raw healthcheck = %+v, want a start interval", h)
				}
			},
		},
		{
			name:       "healthcheck none",
			dockerfile: "FROM base:1\nHEALTHCHECK CMD [\"/check\"]\nHEALTHCHECK NONE\n",
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				if h := c.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"NONE"}) {
					t.Errorf("healthcheck = %+v", h)
				}
			},
		},
		{
			name:       "args",
			dockerfile: "ARG BASE=base\nARG GLOBAL=g\nFROM ${BASE}:1\nARG GLOBAL\nARG V=default W X=x\nENV FROM_ARGS=$GLOBAL-$V-${W:-unset}-$X\nARG X=ignored\nLABEL x=$X\n",
			spec:       service.BuildSpec{Args: map[string]*string{"V": &v, "W": nil, "X": nil}},
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				if !slices.Contains(c.Env, "FROM_ARGS=g-from-spec-unset-x") || c.Labels["x"] != "ignored" {
					t.Errorf("env %q labels %v", c.Env, c.Labels)
				}
				for _, e := range c.Env {
					if strings.HasPrefix(e, "V=") || strings.HasPrefix(e, "GLOBAL=") {
						t.Errorf("an ARG is in the image's Env: %q", c.Env)
					}
				}
			},
		},
		{
			name:       "env wins over arg",
			dockerfile: "FROM base:1\nARG A=arg\nENV A=env\nLABEL a=$A\n",
			spec:       service.BuildSpec{Args: map[string]*string{"A": &v}},
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				if c.Labels["a"] != "env" {
					t.Errorf("label a = %q, want env", c.Labels["a"])
				}
			},
		},
		{
			name:       "platform args",
			dockerfile: "FROM base:1\nARG TARGETOS\nARG TARGETARCH\nLABEL p=$TARGETOS/$TARGETARCH\n",
			spec:       service.BuildSpec{Platform: "linux/arm64"},
			check: func(t *testing.T, c image.Config, _ dockerspec.DockerOCIImage) {
				if c.Labels["p"] != "linux/arm64" {
					t.Errorf("label p = %q", c.Labels["p"])
				}
			},
		},
		{
			name:       "scratch",
			dockerfile: "FROM scratch\nCMD [\"/app\"]\n",
			spec:       service.BuildSpec{Platform: "linux/arm/v7"},
			check: func(t *testing.T, c image.Config, raw dockerspec.DockerOCIImage) {
				if c.OS != "linux" || c.Architecture != "arm" || c.Variant != "v7" || len(raw.RootFS.DiffIDs) != 0 || raw.RootFS.Type != "layers" {
					t.Errorf("config %+v rootfs %+v", c, raw.RootFS)
				}
				if raw.Created == nil || !raw.Created.Equal(epoch) {
					t.Errorf("created = %v, want the epoch", raw.Created)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tag := "test/" + strings.ReplaceAll(tt.name, " ", "-")
			spec := tt.spec
			spec.Tags = []string{tag}
			id := mustBuild(t, s, run, spec, map[string]string{"Dockerfile": tt.dockerfile})
			img, err := s.Get(tag)
			if err != nil || img.ID != id {
				t.Fatalf("Get(%q) = %+v, %v; want %s", tag, img, err, id)
			}
			tt.check(t, img.Config, rawConfig(t, s, tag))
		})
	}
	if run.count() != 0 {
		t.Errorf("the runner ran %d steps for Dockerfiles without RUN", run.count())
	}
}

func TestBuildProgressAndDeterminism(t *testing.T) {
	files := map[string]string{
		"Dockerfile": "FROM base:1\nLABEL x=y\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "hello\n",
	}
	s := openStore(t)
	seedBase(t, s)
	spec := service.BuildSpec{Tags: []string{"app", "reg.example:5000/team/app:2"}, Labels: map[string]string{"l": "v"}}
	id, progress, err := doBuild(t, s, nil, spec, files)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(progress, "\n"), "\n")
	want := []string{"Step 1/3 : FROM base:1", "", "Step 2/3 : LABEL x=y", "", "Step 3/3 : COPY hello.txt /hello.txt", "",
		"Successfully built " + id[7:19], "Successfully tagged app:latest", "Successfully tagged reg.example:5000/team/app:2"}
	if len(lines) != len(want) {
		t.Fatalf("progress:\n%s", progress)
	}
	for i, l := range lines {
		if want[i] == "" {
			if !strings.HasPrefix(l, " ---> ") || len(l) != len(" ---> ")+12 {
				t.Errorf("progress line %d = %q, want \" ---> <ID>\"", i, l)
			}
		} else if l != want[i] {
			t.Errorf("progress line %d = %q, want %q", i, l, want[i])
		}
	}
	for _, ref := range []string{"app", "docker.io/library/app:latest", "reg.example:5000/team/app:2", id} {
		if img, err := s.Get(ref); err != nil || img.ID != id {
			t.Errorf("Get(%q) = %+v, %v", ref, img, err)
		}
	}
	ents := layerEntries(t, s, "app", -1)
	if got := names(ents); !slices.Equal(got, []string{"hello.txt"}) {
		t.Errorf("COPY layer = %q", got)
	}
	if e := find(t, ents, "hello.txt"); e.body != "hello\n" || e.hdr.Mode != 0o644 || e.hdr.Uid != 0 || !e.hdr.ModTime.Equal(contextTime) {
		t.Errorf("hello.txt = %+v %q", e.hdr, e.body)
	}

	// The same again, in the same store and in another: the same ID.
	if again := mustBuild(t, s, nil, spec, files); again != id {
		t.Errorf("rebuilding gave %s, want %s", again, id)
	}
	other := openStore(t)
	seedBase(t, other)
	if again := mustBuild(t, other, nil, spec, files); again != id {
		t.Errorf("building in another store gave %s, want %s", again, id)
	}
	// A changed file, label or arg gives another; the first tags stay.
	changed := maps.Clone(files)
	changed["hello.txt"] = "changed\n"
	for name, id2 := range map[string]string{
		"file":  mustBuild(t, s, nil, service.BuildSpec{Tags: []string{"changed"}, Labels: spec.Labels}, changed),
		"label": mustBuild(t, s, nil, service.BuildSpec{Tags: []string{"changed"}}, files),
	} {
		if id2 == id {
			t.Errorf("a changed %s gave the same ID", name)
		}
	}
	if img, err := s.Get("app"); err != nil || img.ID != id {
		t.Errorf("app moved: %+v, %v", img, err)
	}
}

func TestBuildRun(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	run := &fakeRunner{store: s, steps: map[string]fakeStep{
		"make":        {files: map[string]string{"out/app": "binary", "tmp/x": "x"}, output: "compiling\n"},
		"cleanup":     {remove: []string{"old.txt", "data/a"}},
		"reset cache": {opaque: []string{"data"}, files: map[string]string{"data/new": "n"}},
		"noop":        {},
	}}
	v := "2"
	files := map[string]string{
		"Dockerfile": "FROM base:1\nARG V=1\nENV E=e\nWORKDIR /src\nUSER app\nRUN make\nRUN [\"cleanup\"]\nRUN --network=none reset cache\nRUN noop\n",
	}
	spec := service.BuildSpec{Tags: []string{"ran"}, Args: map[string]*string{"V": &v}, Network: "host", ExtraHosts: []string{"h:1.2.3.4"}, ShmSize: 1 << 20, Memory: 1 << 28}
	id, progress, err := doBuild(t, s, run, spec, files)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if !strings.Contains(progress, "compiling\n") {
		t.Errorf("RUN output not in progress:\n%s", progress)
	}
	if run.count() != 4 {
		t.Fatalf("runner calls = %d, want 4", run.count())
	}
	first := run.calls[0]
	wantEnv := []string{"PATH=/usr/bin:/bin", "E=e", "V=2"}
	if !slices.Equal(first.step.Cmd, []string{"/bin/sh", "-c", "make"}) || !slices.Equal(first.step.Env, wantEnv) ||
		first.step.User != "app" || first.step.WorkDir != "/src" || first.step.Network != "host" ||
		!slices.Equal(first.step.ExtraHosts, spec.ExtraHosts) || first.step.ShmSize != 1<<20 || first.step.Memory != 1<<28 {
		t.Errorf("first step = %+v", first.step)
	}
	if first.cfg.WorkingDir != "/src" || !strings.HasPrefix(first.image, tempRepo+":") {
		t.Errorf("first step ran in %s with config %+v", first.image, first.cfg)
	}
	if c := run.calls[1].step.Cmd; !slices.Equal(c, []string{"cleanup"}) {
		t.Errorf("exec form ran %q", c)
	}
	if n := run.calls[2].step.Network; n != "none" {
		t.Errorf("RUN --network=none ran with network %q", n)
	}

	img, err := s.Get("ran")
	if err != nil || img.ID != id {
		t.Fatal(img, err)
	}
	// base, WORKDIR, make, cleanup, reset; noop changed nothing.
	if len(img.Layers) != 5 {
		t.Fatalf("%d layers, want 5", len(img.Layers))
	}
	wd := layerEntries(t, s, "ran", 1)
	if got := names(wd); !slices.Equal(got, []string{"src/"}) || wd[0].hdr.Mode != 0o755 {
		t.Errorf("WORKDIR layer = %q", got)
	}
	mk := layerEntries(t, s, "ran", 2)
	if got := names(mk); !slices.Equal(got, []string{"out/", "out/app", "tmp/", "tmp/x"}) {
		t.Errorf("make layer = %q", got)
	}
	if e := find(t, mk, "out/app"); e.body != "binary" {
		t.Errorf("out/app = %q", e.body)
	}
	cl := layerEntries(t, s, "ran", 3)
	if got := names(cl); !slices.Equal(got, []string{"data/", "data/.wh.a", ".wh.old.txt"}) && !slices.Equal(got, []string{".wh.old.txt", "data/", "data/.wh.a"}) {
		t.Errorf("cleanup layer = %q", got)
	}
	if e := find(t, cl, ".wh.old.txt"); e.hdr.Typeflag != tar.TypeReg || e.hdr.Size != 0 {
		t.Errorf("whiteout = %+v", e.hdr)
	}
	rs := layerEntries(t, s, "ran", 4)
	if got := names(rs); !slices.Equal(got, []string{"data/", "data/.wh..wh..opq", "data/new"}) {
		t.Errorf("reset layer = %q", got)
	}
	// The RUN history says what ran, with the arguments.
	raw := rawConfig(t, s, "ran")
	var by []string
	for _, h := range raw.History {
		by = append(by, h.CreatedBy)
	}
	if !slices.Contains(by, "RUN |1 V=2 /bin/sh -c make") {
		t.Errorf("history = %q", by)
	}
	// The images the steps ran in are gone.
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range list {
		for _, r := range im.Refs {
			if strings.Contains(r, "berth-build") {
				t.Errorf("temporary reference %s left", r)
			}
		}
	}

	// Again: every RUN from the cache, the same image.
	id2, progress, err := doBuild(t, s, run, spec, files)
	if err != nil {
		t.Fatal(err)
	}
	if run.count() != 4 {
		t.Errorf("the cached build ran %d steps", run.count()-4)
	}
	if id2 != id || strings.Count(progress, " ---> Using cache") != 4 {
		t.Errorf("cached build = %s, want %s; progress:\n%s", id2, id, progress)
	}
	// The cache survives the store's GC, which removes the blobs of
	// untagged images.
	if err := s.Remove("ran"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if id3 := mustBuild(t, s, run, spec, files); id3 != id || run.count() != 4 {
		t.Errorf("after GC: %s (want %s), %d runs", id3, id, run.count()-4)
	}
	if ents := layerEntries(t, s, "ran", 2); len(ents) != 4 {
		t.Errorf("cached layer read back after GC: %q", names(ents))
	}

	// A changed arg misses the cache from the first RUN on.
	w := "3"
	mustBuild(t, s, run, service.BuildSpec{Args: map[string]*string{"V": &w}, Network: "host", ExtraHosts: spec.ExtraHosts, ShmSize: spec.ShmSize}, files)
	if run.count() != 8 {
		t.Errorf("a changed arg ran %d steps, want 4", run.count()-4)
	}
	// NoCache runs every step.
	spec.NoCache = true
	mustBuild(t, s, run, spec, files)
	if run.count() != 12 {
		t.Errorf("NoCache ran %d steps, want 4", run.count()-8)
	}
}

func TestBuildRunFailure(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	run := &fakeRunner{store: s, steps: map[string]fakeStep{
		"false":   {exit: 1},
		"make":    {exit: 2, output: "cc main.c\nmain.c:1: error: boom\n\n"},
		"partial": {exit: 3, output: "last line without newline"},
	}}
	tests := []struct{ dockerfile, want string }{
		{"FROM base:1\nRUN false\nLABEL never=1\n", "Step 2/3 : RUN false: The command '/bin/sh -c false' returned a non-zero code: 1"},
		{"FROM base:1\nRUN   make  \n", "Step 2/2 : RUN   make: The command '/bin/sh -c make' returned a non-zero code: 2: main.c:1: error: boom"},
		{"FROM base:1\nRUN [\"partial\"]\n", "Step 2/2 : RUN [\"partial\"]: The command 'partial' returned a non-zero code: 3: last line without newline"},
		{"FROM base:1\nRUN missing\n", "Step 2/2 : RUN missing: The command '/bin/sh -c missing' returned a non-zero code: 127: sh: not found"},
	}
	for _, tt := range tests {
		_, progress, err := doBuild(t, s, run, service.BuildSpec{Tags: []string{"failed"}}, map[string]string{"Dockerfile": tt.dockerfile})
		if err == nil || err.Error() != tt.want {
			t.Errorf("error = %v\nwant    %s\nprogress:\n%s", err, tt.want, progress)
		}
		if _, err := s.Get("failed"); !errors.Is(err, service.ErrNotFound) {
			t.Errorf("a failed build tagged its image: %v", err)
		}
	}
	// No runner: RUN is an error, not a crash.
	if _, _, err := doBuild(t, s, nil, service.BuildSpec{}, map[string]string{"Dockerfile": "FROM base:1\nRUN true\n"}); err == nil || !strings.Contains(err.Error(), "Step 2/2 : RUN true") {
		t.Errorf("RUN without a runner: %v", err)
	}
	list, _ := s.List()
	for _, im := range list {
		for _, r := range im.Refs {
			if strings.Contains(r, "berth-build") {
				t.Errorf("temporary reference %s left by a failed build", r)
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	tests := []struct {
		name        string
		spec        service.BuildSpec
		files       map[string]string
		want        string
		notFound    bool
		unsupported bool
	}{
		{name: "missing base", files: map[string]string{"Dockerfile": "FROM nope:1\n"}, want: `Step 1/1 : FROM nope:1: image "nope:1" is not in the image store`, notFound: true},
		{name: "missing copy --from image", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY --from=nope:2 /x /x\n"}, want: `Step 2/2 : COPY --from=nope:2 /x /x: --from=nope:2: image "nope:2"`, notFound: true},
		{name: "no Dockerfile", spec: service.BuildSpec{Dockerfile: "sub/Dockerfile"}, files: map[string]string{"Dockerfile": "FROM base:1\n"}, want: "cannot locate specified Dockerfile: sub/Dockerfile"},
		{name: "default Dockerfile missing", files: map[string]string{"x": "y"}, want: "cannot locate specified Dockerfile: Dockerfile"},
		{name: "unknown instruction", files: map[string]string{"Dockerfile": "FROM base:1\n\nFROB x\n"}, want: "Dockerfile: dockerfile parse error on line 3: unknown instruction: FROB"},
		{name: "onbuild", files: map[string]string{"Dockerfile": "FROM base:1\nONBUILD RUN x\n"}, want: "Dockerfile: dockerfile line 2: ONBUILD is not supported", unsupported: true},
		{name: "add url", files: map[string]string{"Dockerfile": "FROM base:1\nADD https://example.com/x /x\n"}, want: "Step 2/2 : ADD https://example.com/x /x: ADD from a URL (https://example.com/x) is not supported", unsupported: true},
		{name: "missing source", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY nope /x\n"}, want: `Step 2/2 : COPY nope /x: "nope": not found in the build context`},
		{name: "no glob match", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY *.go /x/\n"}, want: `Step 2/2 : COPY *.go /x/: "*.go": no source files in the build context match`},
		{name: "many sources to a file", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY a b /x\n", "a": "", "b": ""}, want: "the destination must be a directory and end with a /"},
		{name: "missing target", spec: service.BuildSpec{Target: "dev"}, files: map[string]string{"Dockerfile": "FROM base:1 AS build\n"}, want: "failed to reach build target dev in Dockerfile"},
		{name: "bad tag", spec: service.BuildSpec{Tags: []string{"Upper/Case"}}, files: map[string]string{"Dockerfile": "FROM base:1\n"}, want: `invalid tag "Upper/Case"`},
		{name: "unknown user", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY --chown=nobody a /a\n", "a": ""}, want: "unable to find user nobody"},
		{name: "symbolic chmod", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY --chmod=u+x a /a\n", "a": ""}, want: "--chmod=u+x: only octal modes are supported", unsupported: true},
		{name: "reserved name", files: map[string]string{"Dockerfile": "FROM base:1\nCOPY . /x/\n", "d/.wh.x": ""}, want: "x/d/.wh.x: names starting with .wh. are reserved"},
		{name: "workdir on a file", files: map[string]string{"Dockerfile": "FROM base:1\nWORKDIR /old.txt/x\n"}, want: "Step 2/2 : WORKDIR /old.txt/x: /old.txt: not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, progress, err := doBuild(t, s, nil, tt.spec, tt.files)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant    %s\nprogress:\n%s", err, tt.want, progress)
			}
			if errors.Is(err, service.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v", !tt.notFound)
			}
			if errors.Is(err, service.ErrUnsupported) != tt.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v", !tt.unsupported)
			}
		})
	}
}

func TestBuildCopy(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	exec := file("pkg/bin/tool", "tool")
	exec.mode, exec.uid, exec.gid = 0o755, 7, 8
	zw.Write(mktar(t, dir("pkg"), dir("pkg/bin"), exec, sym("pkg/link", "bin/tool"), ent{name: "pkg/hard", typ: tar.TypeLink, link: "pkg/bin/tool"}))
	zw.Close()
	files := map[string]string{
		"Dockerfile": `FROM base:1
WORKDIR /app
COPY a.txt .
COPY src/ dst/
COPY *.md /docs/
COPY --chown=app:staff --chmod=600 a.txt /home/app/secret
COPY --chown=1000 a.txt /owned
COPY a.txt /lib/copied
COPY src /tmp/
ADD pkg.tgz /opt/
ADD --unpack=false pkg.tgz /raw/
`,
		"a.txt":         "A",
		"src/one":       "1",
		"src/sub/two":   "2",
		"README.md":     "readme",
		"CHANGES.md":    "changes",
		"pkg.tgz":       tgz.String(),
		"ignored/x.txt": "x",
	}
	mustBuild(t, s, nil, service.BuildSpec{Tags: []string{"copied"}}, files)
	img, err := s.Get("copied")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 11 {
		t.Fatalf("%d layers, want 11", len(img.Layers))
	}
	check := func(i int, want ...string) []entry {
		t.Helper()
		ents := layerEntries(t, s, "copied", i)
		if got := names(ents); !slices.Equal(got, want) {
			t.Errorf("layer %d = %q, want %q", i, got, want)
		}
		return ents
	}
	check(1, "app/")
	check(2, "app/", "app/a.txt")
	dst := check(3, "app/", "app/dst/", "app/dst/one", "app/dst/sub/", "app/dst/sub/two")
	_ = dst
	check(4, "docs/", "docs/CHANGES.md", "docs/README.md")
	secret := check(5, "home/", "home/app/", "home/app/secret")
	if h := find(t, secret, "home/app/secret").hdr; h.Uid != 1000 || h.Gid != 50 || h.Mode != 0o600 {
		t.Errorf("secret = uid %d gid %d mode %o", h.Uid, h.Gid, h.Mode)
	}
	if h := find(t, secret, "home/app/").hdr; h.Uid != 1000 || h.Gid != 50 || h.Mode != 0o755 {
		t.Errorf("created dir = uid %d gid %d mode %o", h.Uid, h.Gid, h.Mode)
	}
	owned := check(6, "owned")
	if h := owned[0].hdr; h.Uid != 1000 || h.Gid != 1000 {
		t.Errorf("--chown=1000: uid %d gid %d", h.Uid, h.Gid)
	}
	// /lib is a link to usr/lib: the file lands there, and usr and
	// usr/lib keep their metadata.
	check(7, "usr/", "usr/lib/", "usr/lib/copied")
	tmp := check(8, "tmp/", "tmp/one", "tmp/sub/", "tmp/sub/two")
	if h := find(t, tmp, "tmp/").hdr; h.Mode != 0o1777 {
		t.Errorf("/tmp mode = %o, want the base's 1777", h.Mode)
	}
	opt := check(9, "opt/", "opt/pkg/", "opt/pkg/bin/", "opt/pkg/bin/tool", "opt/pkg/hard", "opt/pkg/link")
	if e := find(t, opt, "opt/pkg/bin/tool"); e.body != "tool" || e.hdr.Mode != 0o755 || e.hdr.Uid != 7 || e.hdr.Gid != 8 {
		t.Errorf("extracted tool = %+v %q", e.hdr, e.body)
	}
	if e := find(t, opt, "opt/pkg/hard"); e.body != "tool" || e.hdr.Typeflag != tar.TypeReg {
		t.Errorf("extracted hard link = %+v %q", e.hdr, e.body)
	}
	if e := find(t, opt, "opt/pkg/link"); e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "bin/tool" {
		t.Errorf("extracted symlink = %+v", e.hdr)
	}
	raw := check(10, "raw/", "raw/pkg.tgz")
	if e := find(t, raw, "raw/pkg.tgz"); e.body != tgz.String() {
		t.Error("ADD --unpack=false changed the archive")
	}
}

func TestBuildWorkdirOwner(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	files := map[string]string{"Dockerfile": "FROM base:1\nUSER app\nWORKDIR /home/app/work\nUSER 4242\nWORKDIR /srv\nUSER app:staff\nWORKDIR /tmp\n"}
	mustBuild(t, s, nil, service.BuildSpec{Tags: []string{"wd"}}, files)
	img, err := s.Get("wd")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 {
		t.Fatalf("%d layers, want 3 (an existing WORKDIR adds none)", len(img.Layers))
	}
	home := layerEntries(t, s, "wd", 1)
	if got := names(home); !slices.Equal(got, []string{"home/", "home/app/", "home/app/work/"}) {
		t.Fatalf("WORKDIR layer = %q", got)
	}
	for _, e := range home {
		if e.hdr.Uid != 1000 || e.hdr.Gid != 1001 || e.hdr.Mode != 0o755 {
			t.Errorf("%s: uid %d gid %d mode %o, want 1000:1001 0755", e.hdr.Name, e.hdr.Uid, e.hdr.Gid, e.hdr.Mode)
		}
	}
	if srv := layerEntries(t, s, "wd", 2); len(srv) != 1 || srv[0].hdr.Uid != 4242 || srv[0].hdr.Gid != 0 {
		t.Errorf("WORKDIR /srv as 4242 = %+v", srv[0].hdr)
	}
	// A user the image does not know is an error.
	_, _, err = doBuild(t, s, nil, service.BuildSpec{}, map[string]string{"Dockerfile": "FROM base:1\nUSER ghost\nWORKDIR /x\n"})
	if err == nil || !strings.Contains(err.Error(), "Step 3/3 : WORKDIR /x: USER ghost: unable to find user ghost") {
		t.Errorf("WORKDIR as an unknown user: %v", err)
	}
}

func TestBuildMultiStage(t *testing.T) {
	s := openStore(t)
	seedBase(t, s)
	run := &fakeRunner{store: s, steps: map[string]fakeStep{
		"build":  {files: map[string]string{"out/app": "binary", "out/lib/x.so": "so"}},
		"unused": {files: map[string]string{"x": "x"}},
		"test":   {files: map[string]string{"report": "ok"}},
	}}
	files := map[string]string{
		"Dockerfile": `ARG BUILDER=base:1
FROM ${BUILDER} AS build
RUN build
FROM base:1 AS unused
RUN unused
FROM build AS test
RUN test
FROM scratch
COPY --from=build /out/app /app
COPY --from=0 --chown=1:2 /out/lib /lib/
COPY --from=base:1 /etc/passwd /etc/
COPY --from=test /report /
ENTRYPOINT ["/app"]
`,
	}
	id, progress, err := doBuild(t, s, run, service.BuildSpec{Tags: []string{"multi"}}, files)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if run.count() != 2 {
		t.Errorf("ran %d steps, want 2 (build and test, not unused)", run.count())
	}
	if !strings.Contains(progress, "Step 1/11 : ARG BUILDER=base:1\n") || !strings.Contains(progress, "Step 11/11 : ENTRYPOINT [\"/app\"]\n") {
		t.Errorf("progress:\n%s", progress)
	}
	img, err := s.Get("multi")
	if err != nil || img.ID != id {
		t.Fatal(err)
	}
	if len(img.Layers) != 4 {
		t.Fatalf("%d layers, want 4", len(img.Layers))
	}
	if e := layerEntries(t, s, "multi", 0); !slices.Equal(names(e), []string{"app"}) || e[0].body != "binary" {
		t.Errorf("COPY --from=build = %q", names(e))
	}
	lib := layerEntries(t, s, "multi", 1)
	if !slices.Equal(names(lib), []string{"lib/", "lib/x.so"}) || lib[1].hdr.Uid != 1 || lib[1].hdr.Gid != 2 || lib[1].body != "so" {
		t.Errorf("COPY --from=0 = %q", names(lib))
	}
	if e := layerEntries(t, s, "multi", 2); !slices.Equal(names(e), []string{"etc/", "etc/passwd"}) || !strings.HasPrefix(e[1].body, "root:") {
		t.Errorf("COPY --from=base:1 = %q", names(e))
	}
	if e := layerEntries(t, s, "multi", 3); !slices.Equal(names(e), []string{"report"}) {
		t.Errorf("COPY --from=test = %q", names(e))
	}

	// The target stage.
	tid, progress, err := doBuild(t, s, run, service.BuildSpec{Tags: []string{"test"}, Target: "test"}, files)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if !strings.Contains(progress, "Step 5/5 : RUN test\n") {
		t.Errorf("progress:\n%s", progress)
	}
	img, err = s.Get("test")
	if err != nil || img.ID != tid || len(img.Layers) != 3 {
		t.Errorf("target image = %+v, %v", img, err)
	}
}

func TestBuildPull(t *testing.T) {
	s := openStore(t)
	// Pull goes to the registry: an unknown one fails, with the image named.
	_, _, err := doBuild(t, s, nil, service.BuildSpec{Pull: true}, map[string]string{"Dockerfile": "FROM 127.0.0.1:1/nope:1\n"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/nope:1") {
		t.Errorf("pull of a missing base: %v", err)
	}
}

func TestDiffUpper(t *testing.T) {
	upper := t.TempDir()
	mk := func(p string) string {
		p = filepath.Join(upper, p)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk("etc")
	if err := os.WriteFile(filepath.Join(upper, "etc/conf"), []byte("c"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(upper, "etc/conf"), filepath.Join(upper, "etc/conf2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("conf", filepath.Join(upper, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if err := unixMknod(filepath.Join(upper, "etc/deleted")); err != nil {
		t.Fatal(err)
	}
	if err := setOpaque(mk("var/cache")); err != nil {
		t.Skipf("trusted xattrs: %v", err)
	}
	if err := os.WriteFile(filepath.Join(upper, "var/cache/new"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lw, err := newLayerWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := diffUpper(t.Context(), upper, lw); err != nil {
		t.Fatal(err)
	}
	l, err := lw.finish(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ents := readEntries(t, rc)
	want := []string{"etc/", "etc/conf", "etc/conf2", "etc/.wh.deleted", "etc/link", "var/", "var/cache/", "var/cache/.wh..wh..opq", "var/cache/new"}
	if got := names(ents); !slices.Equal(got, want) {
		t.Fatalf("entries = %q, want %q", got, want)
	}
	if e := find(t, ents, "etc/conf"); e.body != "c" || e.hdr.Mode != 0o640 {
		t.Errorf("conf = %+v", e.hdr)
	}
	if e := find(t, ents, "etc/conf2"); e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != "etc/conf" {
		t.Errorf("hard link = %+v", e.hdr)
	}
	if e := find(t, ents, "etc/link"); e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "conf" {
		t.Errorf("symlink = %+v", e.hdr)
	}
	if e := find(t, ents, "etc/.wh.deleted"); e.hdr.Typeflag != tar.TypeReg || e.hdr.Size != 0 {
		t.Errorf("whiteout = %+v", e.hdr)
	}
	// The layer's digest is its content's.
	if l.digest != l.diffID || l.size <= 0 {
		t.Errorf("layer = %+v", l)
	}

	// Applied to a filesystem index, the layer deletes and empties.
	tree := newTree(false)
	base := mktar(t, dir("etc"), file("etc/deleted", "d"), file("etc/kept", "k"), dir("var"), dir("var/cache"), file("var/cache/old", "o"))
	if err := tree.apply(t.Context(), 0, bytes.NewReader(base), nil); err != nil {
		t.Fatal(err)
	}
	rc2, _ := l.Uncompressed()
	defer rc2.Close()
	if err := tree.apply(t.Context(), 1, rc2, nil); err != nil {
		t.Fatal(err)
	}
	var paths []string
	_ = walk(tree.root, "", func(rel string, n *fsNode) error {
		paths = append(paths, rel)
		return nil
	})
	wantPaths := []string{"", "etc", "etc/conf", "etc/conf2", "etc/kept", "etc/link", "var", "var/cache", "var/cache/new"}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("tree = %q, want %q", paths, wantPaths)
	}
}

func TestResolve(t *testing.T) {
	tree := newTree(false)
	layer := mktar(t, dir("usr"), dir("usr/lib"), file("usr/lib/x", "x"), sym("lib", "usr/lib"), sym("abs", "/usr/lib/x"),
		sym("up", "../../../usr"), sym("loop", "loop"), file("f", "f"))
	if err := tree.apply(t.Context(), 0, bytes.NewReader(layer), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want   string
		followLast bool
		exists     bool
	}{
		{"/lib/x", "usr/lib/x", true, true},
		{"lib", "usr/lib", true, true},
		{"lib", "lib", false, true},
		{"abs", "usr/lib/x", true, true},
		{"up/lib/../lib/x", "usr/lib/x", true, true},
		{"lib/missing/deeper", "usr/lib/missing/deeper", true, false},
		{"f/x", "f/x", true, false},
		{"../../f", "f", true, true},
	}
	for _, tt := range tests {
		got, n, err := tree.resolve(tt.in, tt.followLast)
		if err != nil || got != tt.want || (n != nil) != tt.exists {
			t.Errorf("resolve(%q, %v) = %q, %v, %v; want %q, exists %v", tt.in, tt.followLast, got, n != nil, err, tt.want, tt.exists)
		}
	}
	if _, _, err := tree.resolve("loop/x", true); err == nil {
		t.Error("a symlink loop resolved")
	}
}
