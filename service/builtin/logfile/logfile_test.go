package logfile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/state"
)

func TestParseLogTime(t *testing.T) {
	now := time.Now()
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"0", time.Time{}, false},
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.5", time.Unix(1700000000, 5e8), false},
		{"1795591693.123456789", time.Unix(1795591693, 123456789), false},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
	}
	for _, tc := range cases {
		got, err := ParseTime(tc.in)
		if tc.err != (err != nil) || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if got, err := ParseTime("10m"); err != nil || got.Sub(now.Add(-10*time.Minute)).Abs() > time.Second {
		t.Errorf("ParseTime(10m) = %v, %v; want ten minutes ago", got, err)
	}
}

// TestJSONLog writes a log as the shim does and reads it back with the
// options of Logs: streams, tail, timestamps, long lines cut as docker's.
func TestJSONLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	l, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	done := make(chan struct{})
	go func() { l.Copy("stdout", r); close(done) }()
	long := strings.Repeat("x", maxLine+10)
	fmt.Fprintf(w, "one\ntwo\n%s\nlast without newline", long)
	w.Close()
	<-done
	l.write("stderr", []byte("err\n"))

	read := func(opts service.LogOptions) (string, string) {
		var out, errOut strings.Builder
		f, _ := os.Open(path)
		defer f.Close()
		p := &Printer{Opts: opts, Stdout: &out, Stderr: &errOut}
		if opts.Tail != "" {
			var last []Entry
			_ = readEntries(bufio.NewReader(f), func(e Entry) error { last = append(last, e); return nil })
			n := 0
			fmt.Sscan(opts.Tail, &n)
			for _, e := range last[len(last)-n:] {
				_ = p.Print(e)
			}
		} else {
			_ = readEntries(bufio.NewReader(f), p.Print)
		}
		return out.String(), errOut.String()
	}
	out, errOut := read(service.LogOptions{})
	if want := "one\ntwo\n" + long + "\nlast without newline"; out != want || errOut != "err\n" {
		t.Errorf("logs: stdout %q..., stderr %q", out[:min(len(out), 20)], errOut)
	}
	if out, errOut := read(service.LogOptions{Stderr: true}); out != "" || errOut != "err\n" {
		t.Errorf("stderr only: %q, %q", out, errOut)
	}
	if out, _ := read(service.LogOptions{Stdout: true, Timestamps: true}); !strings.HasPrefix(out, time.Now().UTC().Format("2006-01-02T")) || !strings.Contains(out, "Z one\n") {
		t.Errorf("timestamps: %q", out[:min(len(out), 60)])
	}
	// The long line is two entries, the first of maxLine bytes.
	n := 0
	f, _ := os.Open(path)
	_ = readEntries(bufio.NewReader(f), func(e Entry) error {
		if len(e.Log) > maxLine {
			t.Errorf("entry of %d bytes, want at most %d", len(e.Log), maxLine)
		}
		n++
		return nil
	})
	f.Close()
	if n != 6 {
		t.Errorf("%d entries, want 6 (one, two, the long line in two, the last, err)", n)
	}
}

// TestLogRotation writes past max-size with max-file 3: two rotated files
// and the live one, the oldest dropped, and a cursor reads them in order,
// moving to the new live file when the one it follows is rotated away.
func TestLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	l, err := Open(path, map[string]string{"max-size": "1k", "max-file": "3"})
	if err != nil {
		t.Fatal(err)
	}
	follower, err := OpenCursor(path, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	var followed []string
	for i := 0; i < 60; i++ {
		l.write("stdout", []byte(fmt.Sprintf("line %02d\n", i)))
		_ = follower.Read(func(e Entry) error { followed = append(followed, e.Log); return nil })
	}
	for _, p := range []string{path, path + ".1", path + ".2"} {
		if !state.Exists(p) {
			t.Errorf("%s missing", filepath.Base(p))
		}
	}
	if state.Exists(path + ".3") {
		t.Error("more files than max-file")
	}
	if len(followed) != 60 || followed[0] != "line 00\n" || followed[59] != "line 59\n" {
		t.Errorf("followed %d lines across rotations (%q ... ), want all 60", len(followed), followed[:min(2, len(followed))])
	}
	all, err := OpenCursor(path, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	var got []string
	_ = all.Read(func(e Entry) error { got = append(got, e.Log); return nil })
	if len(got) == 0 || got[len(got)-1] != "line 59\n" || !slices.IsSortedFunc(got, strings.Compare) || len(got) >= 60 {
		t.Errorf("read back %d lines (last %q), want the kept ones in order, the oldest dropped", len(got), got[len(got)-1])
	}
	if _, err := Open(path, map[string]string{"max-size": "lots"}); err == nil {
		t.Error("max-size lots: no error")
	}
}
