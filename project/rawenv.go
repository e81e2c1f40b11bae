package project

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// compose-go parses env_file contents through a registry of formats that
// is package state of its own; docker compose registers "raw" there, the
// format of docker run --env-file, and so does berth.
func init() {
	dotenv.RegisterFormat("raw", parseRawEnv)
}

// parseRawEnv reads an env_file of format raw as docker run --env-file
// does: KEY=VALUE lines taken as written (no quotes, no interpolation,
// trailing blanks kept), a bare KEY taken from lookup when it has a value,
// blank lines and # comments skipped, leading blanks dropped. A key with
// blanks, an empty key or invalid UTF-8 is an error naming the line.
func parseRawEnv(r io.Reader, filename string, vars map[string]string, lookup func(string) (string, bool)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if !utf8.Valid(b) {
			return fmt.Errorf("env_file %s:%d: invalid UTF-8", filename, n)
		}
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		switch {
		case key == "":
			return fmt.Errorf("env_file %s:%d: no variable name", filename, n)
		case strings.ContainsAny(key, " \t\n\v\f\r"):
			return fmt.Errorf("env_file %s:%d: variable %q contains blanks", filename, n, key)
		case hasValue:
			vars[key] = value
		case lookup != nil:
			if v, ok := lookup(key); ok {
				vars[key] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("env_file %s: %w", filename, err)
	}
	return nil
}
