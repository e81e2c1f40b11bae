package builtin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// TestSweepContainerDirs: what a berth killed while creating or removing a
// container left under containers/ goes at the next list; whole containers
// stay.
func TestSweepContainerDirs(t *testing.T) {
	root := t.TempDir()
	b := &Backend{root: root}
	dir := filepath.Join(root, "containers")
	id := func(c string) string { return strings.Repeat(c, 64) }
	mk := func(name string, withRecord bool) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name, "upper"), 0o755); err != nil {
			t.Fatal(err)
		}
		if withRecord {
			r := record{ID: name, Name: "kept", State: runState{Status: service.StateCreated}}
			if err := writeJSON(filepath.Join(dir, name, "container.json"), &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(id("a"), true)                // a container
	mk(stagingPrefix+id("b"), true)  // killed before the rename into place
	mk(stagingPrefix+id("c"), false) // killed before its record
	mk(gonePrefix+id("d"), false)    // killed while removing
	mk(id("e"), false)               // an older berth's leftover
	cs, err := b.ListContainers(context.Background(), service.Filter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Name != "kept" {
		t.Errorf("listed %+v, want the one container", cs)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{id("a")}; !slices.Equal(names, want) {
		t.Errorf("containers/ holds %v, want %v", names, want)
	}
}
