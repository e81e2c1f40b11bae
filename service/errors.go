package service

import "errors"

// Sentinel errors of the contract. Backends wrap them with the name of the
// object concerned ("container \"web-1\": %w"), so callers test them with
// errors.Is and print the wrapped message.
var (
	// ErrNotFound: the object named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an object with that name already exists, or the object is
	// in a state that forbids the operation (a running container removed
	// without force, a network that still has endpoints).
	ErrConflict = errors.New("conflict")
	// ErrUnsupported: the backend cannot do what was asked.
	ErrUnsupported = errors.New("unsupported")
)
