package project

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidationCache(t *testing.T) {
	cache := t.TempDir()
	dir := writeFiles(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n"})
	opts := Options{WorkingDir: dir, Env: []string{"A=1"}, CacheDir: cache}
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 1 {
		t.Fatalf("%d cache entries after a successful load, want 1", len(entries))
	}
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatalf("cached load: %v", err)
	}

	// an edit changes the key: the broken file is still reported
	broken := "services:\n  web:\n    imag: busybox\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), opts); err == nil || !strings.Contains(err.Error(), `unknown key "imag"`) {
		t.Fatalf("edited broken file: got %v", err)
	}
	// so does another environment
	opts.Env = []string{"A=2"}
	if _, err := Load(context.Background(), opts); err == nil {
		t.Fatal("broken file loaded with another environment")
	}
}

// TestValidationCacheIsUsed forges a marker for a file that fails the
// schema: the load then skips validation, which proves markers are read.
func TestValidationCacheIsUsed(t *testing.T) {
	cache := t.TempDir()
	dir := writeFiles(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    x_unknown: 1\n"})
	opts := Options{WorkingDir: dir, Env: []string{}, CacheDir: cache}
	if _, err := Load(context.Background(), opts); err == nil {
		t.Fatal("the schema accepted an unknown key")
	}
	po, _, _, err := prepare(opts)
	if err != nil {
		t.Fatal(err)
	}
	remember(cache, validationKey(po))
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatalf("with a marker, validation still ran: %v", err)
	}
}

func TestValidationCacheSkipsIncludes(t *testing.T) {
	cache := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"compose.yaml": "include: [other.yaml]\nservices:\n  web:\n    image: busybox\n",
		"other.yaml":   "services:\n  db:\n    image: busybox\n",
	})
	if _, err := Load(context.Background(), Options{WorkingDir: dir, Env: []string{}, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("a project with include was cached")
	}
}
