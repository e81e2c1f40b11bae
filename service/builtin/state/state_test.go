package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestJSON: what WriteJSON writes, ReadJSON reads back; no temporary file
// stays; a missing file is fs.ErrNotExist; a broken one names its path.
func TestJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	type rec struct{ A string }
	if err := WriteJSON(p, rec{"one"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(p, rec{"two"}); err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := ReadJSON(p, &got); err != nil || got.A != "two" {
		t.Errorf("ReadJSON = %+v, %v; want two", got, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the directory, want 1 (no temporary left)", len(ents))
	}
	if err := ReadJSON(filepath.Join(dir, "none.json"), &got); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadJSON of a missing file: %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReadJSON(p, &got); err == nil || !Exists(p) {
		t.Errorf("ReadJSON of a broken file: %v, want an error naming %s", err, p)
	}
	if Exists(filepath.Join(dir, "none.json")) {
		t.Error("Exists of a missing file")
	}
}

// TestLock: a Lock excludes another Lock of the same path in the same
// process until released.
func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	released := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		u, err := Lock(p)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		if !released {
			t.Error("the second Lock was taken while the first was held")
		}
		mu.Unlock()
		u()
	}()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	released = true
	mu.Unlock()
	unlock()
	<-done
	if id := NewID(); len(id) != 64 || id == NewID() {
		t.Errorf("NewID = %q: want 64 random hex digits", id)
	}
}
