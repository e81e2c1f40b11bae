package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/berthdev/berth/reconcile/hosttar"
	"github.com/berthdev/berth/service"
)

// spoolLimit is how much of a build context is kept in memory; a larger one
// goes to a temporary file (unlinked at once, so nothing is left behind).
var spoolLimit = 8 << 20

// BuildContext returns the tar stream of the build context of svc (which
// must have a build section) as the docker CLI sends it to the classic
// builder, the path of the Dockerfile inside it, and the stream's size. dir
// is the project directory, against which a relative context is resolved
// (compose-go makes them absolute already). The caller closes the stream.
//
// What goes in:
//
//   - the files under build.context, less those the ignore file excludes,
//     with moby's pattern semantics (github.com/moby/patternmatcher: *, **,
//     ?, [...], a pattern naming a directory excludes what is below it,
//     !exceptions re-include, the last matching pattern wins). The ignore
//     file is <Dockerfile>.dockerignore beside the Dockerfile when there is
//     one (as BuildKit does), else .dockerignore at the context's root;
//   - the Dockerfile and the ignore files always, whatever the patterns say
//     (the builder reads them, and drops them from what COPY sees itself);
//   - a dockerfile_inline, or a Dockerfile outside the context (or a link
//     to one), as a generated ".dockerfile.<hash of its text>" at the root,
//     listed in the stream's .dockerignore so that COPY never sees it, as the
//     docker CLI does.
//
// How: by reconcile/hosttar's rules (lexical order, links kept as links
// and nothing read outside the context, permissions kept, owned by root
// with no user or group names, times to the second: the same tree always
// gives the same bytes). Sockets, devices and pipes are skipped; a file
// that cannot be read is an error naming it.
//
// Remote contexts (git and http URLs) are not supported: ErrUnsupported.
func BuildContext(svc types.ServiceConfig, dir string) (rc io.ReadCloser, dockerfile string, size int64, err error) {
	if svc.Build == nil {
		return nil, "", 0, fmt.Errorf("service %s has no build section", svc.Name)
	}
	src, err := contextSource(svc.Build, dir)
	if err != nil {
		return nil, "", 0, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	sp := &spool{}
	if err := src.write(sp); err != nil {
		sp.discard()
		return nil, "", 0, fmt.Errorf("service %s: build context %s: %w", svc.Name, src.dir, err)
	}
	rc, err = sp.reader()
	if err != nil {
		return nil, "", 0, fmt.Errorf("service %s: build context %s: %w", svc.Name, src.dir, err)
	}
	return rc, src.dockerfile, sp.n, nil
}

// contextSrc is a local build context, ready to be archived.
type contextSrc struct {
	// dir is the context directory, absolute with links resolved.
	dir string
	// dockerfile is the Dockerfile's slash-separated path in the stream.
	dockerfile string
	// generated is the text of a Dockerfile added as dockerfile (inline,
	// or read from outside the context); nil when it is a file of dir.
	generated []byte
	// excludes are the ignore file's patterns, with exceptions for the
	// files that are always sent.
	excludes []string
	// ignoreFile is the slash-separated path of the ignore file in effect,
	// "" when there is none.
	ignoreFile string
}

// isRemoteContext reports whether a build context is a URL the builder
// would fetch itself, as compose-go decides it.
func isRemoteContext(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	for _, prefix := range []string{"github.com/", "git@"} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// contextPaths returns a build's context directory and the Dockerfile's
// path as the compose file gives them, resolved against dir: what
// build --print shows.
func contextPaths(b *types.BuildConfig, dir string) (contextDir, dockerfile string) {
	contextDir = b.Context
	if contextDir == "" {
		contextDir = "."
	}
	if !isRemoteContext(contextDir) && !filepath.IsAbs(contextDir) {
		contextDir = filepath.Join(dir, contextDir)
	}
	dockerfile = b.Dockerfile
	if dockerfile == "" && b.DockerfileInline == "" {
		dockerfile = "Dockerfile"
	}
	return contextDir, dockerfile
}

// ignorePatterns reads the ignore file of a build context (the real
// directory): <Dockerfile>.dockerignore first (dockerfileAbs, when the
// Dockerfile is a file), then .dockerignore. It returns the patterns and
// the file read ("" for none).
func ignorePatterns(contextDir, dockerfileAbs string) ([]string, string, error) {
	var candidates []string
	if dockerfileAbs != "" {
		candidates = append(candidates, dockerfileAbs+".dockerignore")
	}
	candidates = append(candidates, filepath.Join(contextDir, ".dockerignore"))
	for _, c := range candidates {
		f, err := os.Open(c)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("ignore file: %w", err)
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("ignore file %s: %w", c, err)
		}
		return patterns, c, nil
	}
	return nil, "", nil
}

// BuildIgnore returns the local build context directory of a build
// section (resolved against dir) and its .dockerignore patterns, as a
// build would apply them. A remote context has none: "" and no patterns.
func BuildIgnore(b *types.BuildConfig, dir string) (contextDir string, patterns []string, err error) {
	contextDir, dockerfile := contextPaths(b, dir)
	if isRemoteContext(contextDir) {
		return "", nil, nil
	}
	dockerfileAbs := ""
	if b.DockerfileInline == "" {
		dockerfileAbs = dockerfile
		if !filepath.IsAbs(dockerfileAbs) {
			dockerfileAbs = filepath.Join(contextDir, dockerfile)
		}
	}
	patterns, _, err = ignorePatterns(contextDir, dockerfileAbs)
	return contextDir, patterns, err
}

// contextSource works out what BuildContext archives.
func contextSource(b *types.BuildConfig, dir string) (*contextSrc, error) {
	contextDir, dockerfile := contextPaths(b, dir)
	if isRemoteContext(contextDir) {
		return nil, fmt.Errorf("build context %s: remote build contexts (git and http URLs) are not supported yet: %w", contextDir, service.ErrUnsupported)
	}
	real, err := filepath.EvalSymlinks(contextDir)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if fi, err := os.Stat(real); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", contextDir)
	}
	src := &contextSrc{dir: real}

	// The Dockerfile: inline, a file of the context, or a file elsewhere.
	dockerfileAbs := "" // on disk, for the dockerfile-specific ignore file
	switch {
	case b.DockerfileInline != "":
		src.generated = []byte(b.DockerfileInline)
	default:
		dockerfileAbs = dockerfile
		if !filepath.IsAbs(dockerfileAbs) {
			dockerfileAbs = filepath.Join(contextDir, dockerfile)
		}
		realDockerfile, err := filepath.EvalSymlinks(dockerfileAbs)
		if err != nil {
			return nil, fmt.Errorf("dockerfile: %w", err)
		}
		rel, err := filepath.Rel(real, realDockerfile)
		if err == nil && filepath.IsLocal(rel) {
			src.dockerfile = filepath.ToSlash(rel)
		} else {
			text, err := os.ReadFile(realDockerfile)
			if err != nil {
				return nil, fmt.Errorf("dockerfile: %w", err)
			}
			src.generated = text
		}
	}
	if src.generated != nil {
		sum := sha256.Sum256(src.generated)
		src.dockerfile = ".dockerfile." + hex.EncodeToString(sum[:])[:20]
	}

	patterns, ignoreFile, err := ignorePatterns(real, dockerfileAbs)
	if err != nil {
		return nil, err
	}
	src.excludes = patterns
	if ignoreFile != "" {
		if realIgnore, err := filepath.EvalSymlinks(ignoreFile); err == nil {
			if rel, err := filepath.Rel(real, realIgnore); err == nil && filepath.IsLocal(rel) {
				src.ignoreFile = filepath.ToSlash(rel)
			}
		}
	}
	// Always sent, as the docker CLI's TrimBuildFilesFromExcludes makes
	// sure: an exception for each of them when the patterns exclude it.
	keep := []string{".dockerignore", src.ignoreFile}
	if src.generated == nil {
		keep = append(keep, src.dockerfile)
	}
	for _, k := range keep {
		if k == "" {
			continue
		}
		if excluded, _ := patternmatcher.MatchesOrParentMatches(k, src.excludes); excluded {
			src.excludes = append(src.excludes, "!"+k)
		}
	}
	return src, nil
}

