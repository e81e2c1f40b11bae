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
// Networking: each network is a Linux bridge with its own subnet (10.89.N.0/24
// unless declared) and iptables rules (masquerading out, unless internal); a
// container gets a veth pair per network, its addresses, aliases and MAC, and
// a DNS server on the bridge that answers service names, aliases and links
// (dns_linux.go). Published ports are forwarded by the shim (ports.go).
// network_mode host, none and container:/service: share or skip this.
//
// Where things are, by seam:
//
//   - process supervision: shim.go (the shim), start_linux.go and
//     init_linux.go (namespaces, overlayfs root, the container's init),
//     reaper_linux.go, pty_linux.go, exec.go (exec, healthchecks);
//   - confinement: confine_linux.go, caps.go, seccomp/, cgroup/, user.go;
//   - networking: net_linux.go (bridges, veths, iptables), dns_linux.go,
//     ports.go;
//   - state and records: store.go (the root, locks, atomic writes, the
//     .new-/.gone- sweeps), record.go, objects.go (networks, volumes),
//     containers.go, events.go, logs.go, stats.go;
//   - images and builds: images.go, image/, layer/, archive/, build.go,
//     build/.
package builtin
