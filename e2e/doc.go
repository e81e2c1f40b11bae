// Package e2e holds the end-to-end tests that drive the real berth binary against a real engine.
//
// The binary comes from BERTH_BIN (make e2e sets it), or is built once per
// run. Tests that need a Docker engine call requireEngine: without one they
// skip, except under CI=true, where a missing engine fails the run. The engine
// tests use a busybox image made locally from Debian's busybox-static, since
// no registry is reachable; see busyboxImage.
package e2e
