package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// write writes val to the existing file dir/file (cgroup files are never
// created: a missing one is an error the callers may test with
// fs.ErrNotExist).
func (c *Cgroup) write(dir, file, val string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(val)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: write %s: %w", c.name, p, unwrapPath(err))
	}
	return nil
}

// read returns the content of dir/file without surrounding space.
func (c *Cgroup) read(dir, file string) (string, error) {
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("cgroup %s: read %s: %w", c.name, p, unwrapPath(err))
	}
	return strings.TrimSpace(string(b)), nil
}

// keyed returns the value of key in the "key value" lines of dir/file, 0
// when the key is absent.
func (c *Cgroup) keyed(dir, file, key string) (int64, error) {
	s, err := c.read(dir, file)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(s) {
		if k, v, _ := strings.Cut(strings.TrimSpace(line), " "); k == key {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cgroup %s: %s/%s: %w", c.name, dir, file, err)
			}
			return n, nil
		}
	}
	return 0, nil
}

// mkdir makes dir, which may exist.
func (c *Cgroup) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cgroup %s: mkdir %s: %w", c.name, dir, unwrapPath(err))
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// unwrapPath drops the *fs.PathError around err, whose path the caller's
// message already has.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
