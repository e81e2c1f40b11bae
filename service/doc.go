// Package service is the contract a container runtime fulfils for berth: the
// object vocabulary (containers, networks, volumes and their labels), the
// sentinel errors every backend translates its own errors into, and the
// Backend interface that reconcile drives.
//
// It imports only the standard library, so that project, reconcile and every
// backend (service/engine for the Docker Engine API, service/builtin for the
// built-in runtime) can share it without pulling in each other's dependencies.
package service
