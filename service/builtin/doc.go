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
//	containers/<id>/        container.json (package records), the json-file log (package logfile), upper/ and work/
//	networks/<id>.json      network records
//	volumes/<name>/         volume.json and _data/
//	events.jsonl            the event log the CLI follows (package eventlog)
//	s/<id12>.sock           the shims' control sockets
//
// Networking: each network is a Linux bridge with its own subnet (10.89.N.0/24
// unless declared) and iptables rules (masquerading out, unless internal); a
// container gets a veth pair per network, its addresses, aliases and MAC, and
// a DNS server on the bridge that answers service names, aliases and links.
// Published ports are forwarded by a userspace proxy in the shim. All of
// that is package network; network_mode host, none and container:/service:
// share or skip it.
//
// Where things are, by seam (the subpackages import only what
// cmd/cli's TestBuiltinSeams allows; this package wires them):
//
//   - the Backend and its state, here: backend.go, record.go (finding a
//     container by name or prefix, repairing after a dead shim),
//     containers.go and objects.go (containers; networks, volumes; each
//     with the sweep of what a killed berth left half made), events.go
//     (which events, when), logs.go (logs, attach: which log, how long to
//     follow), stats.go, config.go (spec → init config); records/ (the
//     container record and its load, list and locked update); eventlog/
//     (events.jsonl: append, rotate, follow); logfile/ (the json-file
//     log: write, rotate, read across rotations, print); state/ (atomic
//     JSON files, locks, IDs: what every record is kept with);
//   - process supervision, here: shim.go (the shim, Dispatch of the hidden
//     subcommands), start_linux.go (namespaces, starting the init),
//     exec.go (exec, healthchecks); proc/ (what runs in or next to the
//     container: the init with its overlayfs root and mounts, the exec
//     helper that enters a running container, the reaper of init: true,
//     terminals, the init and exec configurations);
//   - networking: net_linux.go (records → network's values, address
//     allocation), dns_linux.go (the DNS server's process); network/
//     (bridges, iptables, veths, the DNS server, the port proxy);
//   - confinement: confine/ (capabilities, user and groups, Apply),
//     seccomp/, cgroup/;
//   - images and builds: images.go, build.go, commit_linux.go,
//     copy_linux.go; image/ (the store, pull, push, load), layer/ (safe
//     unpacking), archive/ (docker cp's tar rules), build/ (Dockerfiles).
package builtin
