package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berthdev/berth/service"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Store is a content-addressed image store rooted in a directory. Its
// methods are safe for concurrent use, by goroutines and by processes
// sharing the directory.
type Store struct {
	root string
}

// refsFile is the JSON document kept in <root>/refs.json.
type refsFile struct {
	// Refs maps normalised references (or image IDs of untagged images) to
	// manifest digests.
	Refs map[string]string `json:"refs"`
}

// Open opens the store rooted at root, creating its directories when they
// do not exist. Opening is cheap and idempotent.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("image store: empty root")
	}
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// Root returns the directory the store lives in.
func (s *Store) Root() string { return s.root }

// lock takes a flock on <root>/<name>, shared or exclusive, and returns the
// function releasing it. Each call opens its own file description, so locks
// also exclude goroutines of the same process.
func (s *Store) lock(name string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image store: lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image store: lock %s: %w", name, err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// writeLock is held (shared) by every operation that writes blobs or refs,
// and exclusively by GC.
func (s *Store) writeLock() (func(), error) { return s.lock("lock", false) }

// blobPath returns the path of the blob with digest h.
func (s *Store) blobPath(h v1.Hash) string {
	return filepath.Join(s.root, "blobs", h.Algorithm, h.Hex)
}

// hasBlob reports whether the blob h is present.
func (s *Store) hasBlob(h v1.Hash) bool {
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

// readBlob reads a whole (small) blob: a manifest or a config.
func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	b, err := os.ReadFile(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", h, service.ErrNotFound)
	}
	return b, err
}

// errDigestMismatch is wrapped by the errors of blobs whose content does
// not match their digest or size.
var errDigestMismatch = errors.New("digest mismatch")

// writeBlob copies r into the blob want, verifying digest (and size, when
// size >= 0) before it becomes visible. A blob already present is kept.
func (s *Store) writeBlob(want v1.Hash, size int64, r io.Reader) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: unsupported digest algorithm", want)
	}
	if s.hasBlob(want) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	var h hash.Hash = sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", want, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("blob %s: %w: content hashes to sha256:%s", want, errDigestMismatch, got)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("blob %s: %w: size %d, expected %d", want, errDigestMismatch, n, size)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.blobPath(want))
}

// writeBytes stores b as a blob and returns its digest; when want is not
// zero, b must hash to it.
func (s *Store) writeBytes(b []byte, want v1.Hash) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return v1.Hash{}, err
	}
	if want != (v1.Hash{}) && h != want {
		return v1.Hash{}, fmt.Errorf("blob %s: %w: content hashes to %s", want, errDigestMismatch, h)
	}
	return h, s.writeBlob(h, int64(len(b)), bytes.NewReader(b))
}

// readRefs returns the current reference map (empty when there is none).
func (s *Store) readRefs() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "refs.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	var rf refsFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("image store: refs.json: %w", err)
	}
	if rf.Refs == nil {
		rf.Refs = map[string]string{}
	}
	return rf.Refs, nil
}

// updateRefs applies fn to the reference map under the refs lock and
// writes the result atomically when fn returns no error.
func (s *Store) updateRefs(fn func(refs map[string]string) error) error {
	unlock, err := s.lock("lock.refs", true)
	if err != nil {
		return err
	}
	defer unlock()
	refs, err := s.readRefs()
	if err != nil {
		return err
	}
	if err := fn(refs); err != nil {
		return err
	}
	b, err := json.MarshalIndent(refsFile{Refs: refs}, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.root, "refs-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err != nil {
		return fmt.Errorf("image store: refs.json: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.root, "refs.json"))
}

// setRef records ref → manifest digest.
func (s *Store) setRef(ref string, manifest v1.Hash) error {
	return s.updateRefs(func(refs map[string]string) error {
		refs[ref] = manifest.String()
		return nil
	})
}

// Get returns the image a reference names. ref is a reference as accepted
// by Pull ("busybox", "docker.io/library/busybox:latest",
// "host:5000/app@sha256:..."), or an image ID (the config digest "sha256:<hex>", a unique
// prefix "sha256:<hex prefix>", or the bare 64 hex digits). An unknown image
// gives an error wrapping service.ErrNotFound.
func (s *Store) Get(ref string) (Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return Image{}, err
	}
	md, err := s.resolve(refs, ref)
	if err != nil {
		return Image{}, err
	}
	return s.image(refs, md)
}

// resolve finds the manifest digest ref names.
func (s *Store) resolve(refs map[string]string, ref string) (string, error) {
	if isID(ref) {
		id := strings.TrimPrefix(ref, "sha256:")
		var found []string
		seen := map[string]bool{}
		for _, md := range refs {
			if seen[md] {
				continue
			}
			seen[md] = true
			img, err := s.image(refs, md)
			if err != nil {
				continue
			}
			if strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), id) {
				found = append(found, md)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
			return "", fmt.Errorf("image %q: %w", ref, service.ErrNotFound)
		default:
			return "", fmt.Errorf("image %q: ambiguous ID prefix: %w", ref, service.ErrConflict)
		}
	}
	norm, err := Normalize(ref)
	if err != nil {
		return "", err
	}
	md, ok := refs[norm]
	if !ok {
		return "", fmt.Errorf("image %q: %w", ref, service.ErrNotFound)
	}
	return md, nil
}

