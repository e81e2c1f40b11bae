// Package state holds the built-in runtime's file primitives, on which
// every record under its root is kept: JSON written atomically (WriteJSON:
// a synced temporary file renamed over the old one) and read back
// (ReadJSON), flock-based locks that exclude other processes and other
// goroutines alike (Lock, LockFile), random IDs as engines make them
// (NewID), and Exists. What the records hold and where they live is package
// builtin's.
package state
