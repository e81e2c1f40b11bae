package project

// Locate returns the compose file and 1-based line that define the dotted
// key path ("services.web.privileged"), or its deepest defined parent; the
// last file that defines it wins, as later files override earlier ones.
// "" and 0 when no file defines any of it.
func (p *Project) Locate(path string) (file string, line int) {
	le := &LoadError{Path: path}
	locate(le, p.ComposeFiles)
	return le.File, le.Line
}
