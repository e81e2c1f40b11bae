// Package logfile is a container's json-file log as docker's json-file
// driver keeps it: one JSON Entry per line (a line longer than 16 KiB cut in parts), written by the
// container's shim (Writer, rotating by max-size and max-file), read back
// across rotations (Cursor) and printed as docker logs prints it (Printer,
// ParseTime for --since and --until). Where the log lives and when it is
// followed is package builtin's.
package logfile
