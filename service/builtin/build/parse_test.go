package build

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// describe renders a parsed Dockerfile canonically, one instruction a
// line, with its line number, for golden comparisons.
func describe(df *dockerfile) string {
	var b strings.Builder
	for _, a := range df.metaArgs {
		fmt.Fprintf(&b, "%d %s\n", line(a.Location()), describeCmd(&a))
	}
	for _, s := range df.stages {
		fmt.Fprintf(&b, "%d FROM %q name=%q platform=%q\n", line(s.Location), s.BaseName, s.Name, s.Platform)
		for _, c := range s.Commands {
			fmt.Fprintf(&b, "%d %s\n", line(c.Location()), describeCmd(c))
		}
	}
	return b.String()
}

func describeCmd(c instructions.Command) string {
	form := func(l instructions.ShellDependantCmdLine) string {
		if l.PrependShell {
			return fmt.Sprintf("shell%q", l.CmdLine)
		}
		return fmt.Sprintf("exec%q", l.CmdLine)
	}
	switch c := c.(type) {
	case *instructions.ArgCommand:
		var parts []string
		for _, a := range c.Args {
			if a.Value == nil {
				parts = append(parts, a.Key)
			} else {
				parts = append(parts, fmt.Sprintf("%s=%q", a.Key, *a.Value))
			}
		}
		return "ARG " + strings.Join(parts, " ")
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			parts = append(parts, fmt.Sprintf("%s=%q", kv.Key, kv.Value))
		}
		return "ENV " + strings.Join(parts, " ")
	case *instructions.LabelCommand:
		var parts []string
		for _, kv := range c.Labels {
			parts = append(parts, fmt.Sprintf("%q=%q", kv.Key, kv.Value))
		}
		return "LABEL " + strings.Join(parts, " ")
	case *instructions.MaintainerCommand:
		return fmt.Sprintf("MAINTAINER %q", c.Maintainer)
	case *instructions.WorkdirCommand:
		return fmt.Sprintf("WORKDIR %q", c.Path)
	case *instructions.UserCommand:
		return fmt.Sprintf("USER %q", c.User)
	case *instructions.ExposeCommand:
		return fmt.Sprintf("EXPOSE %q", c.Ports)
	case *instructions.VolumeCommand:
		return fmt.Sprintf("VOLUME %q", c.Volumes)
	case *instructions.StopSignalCommand:
		return fmt.Sprintf("STOPSIGNAL %q", c.Signal)
	case *instructions.CmdCommand:
		return "CMD " + form(c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		return "ENTRYPOINT " + form(c.ShellDependantCmdLine)
	case *instructions.RunCommand:
		return fmt.Sprintf("RUN %s network=%s", form(c.ShellDependantCmdLine), instructions.GetNetwork(c))
	case *instructions.ShellCommand:
		return fmt.Sprintf("SHELL %q", c.Shell)
	case *instructions.HealthCheckCommand:
		h := c.Health
		return fmt.Sprintf("HEALTHCHECK %q interval=%s timeout=%s start-period=%s start-interval=%s retries=%d",
			h.Test, h.Interval, h.Timeout, h.StartPeriod, h.StartInterval, h.Retries)
	case *instructions.CopyCommand:
		return fmt.Sprintf("COPY %q -> %q from=%q chown=%q chmod=%q link=%v", c.SourcePaths, c.DestPath, c.From, c.Chown, c.Chmod, c.Link)
	case *instructions.AddCommand:
		unpack := "default"
		if c.Unpack != nil {
			unpack = fmt.Sprint(*c.Unpack)
		}
		return fmt.Sprintf("ADD %q -> %q chown=%q chmod=%q unpack=%s", c.SourcePaths, c.DestPath, c.Chown, c.Chmod, unpack)
	}
	return fmt.Sprintf("%T", c)
}

