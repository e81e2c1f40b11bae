// Package builtin is berth's built-in container runtime, for Linux hosts with
// no container engine. It implements the service contract without a daemon:
// every container is supervised by a detached shim (the berth binary itself,
// started with a hidden subcommand) that creates the container's process in
// new PID, mount, UTS, IPC and network namespaces on an overlayfs root, keeps
// its json-file log, applies its restart policy and healthcheck, and stops it.
// Everything the runtime knows lives as JSON files under one root directory
// (/var/lib/berth, BERTH_ROOT), written atomically under per-object locks, so
// that any berth process can read and change it, and so that a shim that dies
// leaves state the next call repairs.
//
// Layout of the root:
//
//	images/                 the image store (package image)
//	layers/<hex>/           unpacked layers, overlay lower dirs, shared
//	containers/<id>/        container.json, the json-file log, upper/ and work/
//	networks/<id>.json      network records
//	volumes/<name>/         volume.json and _data/
//	events.jsonl            the event log the CLI follows
//	s/<id12>.sock           the shims' control sockets
//
// Networking is loopback-only for now: each container gets its own network
// namespace with lo up (network_mode: host shares the host's).
package builtin
