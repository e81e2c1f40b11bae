// Package eventlog is the built-in runtime's event log, events.jsonl under
// its root: one JSON Line per event, appended by any berth process or shim
// with one O_APPEND write (Append, which also rotates the file to
// events.jsonl.1 beyond 8 MiB), and read back as the service contract's
// events, from the rotated file on and across rotations (Follow). Which
// events are written, and when, is package builtin's.
package eventlog