// parseTests are the Dockerfiles of TestParse, and FuzzParse's seeds.
var parseTests = []struct {
	name, dockerfile, want string
}{
	{
		name:       "from",
		dockerfile: "FROM busybox\nFROM --platform=linux/arm64 alpine:3 AS Build\nfrom scratch as final\n",
		want: `1 FROM "busybox" name="" platform=""
2 FROM "alpine:3" name="build" platform="linux/arm64"
3 FROM "scratch" name="final" platform=""
`,
	},
	{
		name:       "arg before from",
		dockerfile: "ARG BASE=busybox\nARG TAG\nFROM ${BASE}:${TAG:-latest}\nARG V=1 W\n",
		want: `1 ARG BASE="busybox"
2 ARG TAG
3 FROM "${BASE}:${TAG:-latest}" name="" platform=""
4 ARG V="1" W
`,
	},
	{
		name:       "env and label",
		dockerfile: "FROM x\nENV A=1 B=\"two words\" \\\n    C=$A\nENV D four five\nLABEL x=y \"quoted key\"=\"a b\" z='c\\d'\n",
		want: `1 FROM "x" name="" platform=""
2 ENV A="1" B="\"two words\"" C="$A"
4 ENV D="four five"
5 LABEL "x"="y" "\"quoted key\""="\"a b\"" "z"="'c\\d'"
`,
	},
	{
		name:       "metadata",
		dockerfile: "FROM x\nMAINTAINER me <me@example.com>\nWORKDIR /app\nWORKDIR sub\nUSER app:staff\nEXPOSE 80 53/udp 8000-8001\nVOLUME /data /cache\nVOLUME [\"/json\"]\nSTOPSIGNAL SIGINT\n",
		want: `1 FROM "x" name="" platform=""
2 MAINTAINER "me <me@example.com>"
3 WORKDIR "/app"
4 WORKDIR "sub"
5 USER "app:staff"
6 EXPOSE ["53/udp" "80" "8000-8001"]
7 VOLUME ["/data" "/cache"]
8 VOLUME ["/json"]
9 STOPSIGNAL "SIGINT"
`,
	},
	{
		name:       "commands",
		dockerfile: "FROM x\nCMD echo hi\nCMD [\"echo\", \"hi\"]\nENTRYPOINT [\"/init\"]\nENTRYPOINT exec /init\nENTRYPOINT []\nSHELL [\"/bin/bash\", \"-euc\"]\nRUN make \\\n  all\nRUN [\"make\", \"install\"]\nRUN --network=none true\n",
		want: `1 FROM "x" name="" platform=""
2 CMD shell["echo hi"]
3 CMD exec["echo" "hi"]
4 ENTRYPOINT exec["/init"]
5 ENTRYPOINT shell["exec /init"]
6 ENTRYPOINT exec[]
7 SHELL ["/bin/bash" "-euc"]
8 RUN shell["make   all"] network=default
10 RUN exec["make" "install"] network=default
11 RUN shell["true"] network=none
`,
	},
	{
		name:       "healthcheck",
		dockerfile: "FROM x\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s --timeout=2s --start-period=1m --start-interval=1s --retries=4 CMD curl -f http://localhost/\nHEALTHCHECK CMD [\"/check\", \"-q\"]\n",
		want: `1 FROM "x" name="" platform=""
2 HEALTHCHECK ["NONE"] interval=0s timeout=0s start-period=0s start-interval=0s retries=0
3 HEALTHCHECK ["CMD-SHELL" "curl -f http://localhost/"] interval=5s timeout=2s start-period=1m0s start-interval=1s retries=4
4 HEALTHCHECK ["CMD" "/check" "-q"] interval=0s timeout=0s start-period=0s start-interval=0s retries=0
`,
	},
	{
		name:       "copy and add",
		dockerfile: "FROM x AS build\nFROM y\nCOPY a b /dst/\nCOPY --from=build --chown=app:staff --chmod=0640 /out/* /bin/\nCOPY --from=0 --link [\"with space\", \"/d\"]\nADD --chown=1:2 app.tar.gz /opt/\nADD --unpack=false app.tar /opt/app.tar\n",
		want: `1 FROM "x" name="build" platform=""
2 FROM "y" name="" platform=""
3 COPY ["a" "b"] -> "/dst/" from="" chown="" chmod="" link=false
4 COPY ["/out/*"] -> "/bin/" from="build" chown="app:staff" chmod="0640" link=false
5 COPY ["with space"] -> "/d" from="0" chown="" chmod="" link=true
6 ADD ["app.tar.gz"] -> "/opt/" chown="1:2" chmod="" unpack=default
7 ADD ["app.tar"] -> "/opt/app.tar" chown="" chmod="" unpack=false
`,
	},
	{
		name:       "comments, case and escape",
		dockerfile: "# escape=`\n# a comment\nfrom x\n\n  run echo a `\n  b\n# another\nlabel a=b\n",
		want: `3 FROM "x" name="" platform=""
5 RUN shell["echo a   b"] network=default
8 LABEL "a"="b"
`,
	},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			df, err := parseDockerfile([]byte(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(df); got != tt.want {
				t.Errorf("parsed:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		want             []string // substrings of the error
		unsupported      bool
	}{
		{"empty", "# nothing\n", []string{"no instructions"}, false},
		{"no from", "RUN true\n", []string{"no build stage"}, false},
		{"unknown instruction", "FROM x\nRUN true\nFOO bar\n", []string{"line 3", "FOO"}, false},
		{"onbuild", "FROM x\n\nONBUILD RUN true\n", []string{"line 3", "ONBUILD"}, true},
		{"heredoc", "FROM x\nRUN <<EOF\necho hi\nEOF\n", []string{"line 2", "heredoc"}, true},
		{"run mount", "FROM x\nRUN --mount=type=cache,target=/c true\n", []string{"line 2", "--mount"}, true},
		{"run security", "FROM x\nRUN --security=insecure true\n", []string{"line 2", "--security"}, true},
		{"copy parents", "FROM x\nCOPY --parents a /b/\n", []string{"line 2", "--parents"}, true},
		{"copy exclude", "FROM x\nCOPY --exclude=*.md . /b/\n", []string{"line 2", "--exclude"}, true},
		{"add checksum", "FROM x\nADD --checksum=sha256:00 http://x/y /y\n", []string{"line 2", "--checksum"}, true},
		{"bad flag", "FROM x\nCOPY --nope a b\n", []string{"line 2", "nope"}, false},
		{"copy one arg", "FROM x\nCOPY a\n", []string{"line 2", "COPY"}, false},
		{"shell not json", "FROM x\nSHELL /bin/bash -c\n", []string{"line 2", "SHELL"}, false},
		{"duplicate stage", "FROM x AS a\nFROM y AS a\n", []string{"line 2", "duplicate stage name"}, false},
		{"bad stage name", "FROM x AS 1a\n", []string{"line 1", "invalid name"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDockerfile([]byte(tt.dockerfile))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if errors.Is(err, service.ErrUnsupported) != tt.unsupported {
				t.Errorf("errors.Is(%q, ErrUnsupported) = %v", err, !tt.unsupported)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.dockerfile))
	}
	f.Add([]byte("FROM x\nRUN <<EOF\nEOF\n"))
	f.Add([]byte("ARG A=${B:-$C}\nFROM $A\nCOPY --from=$A [\"a\",\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		df, err := parseDockerfile(data)
		if err != nil {
			return
		}
		if len(df.stages) == 0 {
			t.Fatal("no error and no stage")
		}
		_ = describe(df)
		// The global arguments, the FROM expansions, the step lines and
		// the dependency walk work on whatever parses.
		b := &builder{df: df, lex: shell.NewLex(df.escape), meta: platformArgs(v1.Platform{OS: "linux", Architecture: "amd64"}), used: map[string]bool{}}
		for i := range df.metaArgs {
			_ = b.declare(&df.metaArgs[i], b.meta, nil)
		}
		bases := make([]string, len(df.stages))
		for i, s := range df.stages {
			var err error
			if bases[i], err = b.expand(s.BaseName, metaEnv(b.meta)); err != nil {
				bases[i] = s.BaseName
			}
			_ = text(&df.stages[i])
			for _, c := range s.Commands {
				_ = text(c)
			}
		}
		for _, i := range df.needed(len(df.stages)-1, bases) {
			if i < 0 || i >= len(df.stages) {
				t.Fatalf("needed stage %d of %d", i, len(df.stages))
			}
		}
	})
}
