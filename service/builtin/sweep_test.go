package builtin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/records"
	"github.com/berthdev/berth/service/builtin/state"
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
			r := records.Container{ID: name, Name: "kept", State: records.RunState{Status: service.StateCreated}}
			if err := state.WriteJSON(filepath.Join(dir, name, "container.json"), &r); err != nil {
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

// TestSweepNetworksAndVolumes: records of networks a killed berth was
// making or removing, and volume directories it was making or removing,
// go at the next list; whole ones stay.
func TestSweepNetworksAndVolumes(t *testing.T) {
	root := t.TempDir()
	b := &Backend{root: root}
	for _, d := range []string{"containers", "networks", "volumes"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	net := func(name string) {
		t.Helper()
		n := networkRecord{Network: service.Network{ID: strings.TrimSuffix(name, ".json"), Name: "n-" + name}}
		if err := state.WriteJSON(filepath.Join(root, "networks", name), n); err != nil {
			t.Fatal(err)
		}
	}
	net("kept.json")
	net(stagingPrefix + "x.json")
	net(gonePrefix + "y.json")
	net(".tmp-z.json-123") // a record being written
	ctx := context.Background()
	ns, err := b.ListNetworks(ctx, service.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Name != "n-kept.json" {
		t.Errorf("networks %+v, want the one whole", ns)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "networks")); len(ents) != 1 {
		t.Errorf("networks/ holds %d entries, want 1", len(ents))
	}

	if _, err := b.CreateVolume(ctx, service.VolumeSpec{Name: "data"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{stagingPrefix + "a", gonePrefix + "b", "c"} {
		if err := os.MkdirAll(filepath.Join(root, "volumes", d, "_data"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := b.ListVolumes(ctx, service.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Name != "data" {
		t.Errorf("volumes %+v, want data", vs)
	}
	var names []string
	ents, _ := os.ReadDir(filepath.Join(root, "volumes"))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"data"}) {
		t.Errorf("volumes/ holds %v, want [data]", names)
	}
	if err := b.RemoveVolume(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "volumes")); len(ents) != 0 {
		t.Errorf("volumes/ holds %d entries after the removal", len(ents))
	}
}