// isID reports whether s is an image ID rather than a reference:
// "sha256:" followed by hex digits (a prefix of the ID), or 64 hex digits.
func isID(s string) bool {
	h, prefixed := strings.CutPrefix(s, "sha256:")
	if h == "" || len(h) > 64 || (!prefixed && len(h) != 64) {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// List returns every image with at least one reference, sorted by their
// first reference (untagged images, recorded by ID, last).
func (s *Store) List() ([]Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []Image
	for _, md := range refs {
		if seen[md] {
			continue
		}
		seen[md] = true
		img, err := s.image(refs, md)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (len(a.Refs) == 0) != (len(b.Refs) == 0) {
			return len(a.Refs) != 0
		}
		if len(a.Refs) != 0 && a.Refs[0] != b.Refs[0] {
			return a.Refs[0] < b.Refs[0]
		}
		return a.ID < b.ID
	})
	return out, nil
}

// Tag records dst as another reference to the image src names (a reference
// or an ID). dst must not be a digest reference. Tagging over an existing
// dst moves it. Unknown src gives an error wrapping service.ErrNotFound.
func (s *Store) Tag(src, dst string) error {
	norm, err := Normalize(dst)
	if err != nil {
		return err
	}
	if strings.Contains(norm, "@") {
		return fmt.Errorf("tag %q: cannot tag with a digest reference", dst)
	}
	unlock, err := s.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.updateRefs(func(refs map[string]string) error {
		md, err := s.resolve(refs, src)
		if err != nil {
			return err
		}
		refs[norm] = md
		return nil
	})
}

// Remove deletes a reference. When ref is an image ID, every reference to
// that image is removed. Blobs stay until GC. An unknown ref gives an error
// wrapping service.ErrNotFound; removing twice is therefore an error.
func (s *Store) Remove(ref string) error {
	unlock, err := s.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.updateRefs(func(refs map[string]string) error {
		if isID(ref) {
			md, err := s.resolve(refs, ref)
			if err != nil {
				return err
			}
			for k, v := range refs {
				if v == md {
					delete(refs, k)
				}
			}
			return nil
		}
		norm, err := Normalize(ref)
		if err != nil {
			return err
		}
		if _, ok := refs[norm]; !ok {
			return fmt.Errorf("image %q: %w", ref, service.ErrNotFound)
		}
		delete(refs, norm)
		return nil
	})
}

// GC deletes every blob that no reference needs (the referenced manifests,
// their configs and layers), and leftovers in tmp/. It returns the digests
// removed. It waits for concurrent writers (in any process) to finish and
// blocks new ones while it runs. Running it twice is safe.
func (s *Store) GC() ([]string, error) {
	unlock, err := s.lock("lock", true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, md := range refs {
		h, err := v1.NewHash(md)
		if err != nil {
			return nil, fmt.Errorf("image store: refs.json: %w", err)
		}
		keep[h.Hex] = true
		b, err := s.readBlob(h)
		if err != nil {
			return nil, fmt.Errorf("image store: manifest %s: %w", h, err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("image store: manifest %s: %w", h, err)
		}
		keep[m.Config.Digest.Hex] = true
		for _, l := range m.Layers {
			keep[l.Digest.Hex] = true
		}
	}
	dir := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if keep[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, "sha256:"+e.Name())
	}
	tmps, _ := os.ReadDir(filepath.Join(s.root, "tmp"))
	for _, e := range tmps {
		_ = os.RemoveAll(filepath.Join(s.root, "tmp", e.Name()))
	}
	return removed, nil
}
