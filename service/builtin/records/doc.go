// Package records holds what the built-in runtime keeps about each
// container: the record (Container, with its Process, network Attachments
// and RunState) written as containers/<id>/container.json under the
// runtime's root, and the functions that list, load and change it under
// the container's lock (IDs, Load, Update). The CLI and the container's
// shim both change a record, always through Update. Files are kept with
// package state's primitives; what a record means to a running container
// (starting, repairing after a dead shim) is package builtin's.
package records
