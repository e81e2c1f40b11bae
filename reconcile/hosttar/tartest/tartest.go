// Package tartest reads tar streams for tests: the one helper the tests of
// hosttar, dockercp, images and cmd/cli share to check what a copy or a
// build context holds.
package tartest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Entry is one entry of a tar stream: its header and its content.
type Entry struct {
	Header tar.Header
	Data   string
}

// Read reads every entry of the tar stream r, failing the test on a stream
// that is not a tar.
func Read(t testing.TB, r io.Reader) []Entry {
	t.Helper()
	es, err := Entries(r)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// Entries reads every entry of the tar stream r.
func Entries(r io.Reader) ([]Entry, error) {
	var out []Entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("reading a tar stream: %w", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return out, fmt.Errorf("reading %s in a tar stream: %w", h.Name, err)
		}
		out = append(out, Entry{Header: *h, Data: string(b)})
	}
}

// Names returns the entries' names, in order.
func Names(es []Entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Header.Name)
	}
	return out
}

// Listing lists the entries on one line, space-separated: each name, with
// " -> target" for a symbolic link and "=content" for a regular file.
func Listing(es []Entry) string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		s := e.Header.Name
		switch e.Header.Typeflag {
		case tar.TypeSymlink:
			s += " -> " + e.Header.Linkname
		case tar.TypeReg:
			s += "=" + e.Data
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}
