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
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

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
// How: entries in lexical walk order (so a directory precedes its
// contents), owned by root with no user or group names, permissions kept,
// modification times kept to the second, no access or change times: the
// same tree always gives the same bytes. Symbolic links are archived as
// links, never followed, and files are opened beneath the context only, so
// nothing outside it is read. Sockets, devices and pipes are skipped; a
// file that cannot be read is an error naming it.
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
	pm, err := patternmatcher.New(src.excludes)
	if err != nil {
		return fmt.Errorf("ignore patterns: %w", err)
	}
	root, err := os.OpenRoot(src.dir)
	if err != nil {
		return err
	}
	defer root.Close()

	tw := tar.NewWriter(w)
	var ignoreText []byte        // the .dockerignore sent, when one is generated
	var ignoreHeader *tar.Header // and its header, when the context has one
	parents := map[string]patternmatcher.MatchInfo{}
	walkErr := filepath.WalkDir(src.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src.dir, p)
		if err != nil || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		skip, info, err := pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
		if err != nil {
			return err
		}
		if d.IsDir() {
			parents[rel] = info
		}
		if skip {
			if !d.IsDir() {
				return nil
			}
			if !pm.Exclusions() {
				return filepath.SkipDir
			}
			// An exception may re-include something below: walk it, but
			// send no entry for the directory itself (as moby does).
			for _, pat := range pm.Patterns() {
				if pat.Exclusion() && strings.HasPrefix(pat.String()+"/", rel+"/") {
					return nil
				}
			}
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if src.generated != nil && rel == ".dockerignore" && fi.Mode().IsRegular() {
			// Sent at the end, with the generated Dockerfile added.
			ignoreText, err = root.ReadFile(filepath.FromSlash(rel))
			if err != nil {
				return err
			}
			ignoreHeader, err = header(fi, rel, "")
			return err
		}
		if src.generated != nil && rel == src.dockerfile {
			return nil // replaced by the generated one
		}
		return addEntry(tw, root, fi, rel)
	})
	if walkErr != nil {
		return walkErr
	}
	if src.generated != nil {
		// The generated Dockerfile, and a .dockerignore that hides it from
		// COPY (the builder drops the files .dockerignore matches).
		if ignoreHeader == nil {
			ignoreHeader = &tar.Header{Typeflag: tar.TypeReg, Name: ".dockerignore", Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		}
		ignoreText = append(ignoreText, []byte("\n"+src.dockerfile+"\n")...)
		ignoreHeader.Size = int64(len(ignoreText))
		if err := writeFile(tw, ignoreHeader, ignoreText); err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: src.dockerfile, Mode: 0o644, Size: int64(len(src.generated)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := writeFile(tw, h, src.generated); err != nil {
			return err
		}
	}
	return tw.Close()
}

// header is the tar header of a context entry: root-owned, no names, times
// to the second, as the docker CLI archives a context.
func header(fi fs.FileInfo, rel, link string) (*tar.Header, error) {
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, err
	}
	h.Name = rel
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	h.ModTime = h.ModTime.Truncate(time.Second)
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.Format = tar.FormatPAX
	h.PAXRecords = nil
	return h, nil
}

// addEntry writes one file, directory or symbolic link of the context.
func addEntry(tw *tar.Writer, root *os.Root, fi fs.FileInfo, rel string) error {
	switch mode := fi.Mode(); {
	case mode.IsDir():
		h, err := header(fi, rel, "")
		if err != nil {
			return err
		}
		return tw.WriteHeader(h)
	case mode&fs.ModeSymlink != 0:
		link, err := root.Readlink(filepath.FromSlash(rel))
		if err != nil {
			return err
		}
		h, err := header(fi, rel, link)
		if err != nil {
			return err
		}
		return tw.WriteHeader(h)
	case mode.IsRegular():
		h, err := header(fi, rel, "")
		if err != nil {
			return err
		}
		// Opened beneath the context: a file swapped for a link to
		// elsewhere since the walk cannot be read through.
		f, err := root.Open(filepath.FromSlash(rel))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if n, err := io.CopyN(tw, f, h.Size); err != nil {
			return fmt.Errorf("%s: read %d of %d bytes: %w", rel, n, h.Size, err)
		}
		return nil
	default:
		return nil // sockets, devices, pipes
	}
}

func writeFile(tw *tar.Writer, h *tar.Header, data []byte) error {
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
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
