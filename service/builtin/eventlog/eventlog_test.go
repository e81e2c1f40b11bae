package eventlog

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

// TestFollow checks that Follow with since and until (EventsBetween)
// replays the rotated log and the live one from since, and ends at until
// with no error.
func TestFollow(t *testing.T) {
	log := filepath.Join(t.TempDir(), "events.jsonl")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(path string, lines ...Line) {
		var buf []byte
		for _, l := range lines {
			raw, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			buf = append(append(buf, raw...), '\n')
		}
		if err := os.WriteFile(path, buf, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(min int, action string) Line {
		return Line{Time: t0.Add(time.Duration(min) * time.Minute), Action: action, ID: "c", Name: "c1", Labels: map[string]string{"p": "x"}, Image: "busybox"}
	}
	write(log+".1", ev(0, "create"), ev(1, "start"))
	kill := ev(2, "kill")
	kill.Signal = "15"
	write(log, kill, ev(3, "die"), ev(4, "destroy"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, errs := Follow(ctx, log, service.Filter{Labels: map[string]string{"p": "x"}}, t0.Add(time.Minute), t0.Add(3*time.Minute))
	var got []string
	for e := range evs {
		got = append(got, e.Action+" "+e.Attributes["image"]+e.Attributes["signal"])
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if want := []string{"start busybox", "kill busybox15", "die busybox"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestAppendRotates: Append starts the log afresh beyond maxSize, keeping
// the previous one as .1, and a follower from the end sees what comes next.
func TestAppendRotates(t *testing.T) {
	log := filepath.Join(t.TempDir(), "events.jsonl")
	Append(log, Line{Time: time.Now().UTC(), Action: "create", ID: "c"})
	if err := os.Truncate(log, maxSize+1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, _ := Follow(ctx, log, service.Filter{}, time.Time{}, time.Time{})
	Append(log, Line{Time: time.Now().UTC(), Action: "start", ID: "c"})
	if st, err := os.Stat(log + ".1"); err != nil || st.Size() != maxSize+1 {
		t.Fatalf("rotated log: %v, %v; want %d bytes", st, err, maxSize+1)
	}
	if st, err := os.Stat(log); err != nil || st.Size() >= maxSize {
		t.Fatalf("live log after rotation: %v, %v; want a fresh one", st, err)
	}
	select {
	case e := <-evs:
		if e.Action != "start" || e.ContainerID != "c" {
			t.Errorf("followed %+v, want start of c", e)
		}
	case <-ctx.Done():
		t.Fatal("the follower saw nothing after the rotation")
	}
}
