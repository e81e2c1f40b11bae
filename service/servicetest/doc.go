// Package servicetest holds what tests of service.Backend implementations and
// of their consumers share: a conformance suite and an in-memory backend.
//
// Run is the conformance suite. Every backend's tests call it with a
// constructor, an image and a name prefix; it checks, one subtest per
// behaviour, the promises written on service.Backend and on the optional
// interfaces the backend implements (those it does not are skipped):
// ErrNotFound and ErrConflict where the contract names them, idempotent start
// and stop, label filters, exit codes, network attachments, volumes in use,
// events, logs, files copied in and back out, processes, images built (and
// built again from the cache) and removed. Every object it
// creates carries the configured prefix and the com.docker.compose.project
// label set to it, and is removed when its subtest ends, so the suite can
// run against an engine that holds other work.
//
// Fake is an in-memory service.Backend for reconcile's unit tests. It runs
// no processes: containers stay running until they are stopped or killed or
// the test calls Fake.Exit, and their output and health are what the test
// sets with Fake.Log and Fake.SetHealth. It keeps the contract's promises
// (the same suite runs against it, with Config.Simulated), records the
// mutating calls made to it (Fake.Calls) and fails the calls a test chooses
// (Fake.Fail, Fake.FailOnce).
//
// BusyboxRootfs, StartRegistry and Unavailable are what the backends' own
// conformance tests (service/engine, service/builtin) and the e2e harness
// set up alike: the test image's root file system from Debian's
// busybox-static, a registry on 127.0.0.1, and a skip that fails under
// CI=true.
//
// The package imports only the standard library and service, so any test
// may use it.
package servicetest