// write archives the context to w.
func (src *contextSrc) write(w io.Writer) error {
	root, err := os.OpenRoot(src.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var ignoreText []byte        // the .dockerignore sent, when one is generated
	var ignoreHeader *tar.Header // and its header, when the context has one
	hw, err := hosttar.NewWriter(w, hosttar.Options{
		Exclude: src.excludes,
		Filter: func(rel string, d fs.DirEntry) (hosttar.Decision, error) {
			if src.generated == nil {
				return hosttar.Include, nil
			}
			if rel == ".dockerignore" && d.Type().IsRegular() {
				// Sent at the end, with the generated Dockerfile added.
				fi, err := d.Info()
				if err != nil {
					return hosttar.Exclude, err
				}
				if ignoreText, err = root.ReadFile(rel); err != nil {
					return hosttar.Exclude, err
				}
				ignoreHeader, err = hosttar.Header(fi, rel, "", false)
				return hosttar.Exclude, err
			}
			if rel == src.dockerfile {
				return hosttar.Exclude, nil // replaced by the generated one
			}
			return hosttar.Include, nil
		},
	})
	if err != nil {
		return err
	}
	if err := hw.AddTree(src.dir, ""); err != nil {
		return err
	}
	if src.generated != nil {
		// The generated Dockerfile, and a .dockerignore that hides it from
		// COPY (the builder drops the files .dockerignore matches).
		if ignoreHeader == nil {
			ignoreHeader = &tar.Header{Typeflag: tar.TypeReg, Name: ".dockerignore", Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		}
		ignoreText = append(ignoreText, []byte("\n"+src.dockerfile+"\n")...)
		if err := hw.WriteFile(ignoreHeader, ignoreText); err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: src.dockerfile, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := hw.WriteFile(h, src.generated); err != nil {
			return err
		}
	}
	return hw.Close()
}

// spool keeps what is written in memory up to spoolLimit, then in an
// unlinked temporary file.
type spool struct {
	buf bytes.Buffer
	f   *os.File
	n   int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.buf.Len()+len(p) > spoolLimit {
		f, err := os.CreateTemp("", "berth-context-*.tar")
		if err != nil {
			return 0, err
		}
		_ = os.Remove(f.Name()) // the open file lives on until closed
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		s.buf = bytes.Buffer{}
		s.f = f
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.buf.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// reader returns what was written, from the start.
func (s *spool) reader() (io.ReadCloser, error) {
	if s.f == nil {
		return io.NopCloser(bytes.NewReader(s.buf.Bytes())), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		s.f.Close()
		return nil, err
	}
	return s.f, nil
}

func (s *spool) discard() {
	if s.f != nil {
		s.f.Close()
	}
}
