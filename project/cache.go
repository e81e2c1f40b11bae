package project

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
)

// The schema validation cache. Compiling and running compose-go's JSON
// schema costs more than half of a cold load (20 ms of 35 ms here), and a
// no-op `up` in a loop loads the same files again and again. So once files
// have passed validation, berth remembers it: a marker named by the SHA-256
// of everything validation depends on (the content of every compose file
// and the interpolation environment) lets the next load skip the schema
// step. Every other step (interpolation, merge, consistency checks, the
// model itself) still runs. Projects using include or extends are never
// cached, as their other files are not part of the key.

// cacheFormat changes whenever what a marker means changes.
const cacheFormat = "berth validation cache 1"

// validationKey is the marker name for the files and environment po will
// load, or "" when they cannot be cached (standard input).
func validationKey(po *cli.ProjectOptions) string {
	h := sha256.New()
	h.Write([]byte(cacheFormat + "\x00" + Version + "\x00"))
	for _, f := range po.ConfigPaths {
		if f == "-" {
			return ""
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		h.Write([]byte(f + "\x00"))
		h.Write(data)
		h.Write([]byte{0})
	}
	keys := make([]string, 0, len(po.Environment))
	for k := range po.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte(k + "=" + po.Environment[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// validated reports whether the marker for key exists.
func validated(dir, key string) bool {
	if dir == "" || key == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, key))
	return err == nil
}

// remember writes the marker for key. Failures are ignored: the cache only
// saves time.
func remember(dir, key string) {
	if dir == "" || key == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), filepath.Join(dir, key)); err != nil {
		os.Remove(tmp.Name())
	}
}

// skipValidation makes compose-go skip the schema step.
func skipValidation(o *loader.Options) { o.SkipValidation = true }

// DefaultCacheDir is where the CLI keeps the validation cache: BERTH_CACHE_DIR,
// else the user's cache directory; "" when there is none.
func DefaultCacheDir() string {
	if d := os.Getenv("BERTH_CACHE_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "berth", "validated")
}
